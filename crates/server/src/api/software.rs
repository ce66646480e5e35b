//! Software packages (`/software/package`, `/software/titles`): upload an
//! installer for a team, list what is available, remove it.

use super::TeamParams;
use crate::auth::Session;
use crate::error::{ApiError, ApiResult, PathParam, QueryParams};
use crate::multipart::read_upload;
use crate::service::{software, teams};
use crate::wire::library::{PackageUploaded, PackageView, SoftwareTitlesResponse};
use crate::wire::{self, Empty};
use crate::AppState;
use axum::extract::{Multipart, State};
use axum::Json;

/// The fields Fleet's `POST /software/package` takes besides the file.
const UPLOAD_FIELDS: [&str; 6] = [
    "team_id",
    "fleet_id",
    "install_script",
    "uninstall_script",
    "self_service",
    "software",
];

pub async fn upload(
    State(state): State<AppState>,
    session: Session,
    multipart: Multipart,
) -> ApiResult<Json<PackageUploaded>> {
    let caller = session.caller();
    let blobs = state.settings.blobs.as_ref().ok_or_else(|| {
        ApiError::invalid("software", "this server has no blob store for uploads")
    })?;
    let form = read_upload(
        multipart,
        "software",
        blobs,
        state.settings.max_installer_bytes,
        |fields| {
            let team = fields.get("team_id").or_else(|| fields.get("fleet_id"));
            Ok(software::may_upload(&caller, team.map(String::as_str))?)
        },
    )
    .await?;
    if let Some(unknown) = form
        .fields
        .keys()
        .find(|k| !UPLOAD_FIELDS.contains(&k.as_str()))
    {
        return Err(ApiError::invalid(
            unknown,
            "unknown or unsupported field; send software, team_id, install_script, uninstall_script, self_service",
        ));
    }
    let team = [form.text("team_id"), form.text("fleet_id")]
        .into_iter()
        .find(|t| !t.trim().is_empty());
    let team_id = team
        .map(|t| t.trim().parse::<i64>())
        .transpose()
        .map_err(|_| ApiError::invalid("team_id", "must be a number"))?;
    let scope = teams::scope_of(&state, team_id).await?;
    let install_script = form.text("install_script");
    let uninstall_script = form.text("uninstall_script");
    let self_service = matches!(form.text("self_service").trim(), "true" | "1");
    let (file_name, file) = form
        .file
        .ok_or_else(|| ApiError::invalid("software", "attach the installer as \"software\""))?;
    let upload = software::Upload {
        file_name,
        file,
        install_script,
        uninstall_script,
        self_service,
    };
    let stored = software::add(&state, &caller, scope, upload).await?;
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
