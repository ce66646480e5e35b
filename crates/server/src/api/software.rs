//! Software packages (`/software/package`, `/software/titles`): upload an
//! installer for a team, list what is available, remove it.

use super::TeamParams;
use crate::auth::Session;
use crate::error::{ApiError, ApiResult, PathParam, QueryParams};
use crate::multipart::{form_fields, FormField};
use crate::service::{software, teams};
use crate::wire::library::{PackageUploaded, PackageView, SoftwareTitlesResponse};
use crate::wire::{self, Empty};
use crate::AppState;
use axum::extract::{Multipart, State};
use axum::Json;

#[derive(Default)]
struct UploadForm {
    software: Option<(String, axum::body::Bytes)>,
    team_id: Option<i64>,
    install_script: String,
    uninstall_script: String,
    self_service: bool,
}

async fn read_form(multipart: Multipart) -> ApiResult<UploadForm> {
    let mut form = UploadForm::default();
    for FormField {
        name,
        file_name,
        bytes,
    } in form_fields(multipart).await?
    {
        let text = || String::from_utf8_lossy(&bytes).to_string();
        match name.as_str() {
            "software" => form.software = Some((file_name, bytes.clone())),
            "team_id" | "fleet_id" => {
                let value = text();
                if !value.trim().is_empty() {
                    form.team_id = Some(value.trim().parse().map_err(|_| ApiError::invalid("team_id", "must be a number"))?);
                }
            }
            "install_script" => form.install_script = text(),
            "uninstall_script" => form.uninstall_script = text(),
            "self_service" => form.self_service = matches!(text().trim(), "true" | "1"),
            other => {
                return Err(ApiError::invalid(
                    other,
                    "unknown or unsupported field; send software, team_id, install_script, uninstall_script, self_service",
                ))
            }
        }
    }
    Ok(form)
}

pub async fn upload(
    State(state): State<AppState>,
    session: Session,
    multipart: Multipart,
) -> ApiResult<Json<PackageUploaded>> {
    let form = read_form(multipart).await?;
    let scope = teams::scope_of(&state, form.team_id).await?;
    let (file_name, bytes) = form.software.unwrap_or_default();
    let upload = software::Upload {
        file_name,
        bytes,
        install_script: form.install_script,
        uninstall_script: form.uninstall_script,
        self_service: form.self_service,
    };
    let stored = software::add(&state, &session.caller(), scope, upload).await?;
    Ok(Json(PackageUploaded {
        software_package: PackageView::from(&stored),
        title_id: stored.id,
    }))
}

pub async fn titles(
    State(state): State<AppState>,
    session: Session,
    QueryParams(params): QueryParams<TeamParams>,
) -> ApiResult<Json<SoftwareTitlesResponse>> {
    let scope = teams::scope_of(&state, params.team_id).await?;
    let packages = software::list(&state, &session.caller(), scope).await?;
    Ok(Json(SoftwareTitlesResponse {
        count: packages.len(),
        software_titles: wire::all(&packages),
    }))
}

/// Fleet's `DELETE /software/titles/{id}/available_for_install`.
pub async fn remove(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Empty>> {
    software::remove(&state, &session.caller(), id).await?;
    Ok(Json(Empty {}))
}
