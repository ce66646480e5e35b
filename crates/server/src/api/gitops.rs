//! GitOps: `POST /gitops` applies a whole run (what `flotilla gitops` sends)
//! in one transaction; `/gitops/installers/{sha256}` takes the installers a
//! run uploads first, kept by hash until a run's files list them.

use crate::auth::Session;
use crate::blobs::ReceiveError;
use crate::error::{ApiError, ApiResult, JsonBody, PathParam, QueryParams};
use crate::service::{gitops, software};
use crate::wire::library::InstallerStored;
use crate::wire::requests::InstallerParams;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use flotilla_core::gitops::{ApplyOutcome, ApplyRequest};
use futures_util::StreamExt;

pub async fn apply(
    State(state): State<AppState>,
    session: Session,
    JsonBody(request): JsonBody<ApplyRequest>,
) -> ApiResult<Json<ApplyOutcome>> {
    Ok(Json(
        gitops::apply(&state, &session.caller(), request).await?,
    ))
}

/// `HEAD`/`GET /gitops/installers/{sha256}`: 200 when the server holds it.
pub async fn installer_exists(
    State(state): State<AppState>,
    session: Session,
    PathParam(hash): PathParam<String>,
) -> ApiResult<StatusCode> {
    if software::installer_exists(&state, &session.caller(), &hash).await? {
        Ok(StatusCode::OK)
    } else {
        Err(ApiError::NotFound(format!("installer {hash}")))
    }
}

/// `PUT /gitops/installers/{sha256}`: the body is the installer; its hash must match.
pub async fn put_installer(
    State(state): State<AppState>,
    session: Session,
    PathParam(hash): PathParam<String>,
    QueryParams(params): QueryParams<InstallerParams>,
    body: axum::body::Body,
) -> ApiResult<Json<InstallerStored>> {
    let caller = session.caller();
    // Who may upload is settled before a byte of the body is read.
    caller.require_global_admin()?;
    let blobs = state.settings.blobs.as_ref().ok_or_else(|| {
        ApiError::invalid("installer", "this server has no blob store for uploads")
    })?;
    let chunks = body
        .into_data_stream()
        .map(|chunk| chunk.map_err(|e| ReceiveError::Body(e.to_string())));
    let file = blobs
        .receive(chunks, state.settings.max_installer_bytes)
        .await?;
    let (sha256, facts) =
        software::put_installer(&state, &caller, &hash, params.filename, file).await?;
    Ok(Json(InstallerStored {
        hash_sha256: sha256,
        name: facts.title,
        version: facts.version,
        bundle_identifier: facts.bundle_id,
    }))
}
