//! Labels: the list with host counts; Add label > Dynamic or Manual.

use super::{
    csrf_field, errors_by_field, field_error, page, redirect, Form, PageError, PageResult, Viewer,
};
use crate::error::PathParam;
use crate::service::labels::{self, LabelChange, Members, NewLabel};
use crate::service::ServiceError;
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flotilla_core::access::Scope;
use flotilla_core::LabelId;
use flotilla_store::{LabelMembership, LabelRecord, LabelType};
use maud::html;
use std::collections::HashMap;

pub async fn list(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    render_list(&state, &viewer, &HashMap::new()).await
}

/// The labels page; `problems` by label id (a delete that was refused).
async fn render_list(
    state: &AppState,
    viewer: &Viewer,
    problems: &HashMap<String, String>,
) -> PageResult {
    let labels = labels::list(state, &viewer.caller()).await?;
    let writable = viewer.can_write(Scope::Global);
    let content = html! {
        h1 { "Labels" }
        @if writable {
            p { a.button href="/labels/new?type=dynamic" { "Add label" } " " a href="/labels/new?type=manual" { "Add a manual label" } }
        }
        table {
            thead { tr { th { "Label" } th { "Type" } th { "Platform" } th { "Hosts" } th { "Query" } th { "" } } }
            tbody {
                @for l in &labels {
                    tr {
                        td { strong { (l.name) } br; span.unknown { (l.description) } }
                        td { (match (l.label_type, l.membership) { (LabelType::Builtin, _) => "Built-in", (_, LabelMembership::Dynamic) => "Dynamic", (_, LabelMembership::Manual) => "Manual" }) }
                        td { (if l.platform.is_all() { "All".to_string() } else { l.platform.to_list_string() }) }
                        td { a href=(format!("/hosts?label_id={}", l.id.0)) { (l.host_count) } }
                        td { code { (l.query) } }
                        td {
                            @if writable && l.label_type != LabelType::Builtin {
                                a href=(format!("/labels/{}/edit", l.id.0)) { "Edit" } " "
                                form.inline-form method="post" action=(format!("/labels/{}/delete", l.id.0)) {
                                    (csrf_field(viewer))
                                    button.danger type="submit" { "Delete" }
                                }
                                (field_error(problems, &l.id.0.to_string()))
                            }
                        }
                    }
                }
            }
        }
    };
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    Ok((status, page(viewer, "Labels", "/labels", content)).into_response())
}

async fn editable(state: &AppState, viewer: &Viewer, id: i64) -> Result<LabelRecord, PageError> {
    Ok(labels::editable(state, &viewer.caller(), LabelId(id)).await?)
}

/// A refused change, shown next to its field; anything else is an error page.
fn field_problems(field: &str, err: ServiceError) -> Result<HashMap<String, String>, PageError> {
    match err {
        ServiceError::Invalid(errors) => Ok(errors_by_field(&errors)),
        ServiceError::Conflict(reason) => Ok(HashMap::from([(field.to_string(), reason)])),
        other => Err(other.into()),
    }
}

/// The host identifiers of a manual label's textarea, one per line.
fn host_lines(form: &Form) -> Vec<String> {
    form.get("hosts")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn edit_form(
    viewer: &Viewer,
    label: &LabelRecord,
    form: &Form,
    errors: &HashMap<String, String>,
) -> maud::Markup {
    let value = |name: &str, stored: &str| {
        if form.0.contains_key(name) {
            form.get(name).to_string()
        } else {
            stored.to_string()
        }
    };
    html! {
        h1 { "Edit label" }
        form method="post" action=(format!("/labels/{}/edit", label.id.0)) {
            (csrf_field(viewer))
            label for="name" { "Name" }
            input #name type="text" name="name" value=(value("name", &label.name)) required;
            (field_error(errors, "name"))
            label for="description" { "Description" }
            input #description type="text" name="description" value=(value("description", &label.description));
            @if label.membership == LabelMembership::Dynamic {
                p { "Query (a label's query and platform can't change; add a new label instead):" }
                pre { code { (label.query) } }
            } @else {
                label for="hosts" { "Hosts (hostname or serial, one per line)" }
                textarea #hosts name="hosts" { (form.get("hosts")) }
                (field_error(errors, "hosts"))
            }
            p { button type="submit" { "Save" } }
        }
    }
}

pub async fn edit_page(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParam(id): PathParam<i64>,
) -> PageResult {
    let label = editable(&state, &viewer, id).await?;
    let mut form = Form(HashMap::new());
    if label.membership == LabelMembership::Manual {
        let names = labels::member_names(&state, &viewer.caller(), label.id).await?;
        form.0.insert("hosts".into(), names.join("\n"));
    }
    Ok(page(
        &viewer,
        "Edit label",
        "/labels",
        edit_form(&viewer, &label, &form, &HashMap::new()),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParam(id): PathParam<i64>,
    form: Form,
) -> PageResult {
    viewer.check_csrf(&form)?;
    let label = editable(&state, &viewer, id).await?;
    let fail = |errors: HashMap<String, String>| {
        let body = page(
            &viewer,
            "Edit label",
            "/labels",
            edit_form(&viewer, &label, &form, &errors),
        );
        Ok((StatusCode::UNPROCESSABLE_ENTITY, body).into_response())
    };
    let change = LabelChange {
        name: Some(form.get("name").to_string()),
        description: Some(form.get("description").to_string()),
        members: (label.membership == LabelMembership::Manual).then(|| Members {
            identifiers: host_lines(&form),
            ..Members::default()
        }),
    };
    match labels::modify(&state, &viewer.caller(), label.id, change).await {
        Ok(_) => Ok(redirect("/labels")),
        Err(err) => fail(field_problems("name", err)?),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParam(id): PathParam<i64>,
    form: Form,
) -> PageResult {
    viewer.check_csrf(&form)?;
    match labels::delete(&state, &viewer.caller(), LabelId(id)).await {
        Ok(()) => Ok(redirect("/labels")),
        Err(ServiceError::Invalid(errors)) => {
            let problems = HashMap::from([(id.to_string(), errors.reasons())]);
            render_list(&state, &viewer, &problems).await
        }
        Err(err) => Err(err.into()),
    }
}

fn label_form(
    viewer: &Viewer,
    manual: bool,
    form: &Form,
    errors: &HashMap<String, String>,
) -> maud::Markup {
    html! {
        h1 { (if manual { "Add manual label" } else { "Add dynamic label" }) }
        p { a href=(if manual { "/labels/new?type=dynamic" } else { "/labels/new?type=manual" }) { (if manual { "Dynamic instead" } else { "Manual instead" }) } }
        @if let Some(base) = errors.get("base") { p.error role="alert" { (base) } }
        form method="post" action="/labels/new" {
            (csrf_field(viewer))
            input type="hidden" name="type" value=(if manual { "manual" } else { "dynamic" });
            label for="name" { "Name" }
            input #name type="text" name="name" value=(form.get("name")) required;
            (field_error(errors, "name"))
            label for="description" { "Description" }
            input #description type="text" name="description" value=(form.get("description"));
            @if manual {
                label for="hosts" { "Hosts (hostname or serial, one per line)" }
                textarea #hosts name="hosts" { (form.get("hosts")) }
                (field_error(errors, "hosts"))
            } @else {
                label for="query" { "Query" }
                textarea #query name="query" required { (form.get("query")) }
                (field_error(errors, "query"))
                label for="platform" { "Platform" }
                select #platform name="platform" {
                    option value="" { "All platforms" }
                    @for (value, name) in [("darwin", "macOS"), ("windows", "Windows"), ("linux", "Linux"), ("chrome", "ChromeOS")] {
                        option value=(value) selected[form.get("platform") == value] { (name) }
                    }
                }
                (field_error(errors, "platform"))
            }
            p { button type="submit" { "Save" } }
        }
    }
}

pub async fn new_page(viewer: Viewer, Query(q): Query<HashMap<String, String>>) -> PageResult {
    let manual = q.get("type").is_some_and(|t| t == "manual");
    Ok(page(
        &viewer,
        "Add label",
        "/labels",
        label_form(&viewer, manual, &Form(HashMap::new()), &HashMap::new()),
    ))
}

pub async fn create(State(state): State<AppState>, viewer: Viewer, form: Form) -> PageResult {
    viewer.check_csrf(&form)?;
    let manual = form.get("type") == "manual";
    let fail = |errors: HashMap<String, String>| {
        let body = page(
            &viewer,
            "Add label",
            "/labels",
            label_form(&viewer, manual, &form, &errors),
        );
        Ok((StatusCode::UNPROCESSABLE_ENTITY, body).into_response())
    };
    let new = NewLabel {
        name: form.get("name").to_string(),
        description: form.get("description").to_string(),
        query: form.get("query").to_string(),
        platform: form.get("platform").to_string(),
        membership: if manual {
            LabelMembership::Manual
        } else {
            LabelMembership::Dynamic
        },
        members: Members {
            identifiers: host_lines(&form),
            ..Members::default()
        },
    };
    match labels::create(&state, &viewer.caller(), new).await {
        Ok(_) => Ok(redirect("/labels")),
        Err(ServiceError::Forbidden(reason)) => {
            fail(HashMap::from([("base".to_string(), reason.to_string())]))
        }
        Err(err) => fail(field_problems("name", err)?),
    }
}
