//! GitOps: `POST /gitops` applies a whole run (what `flotilla gitops` sends)
//! in one transaction; `/gitops/installers/{sha256}` takes the installers a
//! run uploads first, kept by hash until a run's files list them.

use super::software::{facts_from_name, package_facts};
use crate::auth::Session;
use crate::error::{ApiError, ApiResult, JsonBody, PathParam, QueryParams};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use flotilla_core::gitops::{
    is_sha256_hex, validate_request, ApplyOutcome, ApplyRequest, PackageDef, ProfileDef,
};
use flotilla_core::profile::validate_mobileconfig;
use flotilla_store::{DesiredPackage, DesiredProfile, DesiredState, DesiredTeam, PackageFacts};
use serde::Deserialize;
use serde_json::{json, Value};

fn blob_error(err: std::io::Error) -> ApiError {
    tracing::error!(error = %err, "blob store");
    ApiError::Internal
}

/// The installer's facts: from a package already on the server with that
/// hash, else read off the file this or an earlier run uploaded.
async fn resolve_package(state: &AppState, def: &PackageDef) -> ApiResult<Option<PackageFacts>> {
    if let Some(facts) = state
        .store
        .package_facts_by_sha256(&def.hash_sha256)
        .await?
    {
        return Ok(Some(facts));
    }
    let Some(blobs) = state.settings.blobs.as_ref() else {
        return Ok(None);
    };
    let Some(bytes) = blobs.read(&def.hash_sha256).await.map_err(blob_error)? else {
        return Ok(None);
    };
    let file_name = def
        .file_name
        .clone()
        .unwrap_or_else(|| format!("{}.pkg", &def.hash_sha256[..12]));
    package_facts(&file_name, &bytes)
        .map(Some)
        .map_err(|reason| {
            ApiError::invalid("software", format!("package {}: {reason}", def.hash_sha256))
        })
}

fn desired_profile(profile: &ProfileDef) -> ApiResult<DesiredProfile> {
    let summary = validate_mobileconfig(&profile.content)?;
    Ok(DesiredProfile {
        identifier: summary.identifier,
        name: summary.name,
        content: profile.content.clone(),
        checksum: crate::secrets::sha256_hex(&profile.content),
        labels: profile.labels.clone(),
    })
}

pub async fn apply(
    State(state): State<AppState>,
    session: Session,
    JsonBody(mut request): JsonBody<ApplyRequest>,
) -> ApiResult<Json<ApplyOutcome>> {
    session.require_global_admin()?;
    validate_request(&mut request)?;
    let server_url = request
        .global
        .as_ref()
        .and_then(|g| g.org_settings.server_settings.as_ref())
        .and_then(|s| s.get("server_url"));
    if let Some(url) = server_url {
        let url = url.as_str().unwrap_or_default();
        super::config::check_server_url(url).map_err(|reason| {
            ApiError::invalid("org_settings.server_settings.server_url", reason)
        })?;
    }
    let mut teams = Vec::with_capacity(request.teams.len());
    let mut missing = flotilla_core::ValidationErrors::default();
    for team in &request.teams {
        let profiles = team
            .profiles
            .iter()
            .map(desired_profile)
            .collect::<ApiResult<Vec<_>>>()?;
        let mut packages = Vec::new();
        for def in &team.packages {
            match resolve_package(&state, def).await? {
                Some(facts) => packages.push(DesiredPackage { facts, def: def.clone() }),
                // A dry run isn't sent the installers the client holds: plan with what it says.
                None if request.dry_run && def.file_name.is_some() => packages.push(DesiredPackage {
                    facts: facts_from_name(def.file_name.as_deref().unwrap_or_default()),
                    def: def.clone(),
                }),
                None => missing.add(
                    &format!("team \"{}\" software", team.name),
                    format!(
                        "no package with SHA-256 {} is on the server; upload it (to any team) or give its url",
                        def.hash_sha256
                    ),
                ),
            }
        }
        teams.push(DesiredTeam {
            config: team,
            profiles,
            packages,
            new_secret: crate::secrets::random_token(24),
        });
    }
    missing.into_result()?;
    let desired = DesiredState {
        dry_run: request.dry_run,
        delete_other_teams: request.delete_other_teams,
        global: request.global.as_ref(),
        teams,
    };
    let actor = session.actor();
    let outcome = state.store.apply_gitops(&desired, actor).await?;
    let changed = std::iter::once(&outcome.global)
        .chain(&outcome.teams)
        .any(|s| !s.is_empty());
    if changed && !outcome.dry_run {
        // Policies and conditional access switches decide verdicts.
        crate::conditional_access::reevaluate_all(&state);
    }
    Ok(Json(outcome))
}

#[derive(Deserialize)]
pub struct InstallerParams {
    /// The installer's file name, for its title when it has no metadata.
    #[serde(default)]
    filename: Option<String>,
}

/// `HEAD`/`GET /gitops/installers/{sha256}`: 200 when the server holds it.
pub async fn installer_exists(
    State(state): State<AppState>,
    session: Session,
    PathParam(hash): PathParam<String>,
) -> ApiResult<StatusCode> {
    session.require_global_admin()?;
    let known = state.store.package_facts_by_sha256(&hash).await?.is_some();
    let stored = match state.settings.blobs.as_ref() {
        Some(blobs) => blobs.contains(&hash).await.map_err(blob_error)?,
        None => false,
    };
    if known || stored {
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
    body: Bytes,
) -> ApiResult<Json<Value>> {
    session.require_global_admin()?;
    if !is_sha256_hex(&hash) {
        return Err(ApiError::invalid("sha256", "must be 64 hex digits"));
    }
    let actual = crate::secrets::sha256_hex(&body);
    if !actual.eq_ignore_ascii_case(&hash) {
        return Err(ApiError::invalid(
            "sha256",
            format!("the body's SHA-256 is {actual}, not {hash}"),
        ));
    }
    let file_name = params
        .filename
        .unwrap_or_else(|| format!("{}.pkg", &actual[..12]));
    let facts = package_facts(&file_name, &body)
        .map_err(|reason| ApiError::invalid("installer", reason))?;
    let blobs = state.settings.blobs.as_ref().ok_or_else(|| {
        ApiError::invalid("installer", "this server has no blob store for uploads")
    })?;
    blobs.put(&body).await.map_err(blob_error)?;
    Ok(Json(json!({
        "hash_sha256": actual,
        "name": facts.title,
        "version": facts.version,
        "bundle_identifier": facts.bundle_id,
    })))
}
