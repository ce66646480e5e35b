//! Teams: create, rename, delete; enroll secrets shown, copied, rotated.

use super::{
    csrf_field, field_error, page, redirect, visible_teams, Form, PageError, PageResult, Viewer,
};
use crate::error::PathParam;
use crate::secrets::random_token;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flotilla_core::TeamId;
use flotilla_store::StoreError;
use maud::html;
use serde_json::json;
use std::collections::HashMap;

pub async fn list(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    render(&state, &viewer, &HashMap::new()).await
}

/// The teams page; `errors` by field (`name` for the new team's, `name-<id>` for a rename).
async fn render(state: &AppState, viewer: &Viewer, errors: &HashMap<String, String>) -> PageResult {
    let teams = visible_teams(state, viewer).await?;
    let admin = viewer.principal.is_global_admin();
    let global_secrets = if admin {
        state.store.enroll_secrets(None).await?
    } else {
        Vec::new()
    };
    let mut rows = Vec::new();
    for team in &teams {
        let secrets = if viewer.principal.can_administer_team(team.id) {
            state.store.enroll_secrets(Some(team.id)).await?
        } else {
            Vec::new()
        };
        rows.push((team, secrets));
    }
    let content = html! {
        h1 { "Teams" }
        @if admin {
            form.toolbar method="post" action="/teams" {
                (csrf_field(viewer))
                div { label for="name" { "New team name" } input #name type="text" name="name" required; (field_error(errors, "name")) }
                button type="submit" { "Create team" }
            }
        }
        @if rows.is_empty() {
            p.empty { "No teams yet. Hosts enrolled with the global secret go to \"No team\"." }
        } @else {
            table {
                thead { tr { th { "Team" } th { "Hosts" } th { "Enroll secret" } th { "" } } }
                tbody {
                    @for (team, secrets) in &rows {
                        tr {
                            td {
                                strong { (team.name) }
                                @if viewer.principal.can_administer_team(team.id) {
                                    form.inline-form method="post" action=(format!("/teams/{}/rename", team.id.0)) {
                                        (csrf_field(viewer))
                                        label.inline for=(format!("name-{}", team.id.0)) { span hidden { "Name" } }
                                        input id=(format!("name-{}", team.id.0)) type="text" name="name" value=(team.name) aria-label="Team name";
                                        button.secondary type="submit" { "Rename" }
                                        (field_error(errors, &format!("name-{}", team.id.0)))
                                    }
                                }
                            }
                            td { a href=(format!("/hosts?team_id={}", team.id.0)) { (team.host_count) } }
                            td {
                                @for s in secrets {
                                    code.secret { (s.secret) } " "
                                    button.secondary type="button" data-copy=(s.secret) { "Copy" }
                                    br;
                                }
                                @if viewer.principal.can_administer_team(team.id) {
                                    form.inline-form method="post" action=(format!("/teams/{}/secrets/rotate", team.id.0)) {
                                        (csrf_field(viewer))
                                        button.secondary type="submit" { "Rotate" }
                                    }
                                }
                            }
                            td {
                                @if admin {
                                    form.inline-form method="post" action=(format!("/teams/{}/delete", team.id.0)) {
                                        (csrf_field(viewer))
                                        button.danger type="submit" { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if admin {
            h2 { "Global enroll secret (\"No team\")" }
            @for s in &global_secrets { p { code.secret { (s.secret) } " " button.secondary type="button" data-copy=(s.secret) { "Copy" } } }
            @if global_secrets.is_empty() { p { "None: hosts can only enroll into a team." } }
        }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, page(viewer, "Teams", "/teams", content)).into_response())
}

fn team_name(form: &Form) -> Result<String, String> {
    let name = form.get("name").trim();
    if name.is_empty() {
        return Err("The team needs a name.".into());
    }
    if name.eq_ignore_ascii_case("no team") || name.eq_ignore_ascii_case("all teams") {
        return Err(format!("\"{name}\" is reserved."));
    }
    Ok(name.to_string())
}

pub async fn create(State(state): State<AppState>, viewer: Viewer, form: Form) -> PageResult {
    viewer.check_csrf(&form)?;
    if !viewer.principal.is_global_admin() {
        return Err(PageError::Forbidden(
            "Only global admins create teams.".into(),
        ));
    }
    let name = match team_name(&form) {
        Ok(name) => name,
        Err(reason) => {
            return render(
                &state,
                &viewer,
                &HashMap::from([("name".to_string(), reason)]),
            )
            .await
        }
    };
    let activity = viewer.activity("created_team", json!({ "team_name": name }));
    match state
        .store
        .create_team(&name, "", &json!({}), &random_token(24), activity)
        .await
    {
        Ok(_) => Ok(redirect("/teams")),
        Err(StoreError::Conflict(reason)) => {
            render(
                &state,
                &viewer,
                &HashMap::from([("name".to_string(), reason)]),
            )
            .await
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn rename(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParam(id): PathParam<i64>,
    form: Form,
) -> PageResult {
    viewer.check_csrf(&form)?;
    let id = TeamId(id);
    if !viewer.principal.can_administer_team(id) {
        return Err(PageError::Forbidden(
            "Your role doesn't allow renaming this team.".into(),
        ));
    }
    let field = format!("name-{}", id.0);
    let name = match team_name(&form) {
        Ok(name) => name,
        Err(reason) => return render(&state, &viewer, &HashMap::from([(field, reason)])).await,
    };
    let team = state.store.team(id).await?;
    let activity = viewer.activity("edited_team", json!({ "team_id": id.0, "team_name": name }));
    match state
        .store
        .update_team(id, &name, &team.description, &team.document, Some(activity))
        .await
    {
        Ok(_) => Ok(redirect("/teams")),
        Err(StoreError::Conflict(reason)) => {
            render(&state, &viewer, &HashMap::from([(field, reason)])).await
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParam(id): PathParam<i64>,
    form: Form,
) -> PageResult {
    viewer.check_csrf(&form)?;
    if !viewer.principal.is_global_admin() {
        return Err(PageError::Forbidden(
            "Only global admins delete teams.".into(),
        ));
    }
    let team = state.store.team(TeamId(id)).await?;
    let activity = viewer.activity(
        "deleted_team",
        json!({ "team_id": id, "team_name": team.name }),
    );
    state.store.delete_team(team.id, activity).await?;
    crate::conditional_access::reevaluate_all(&state);
    Ok(redirect("/teams"))
}

pub async fn rotate_secret(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParam(id): PathParam<i64>,
    form: Form,
) -> PageResult {
    viewer.check_csrf(&form)?;
    let id = TeamId(id);
    if !viewer.principal.can_administer_team(id) {
        return Err(PageError::Forbidden(
            "Your role doesn't allow changing this team's secrets.".into(),
        ));
    }
    let activity = viewer.activity("edited_enroll_secrets", json!({ "team_id": id.0 }));
    state
        .store
        .replace_enroll_secrets(Some(id), &[random_token(24)], activity)
        .await?;
    Ok(redirect("/teams"))
}
