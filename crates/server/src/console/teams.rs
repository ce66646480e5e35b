//! Teams: create, rename, delete; enroll secrets shown, copied, rotated.

use super::{csrf_field, field_error, page, redirect, Form, PageError, PageResult, Viewer};
use crate::error::PathParam;
use crate::service::teams::{self, TeamChange};
use crate::service::ServiceError;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flotilla_core::TeamId;
use maud::html;
use std::collections::HashMap;

pub async fn list(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    render(&state, &viewer, &HashMap::new()).await
}

/// The teams page; `errors` by field (`name` for the new team's, `name-<id>` for a rename).
async fn render(state: &AppState, viewer: &Viewer, errors: &HashMap<String, String>) -> PageResult {
    let caller = viewer.caller();
    let admin = viewer.principal.is_global_admin();
    let global_secrets = if admin {
        teams::secrets(state, &caller, None).await?
    } else {
        Vec::new()
    };
    let rows: Vec<_> = teams::list(state, &caller)
        .await?
        .into_iter()
        .map(|view| (view.team, view.secrets))
        .collect();
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

/// A refused name, shown next to its field; anything else is an error page.
fn name_problem(field: String, err: ServiceError) -> Result<HashMap<String, String>, PageError> {
    match err {
        ServiceError::Invalid(errors) => Ok(HashMap::from([(field, errors.reasons())])),
        ServiceError::Conflict(reason) => Ok(HashMap::from([(field, reason)])),
        other => Err(other.into()),
    }
}

pub async fn create(State(state): State<AppState>, viewer: Viewer, form: Form) -> PageResult {
    viewer.check_csrf(&form)?;
    match teams::create(&state, &viewer.caller(), form.get("name"), "").await {
        Ok(_) => Ok(redirect("/teams")),
        Err(err) => render(&state, &viewer, &name_problem("name".into(), err)?).await,
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
    let change = TeamChange {
        name: Some(form.get("name").to_string()),
        ..TeamChange::default()
    };
    match teams::modify(&state, &viewer.caller(), id, change).await {
        Ok(_) => Ok(redirect("/teams")),
        Err(err) => {
            let errors = name_problem(format!("name-{}", id.0), err)?;
            render(&state, &viewer, &errors).await
        }
    }
}

pub async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParam(id): PathParam<i64>,
    form: Form,
) -> PageResult {
    viewer.check_csrf(&form)?;
    teams::delete(&state, &viewer.caller(), TeamId(id)).await?;
    Ok(redirect("/teams"))
}

pub async fn rotate_secret(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParam(id): PathParam<i64>,
    form: Form,
) -> PageResult {
    viewer.check_csrf(&form)?;
    teams::rotate_secret(&state, &viewer.caller(), TeamId(id)).await?;
    Ok(redirect("/teams"))
}
