//! Software (custom packages) and Controls (configuration profiles), per team:
//! the lists and the upload forms. Delivery per host comes with MDM later.

use super::{
    csrf_field, field_error, page, redirect, team_picker, time, visible_teams, PageError,
    PageResult, TeamChoice, Viewer,
};
use crate::service::{labels, profiles, software, ServiceError};
use crate::AppState;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flotilla_store::LabelTarget;
use maud::html;
use std::collections::HashMap;

/// Software and profiles belong to a team or to "No team", never to "All teams".
fn team_choice(q: &HashMap<String, String>) -> TeamChoice {
    match TeamChoice::parse(q.get("team_id").map(String::as_str)) {
        TeamChoice::All => TeamChoice::NoTeam,
        other => other,
    }
}

pub async fn software(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    render_software(&state, &viewer, team_choice(&q), &HashMap::new()).await
}

async fn render_software(
    state: &AppState,
    viewer: &Viewer,
    choice: TeamChoice,
    errors: &HashMap<String, String>,
) -> PageResult {
    let packages = software::list(state, &viewer.caller(), choice.scope()).await?;
    let teams = visible_teams(state, viewer).await?;
    let content = html! {
        h1 { "Software" }
        div.toolbar { (team_picker("/software", &teams, choice, false)) }
        @if packages.is_empty() { p.empty { "No software for this team yet." } } @else {
            table {
                thead { tr { th { "Title" } th { "Version" } th { "Package" } th { "Self-service" } th { "Added" } } }
                tbody {
                    @for p in &packages {
                        tr { td { (p.title) } td { (p.version) } td { (p.filename) br; code { (p.sha256) } } td { (if p.self_service { "Yes" } else { "No" }) } td { (time(p.created_at)) } }
                    }
                }
            }
        }
        @if viewer.can_write(choice.scope()) {
            h2 { "Add software › Custom package" }
            form method="post" action=(format!("/software?team_id={}", choice.param())) enctype="multipart/form-data" {
                (csrf_field(viewer))
                label for="software" { "Package (.pkg, .msi, .deb, .rpm, .exe)" }
                input #software type="file" name="software" required;
                (field_error(errors, "software"))
                label for="install_script" { "Install script (empty: the default for the package type)" }
                textarea #install_script name="install_script" {}
                label for="uninstall_script" { "Uninstall script" }
                textarea #uninstall_script name="uninstall_script" {}
                p { input #self_service type="checkbox" name="self_service" value="true"; " " label.inline for="self_service" { "Self-service" } }
                p { button type="submit" { "Add software" } }
            }
        }
    };
    Ok(with_status(
        errors,
        page(viewer, "Software", "/software", content),
    ))
}

/// An upload the server refused, as an error next to the file field;
/// anything else stays an error page.
fn upload_problem(field: &str, err: ServiceError) -> Result<HashMap<String, String>, PageError> {
    match err {
        ServiceError::Invalid(errors) => {
            Ok(HashMap::from([(field.to_string(), errors.to_string())]))
        }
        ServiceError::Conflict(reason) => Ok(HashMap::from([(field.to_string(), reason)])),
        other => Err(other.into()),
    }
}

fn with_status(
    errors: &HashMap<String, String>,
    page: axum::response::Response,
) -> axum::response::Response {
    if errors.is_empty() {
        page
    } else {
        (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
    }
}

/// A multipart form's fields: text fields, and the one file.
async fn multipart_fields(
    multipart: Multipart,
) -> Result<(HashMap<String, String>, Option<(String, axum::body::Bytes)>), PageError> {
    let mut fields = HashMap::new();
    let mut file = None;
    for field in crate::multipart::form_fields(multipart)
        .await
        .map_err(PageError::from)?
    {
        if field.file_name.is_empty() {
            let value = String::from_utf8_lossy(&field.bytes).to_string();
            fields
                .entry(field.name)
                .and_modify(|v: &mut String| {
                    v.push('\n');
                    v.push_str(&value);
                })
                .or_insert(value);
        } else {
            file = Some((field.file_name, field.bytes));
        }
    }
    Ok((fields, file))
}

/// An upload form checked: CSRF and a file attached. Returns the team, the
/// text fields and the file.
async fn read_upload(
    viewer: &Viewer,
    q: &HashMap<String, String>,
    multipart: Multipart,
    what: &str,
) -> Result<
    (
        TeamChoice,
        HashMap<String, String>,
        String,
        axum::body::Bytes,
    ),
    PageError,
> {
    let (fields, file) = multipart_fields(multipart).await?;
    viewer.check_csrf(&super::Form(fields.clone()))?;
    let choice = team_choice(q);
    let (file_name, bytes) = file
        .filter(|(_, b)| !b.is_empty())
        .ok_or_else(|| PageError::Problem(format!("Choose {what} to upload.")))?;
    Ok((choice, fields, file_name, bytes))
}

pub async fn upload_software(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
    multipart: Multipart,
) -> PageResult {
    let choice = team_choice(&q);
    let caller = viewer.caller();
    let blobs =
        state.settings.blobs.as_ref().ok_or_else(|| {
            PageError::Problem("This server has no blob store for uploads.".into())
        })?;
    // The team is in the address: the role is checked before the file is read.
    let form = crate::multipart::read_upload(
        multipart,
        "software",
        blobs,
        state.settings.max_installer_bytes,
        |_| Ok(caller.require_write(choice.scope())?),
    )
    .await
    .map_err(PageError::from)?;
    viewer.check_csrf(&super::Form(form.fields.clone()))?;
    let (file_name, file) = form
        .file
        .filter(|(_, file)| file.size > 0)
        .ok_or_else(|| PageError::Problem("Choose a package to upload.".into()))?;
    let upload = software::Upload {
        file_name,
        file,
        install_script: form
            .fields
            .get("install_script")
            .cloned()
            .unwrap_or_default(),
        uninstall_script: form
            .fields
            .get("uninstall_script")
            .cloned()
            .unwrap_or_default(),
        self_service: form.fields.get("self_service").is_some_and(|v| v == "true"),
    };
    let added = software::add(&state, &viewer.caller(), choice.scope(), upload).await;
    match added {
        Ok(_) => Ok(redirect(&format!("/software?team_id={}", choice.param()))),
        Err(err) => {
            render_software(&state, &viewer, choice, &upload_problem("software", err)?).await
        }
    }
}

pub async fn profiles(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    render_profiles(&state, &viewer, team_choice(&q), &HashMap::new()).await
}

async fn render_profiles(
    state: &AppState,
    viewer: &Viewer,
    choice: TeamChoice,
    errors: &HashMap<String, String>,
) -> PageResult {
    let profiles = profiles::list(state, &viewer.caller(), choice.scope()).await?;
    let teams = visible_teams(state, viewer).await?;
    let labels = labels::list(state, &viewer.caller()).await?;
    let content = html! {
        h1 { "Controls › OS settings › Custom settings" }
        div.toolbar { (team_picker("/controls", &teams, choice, false)) }
        @if profiles.is_empty() { p.empty { "No configuration profiles for this team yet." } } @else {
            table {
                thead { tr { th { "Profile" } th { "Identifier" } th { "Target" } th { "Uploaded" } } }
                tbody {
                    @for p in &profiles {
                        tr {
                            td { (p.name) }
                            td { code { (p.identifier) } }
                            td {
                                @if p.labels.is_empty() { "All hosts" }
                                @for (_, name, mode) in &p.labels { span.badge { (mode.as_str().replace('_', " ")) ": " (name) } " " }
                            }
                            td { (time(p.uploaded_at)) }
                        }
                    }
                }
            }
        }
        @if viewer.can_write(choice.scope()) {
            h2 { "Add profile" }
            form method="post" action=(format!("/controls?team_id={}", choice.param())) enctype="multipart/form-data" {
                (csrf_field(viewer))
                label for="profile" { "Configuration profile (.mobileconfig)" }
                input #profile type="file" name="profile" accept=".mobileconfig" required;
                (field_error(errors, "profile"))
                fieldset {
                    legend { "Target" }
                    p { input #target-all type="radio" name="target" value="all" checked; " " label.inline for="target-all" { "All hosts" } }
                    p { input #target-custom type="radio" name="target" value="custom"; " " label.inline for="target-custom" { "Custom" } }
                    label for="mode" { "Hosts that" }
                    select #mode name="mode" {
                        option value="include_all" { "Include all of" }
                        option value="include_any" { "Include any of" }
                        option value="exclude_any" { "Exclude any of" }
                    }
                    @for l in &labels {
                        p { input id=(format!("label-{}", l.id.0)) type="checkbox" name="labels" value=(l.name); " " label.inline for=(format!("label-{}", l.id.0)) { (l.name) } }
                    }
                }
                p { button type="submit" { "Add profile" } }
            }
        }
    };
    Ok(with_status(
        errors,
        page(viewer, "Controls", "/controls", content),
    ))
}

pub async fn upload_profile(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
    multipart: Multipart,
) -> PageResult {
    let (choice, fields, file_name, content) =
        read_upload(&viewer, &q, multipart, "a .mobileconfig").await?;
    let mode = match fields.get("mode").map(String::as_str) {
        Some("include_any") => LabelTarget::IncludeAny,
        Some("exclude_any") => LabelTarget::ExcludeAny,
        _ => LabelTarget::IncludeAll,
    };
    let labels: Vec<(String, LabelTarget)> = if fields.get("target").is_some_and(|t| t == "custom")
    {
        fields
            .get("labels")
            .map(|l| l.lines().map(|n| (n.to_string(), mode)).collect())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let added = profiles::add(
        &state,
        &viewer.caller(),
        choice.scope(),
        &file_name,
        content.to_vec(),
        &labels,
    )
    .await;
    match added {
        Ok(_) => Ok(redirect(&format!("/controls?team_id={}", choice.param()))),
        Err(err) => {
            render_profiles(&state, &viewer, choice, &upload_problem("profile", err)?).await
        }
    }
}
