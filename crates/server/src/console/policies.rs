//! Policies per team (picker: All teams, No team, each team): the list with
//! passing / failing counts, add, edit, delete, and Automations >
//! Conditional access (turn it on for the team and tick the policies that count).

use super::{
    csrf_field, errors_by_field, field_error, page, redirect, team_picker, visible_teams, Form,
    PageError, PageResult, TeamChoice, Viewer,
};
use crate::error::PathParam;
use crate::service::conditional_access::{self as ca, Automation};
use crate::service::policies::{self, empty_spec, spec_of};
use crate::service::ServiceError;
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flotilla_core::PolicyId;
use flotilla_store::{PolicyRecord, PolicySpec};
use maud::html;
use std::collections::HashMap;

fn choice(q: &HashMap<String, String>) -> TeamChoice {
    TeamChoice::parse(q.get("team_id").map(String::as_str))
}

fn back_to(choice: TeamChoice) -> String {
    format!("/policies?team_id={}", choice.param())
}

pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let choice = choice(&q);
    let scope = choice.scope();
    let policies = policies::list(&state, &viewer.caller(), scope).await?;
    let teams = visible_teams(&state, &viewer).await?;
    let writable = viewer.can_write(scope);
    let content = html! {
        h1 { "Policies" }
        div.toolbar {
            (team_picker("/policies", &teams, choice, true))
            @if writable {
                a.button href=(format!("/policies/new?team_id={}", choice.param())) { "Add policy" }
                @if choice != TeamChoice::All {
                    a.button href=(format!("/policies/automations/conditional-access?team_id={}", choice.param())) { "Automations: Conditional access" }
                }
            }
        }
        @if policies.is_empty() {
            p.empty { "No policies here yet." @if writable { " " a href=(format!("/policies/new?team_id={}", choice.param())) { "Add the first one" } "." } }
        } @else {
            table {
                thead { tr { th { "Policy" } th { "Platform" } th { "Passing" } th { "Failing" } th { "Conditional access" } th { "" } } }
                tbody {
                    @for p in &policies {
                        tr {
                            td { strong { (p.name) } br; span.unknown { (p.description) } }
                            td { (if p.platform.is_all() { "All".to_string() } else { p.platform.to_list_string() }) }
                            td { a href=(format!("/hosts?policy_id={}&policy_response=passing", p.id.0)) { (p.passing_host_count) } }
                            td { a.fail href=(format!("/hosts?policy_id={}&policy_response=failing", p.id.0)) { (p.failing_host_count) } }
                            td { (if p.conditional_access_enabled { "Counts" } else { "—" }) }
                            td {
                                @if writable {
                                    a href=(format!("/policies/{}/edit?team_id={}", p.id.0, choice.param())) { "Edit" } " "
                                    form.inline-form method="post" action=(format!("/policies/{}/delete?team_id={}", p.id.0, choice.param())) {
                                        (csrf_field(&viewer))
                                        button.danger type="submit" { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&viewer, "Policies", "/policies", content))
}

fn policy_form(
    viewer: &Viewer,
    action: &str,
    spec: &PolicySpec,
    errors: &HashMap<String, String>,
) -> maud::Markup {
    html! {
        @if let Some(base) = errors.get("base") { p.error role="alert" { (base) } }
        form method="post" action=(action) {
            (csrf_field(viewer))
            label for="name" { "Name" }
            input #name type="text" name="name" value=(spec.name) required;
            (field_error(errors, "name"))
            label for="query" { "Query (passes when it returns rows)" }
            textarea #query name="query" required { (spec.query) }
            (field_error(errors, "query"))
            label for="description" { "Description" }
            input #description type="text" name="description" value=(spec.description);
            label for="resolution" { "Resolution (shown to the end user when it fails)" }
            textarea #resolution name="resolution" { (spec.resolution) }
            label for="platform" { "Platforms (comma-separated; empty for all)" }
            input #platform type="text" name="platform" value=(spec.platform) placeholder="darwin";
            (field_error(errors, "platform"))
            p {
                input #critical type="checkbox" name="critical" checked[spec.critical];
                " " label.inline for="critical" { "Critical" }
            }
            (field_error(errors, "conditional_access_enabled"))
            p { button type="submit" { "Save" } }
        }
    }
}

fn spec_from_form(form: &Form, base: PolicySpec) -> PolicySpec {
    PolicySpec {
        name: form.get("name").trim().to_string(),
        query: form.get("query").to_string(),
        description: form.get("description").to_string(),
        resolution: form.get("resolution").to_string(),
        platform: form.get("platform").trim().to_string(),
        critical: form.checked("critical"),
        ..base
    }
}

fn invalid_page(
    viewer: &Viewer,
    title: &str,
    action: &str,
    spec: &PolicySpec,
    err: ServiceError,
) -> PageResult {
    let errors = match err {
        ServiceError::Invalid(errors) => errors_by_field(&errors),
        ServiceError::Conflict(message) => HashMap::from([("name".to_string(), message)]),
        other => return Err(other.into()),
    };
    let body = page(
        viewer,
        title,
        "/policies",
        html! { h1 { (title) } (policy_form(viewer, action, spec, &errors)) },
    );
    Ok((StatusCode::UNPROCESSABLE_ENTITY, body).into_response())
}

pub async fn new_page(viewer: Viewer, Query(q): Query<HashMap<String, String>>) -> PageResult {
    let choice = choice(&q);
    let action = format!("/policies/new?team_id={}", choice.param());
    let mut spec = empty_spec();
    spec.platform = "darwin".into();
    Ok(page(
        &viewer,
        "Add policy",
        "/policies",
        html! { h1 { "Add policy" } (policy_form(&viewer, &action, &spec, &HashMap::new())) },
    ))
}

pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
    form: Form,
) -> PageResult {
    viewer.check_csrf(&form)?;
    let choice = choice(&q);
    let action = format!("/policies/new?team_id={}", choice.param());
    let spec = spec_from_form(&form, empty_spec());
    match policies::create(&state, &viewer.caller(), choice.scope(), spec.clone()).await {
        Ok(_) => Ok(redirect(&back_to(choice))),
        Err(err) => invalid_page(&viewer, "Add policy", &action, &spec, err),
    }
}

async fn editable(state: &AppState, viewer: &Viewer, id: i64) -> Result<PolicyRecord, PageError> {
    let policy = policies::get(state, &viewer.caller(), None, PolicyId(id)).await?;
    if !viewer.can_write(policy.scope) {
        return Err(PageError::Forbidden(
            "Your role doesn't allow changing this policy.".into(),
        ));
    }
    Ok(policy)
}

pub async fn edit_page(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParam(id): PathParam<i64>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let policy = editable(&state, &viewer, id).await?;
    let action = format!("/policies/{id}/edit?team_id={}", choice(&q).param());
    Ok(page(
        &viewer,
        "Edit policy",
        "/policies",
        html! { h1 { "Edit policy" } (policy_form(&viewer, &action, &spec_of(&policy), &HashMap::new())) },
    ))
}

pub async fn update(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParam(id): PathParam<i64>,
    Query(q): Query<HashMap<String, String>>,
    form: Form,
) -> PageResult {
    viewer.check_csrf(&form)?;
    let policy = editable(&state, &viewer, id).await?;
    let action = format!("/policies/{id}/edit?team_id={}", choice(&q).param());
    let spec = spec_from_form(&form, spec_of(&policy));
    let submitted = spec.clone();
    match policies::modify(&state, &viewer.caller(), None, policy.id, move |_| {
        submitted
    })
    .await
    {
        Ok(_) => Ok(redirect(&back_to(choice(&q)))),
        Err(err) => invalid_page(&viewer, "Edit policy", &action, &spec, err),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParam(id): PathParam<i64>,
    Query(q): Query<HashMap<String, String>>,
    form: Form,
) -> PageResult {
    viewer.check_csrf(&form)?;
    let policy = editable(&state, &viewer, id).await?;
    policies::delete(&state, &viewer.caller(), policy.scope, &[policy.id]).await?;
    Ok(redirect(&back_to(choice(&q))))
}

pub async fn automation_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let choice = choice(&q);
    if choice == TeamChoice::All {
        return Ok(redirect("/policies"));
    }
    let Automation {
        enabled,
        policies,
        integration,
    } = ca::automation(&state, &viewer.caller(), choice.scope()).await?;
    let content = html! {
        h1 { "Automations: Conditional access" }
        @if integration.is_none() {
            p.notice { "Microsoft Entra isn't connected yet: " a href="/settings/integrations/conditional-access" { "connect it in Settings" } ". You can choose the policies now." }
        }
        form method="post" action=(format!("/policies/automations/conditional-access?team_id={}", choice.param())) {
            (csrf_field(&viewer))
            p {
                input #enabled type="checkbox" name="enabled" checked[enabled];
                " " label.inline for="enabled" { "Enable conditional access for this team" }
            }
            p { "Hosts that fail any ticked policy are reported to Microsoft Entra as not compliant, and conditional access blocks them." }
            fieldset {
                legend { "Policies that count" }
                @if policies.is_empty() { p { "This team has no policies yet." } }
                @for p in &policies {
                    p {
                        input id=(format!("policy-{}", p.id.0)) type="checkbox" name="policy_ids" value=(p.id.0) checked[p.conditional_access_enabled];
                        " " label.inline for=(format!("policy-{}", p.id.0)) { (p.name) }
                    }
                }
            }
            p { button type="submit" { "Save" } }
        }
    };
    Ok(page(
        &viewer,
        "Conditional access automation",
        "/policies",
        content,
    ))
}

pub async fn save_automation(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
    form: Form,
) -> PageResult {
    viewer.check_csrf(&form)?;
    let choice = choice(&q);
    let scope = choice.scope();
    if choice == TeamChoice::All {
        return Err(PageError::Forbidden(
            "Automations are set per team or for \"No team\".".into(),
        ));
    }
    let ticked: Vec<PolicyId> = form
        .get("policy_ids")
        .lines()
        .filter_map(|v| v.trim().parse().ok())
        .map(PolicyId)
        .collect();
    ca::set_automation(
        &state,
        &viewer.caller(),
        scope,
        form.checked("enabled"),
        &ticked,
    )
    .await?;
    Ok(redirect(&back_to(choice)))
}
