//! Labels: the list with host counts; Add label > Dynamic or Manual.

use super::{
    csrf_field, errors_by_field, field_error, page, redirect, Form, PageError, PageResult, Viewer,
};
use crate::error::PathParam;
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flotilla_core::access::Scope;
use flotilla_core::validation::{validate_label, LabelDraft};
use flotilla_core::LabelId;
use flotilla_store::{LabelMembership, LabelSpec, LabelType};
use maud::html;
use serde_json::json;
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
    let labels = state.store.labels().await?;
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
                        td { (if l.platform.is_empty() { "All" } else { l.platform.as_str() }) }
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

async fn editable(
    state: &AppState,
    viewer: &Viewer,
    id: i64,
) -> Result<flotilla_store::LabelRecord, PageError> {
    if !viewer.can_write(Scope::Global) {
        return Err(PageError::Forbidden(
            "Your role doesn't allow changing labels.".into(),
        ));
    }
    let label = state.store.label(LabelId(id)).await?;
    if label.label_type == LabelType::Builtin {
        return Err(PageError::Problem(
            "Built-in labels can't be changed.".into(),
        ));
    }
    Ok(label)
}

fn edit_form(
    viewer: &Viewer,
    label: &flotilla_store::LabelRecord,
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
        let filter = flotilla_store::HostFilter {
            label: Some(label.id),
            ..Default::default()
        };
        let page_all = flotilla_store::Page {
            page: 0,
            per_page: 10_000,
            order: flotilla_store::HostOrder::Hostname,
            descending: false,
        };
        let hosts = state.store.list_hosts(&filter, page_all).await?;
        form.0.insert(
            "hosts".into(),
            hosts
                .iter()
                .map(|h| h.hostname.clone())
                .collect::<Vec<_>>()
                .join("\n"),
        );
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
    let name = form.get("name").trim();
    if name.is_empty() {
        return fail(HashMap::from([(
            "name".to_string(),
            "label name must not be empty".to_string(),
        )]));
    }
    let hosts = if label.membership == LabelMembership::Manual {
        let identifiers: Vec<String> = form
            .get("hosts")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        match state.store.resolve_hosts(&identifiers).await {
            Ok(hosts) => Some(hosts),
            Err(flotilla_store::StoreError::Conflict(reason)) => {
                return fail(HashMap::from([("hosts".to_string(), reason)]))
            }
            Err(err) => return Err(err.into()),
        }
    } else {
        None
    };
    let activity = viewer.activity(
        "edited_label",
        json!({ "label_id": id, "label_name": name }),
    );
    match state
        .store
        .update_label(
            label.id,
            name,
            form.get("description").trim(),
            hosts.as_deref(),
            activity,
        )
        .await
    {
        Ok(_) => Ok(redirect("/labels")),
        Err(flotilla_store::StoreError::Conflict(reason)) => {
            fail(HashMap::from([("name".to_string(), reason)]))
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
    let label = editable(&state, &viewer, id).await?;
    let activity = viewer.activity("deleted_label", json!({ "label_name": label.name }));
    match state.store.delete_label(label.id, activity).await {
        Ok(()) => Ok(redirect("/labels")),
        Err(flotilla_store::StoreError::Conflict(reason)) => {
            render_list(&state, &viewer, &HashMap::from([(id.to_string(), reason)])).await
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
    if !viewer.can_write(Scope::Global) {
        return fail(HashMap::from([(
            "base".to_string(),
            "Your role doesn't allow adding labels.".to_string(),
        )]));
    }
    let draft = LabelDraft {
        name: form.get("name").trim().to_string(),
        query: form.get("query").to_string(),
        platform: form.get("platform").to_string(),
        manual,
    };
    let platform = match validate_label(&draft) {
        Ok(platform) => platform,
        Err(errors) => return fail(errors_by_field(&errors)),
    };
    let identifiers: Vec<String> = form
        .get("hosts")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let hosts = state.store.resolve_hosts(&identifiers).await?;
    let spec = LabelSpec {
        name: draft.name.clone(),
        description: form.get("description").trim().to_string(),
        query: draft.query,
        platform,
        membership: if manual {
            LabelMembership::Manual
        } else {
            LabelMembership::Dynamic
        },
        hosts,
    };
    let activity = viewer.activity("created_label", json!({ "label_name": spec.name }));
    match state.store.create_label(&spec, activity).await {
        Ok(_) => Ok(redirect("/labels")),
        Err(flotilla_store::StoreError::Conflict(message)) => {
            fail(HashMap::from([("name".to_string(), message)]))
        }
        Err(err) => Err(err.into()),
    }
}
