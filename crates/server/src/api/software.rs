//! Software packages (`/software/package`, `/software/titles`): upload an
//! installer for a team, list what is available, remove it.

use super::{form_fields, team_scope, FormField, TeamParams};
use crate::auth::Session;
use crate::error::{ApiError, ApiResult, PathParam, QueryParams};
use crate::AppState;
use axum::extract::{Multipart, State};
use axum::Json;
use flotilla_core::access::Scope;
use flotilla_core::package::read_pkg_metadata;
use flotilla_store::{PackageFacts, SoftwarePackage};
use serde_json::{json, Value};

fn title_view(package: &SoftwarePackage) -> Value {
    json!({
        "id": package.id,
        "name": package.title,
        "source": "apps",
        "bundle_identifier": package.bundle_id,
        "versions_count": 0,
        "software_package": {
            "name": package.filename,
            "version": package.version,
            "hash_sha256": package.sha256,
            "self_service": package.self_service,
            "install_script": package.install_script,
            "uninstall_script": package.uninstall_script,
            "uploaded_at": crate::views::timestamp(package.created_at),
        },
    })
}

#[derive(Default)]
struct UploadForm {
    software: Option<(String, Vec<u8>)>,
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
            "software" => form.software = Some((file_name, bytes.to_vec())),
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

/// The file's name without its extension.
fn stem(file_name: &str) -> String {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    base.rsplit_once('.')
        .map_or(base, |(stem, _)| stem)
        .to_string()
}

/// What is known of an installer from its file name alone: the name stands for the title.
pub fn facts_from_name(file_name: &str) -> PackageFacts {
    PackageFacts {
        title: stem(file_name),
        version: String::new(),
        bundle_id: String::new(),
        filename: file_name.to_string(),
        size_bytes: 0,
    }
}

/// What an installer says about itself: a .pkg's name, version and bundle id
/// from its metadata; otherwise the file name stands for the title.
pub fn package_facts(file_name: &str, bytes: &[u8]) -> Result<PackageFacts, String> {
    let mut facts = facts_from_name(file_name);
    facts.size_bytes = bytes.len() as i64;
    if file_name.to_ascii_lowercase().ends_with(".pkg") {
        let metadata = read_pkg_metadata(bytes)?;
        if !metadata.name.is_empty() {
            facts.title = metadata.name;
        }
        facts.version = metadata.version;
        facts.bundle_id = metadata.bundle_id;
    }
    Ok(facts)
}

/// Stores an installer in the blob store and makes it available for install in a scope.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn add_package(
    state: &AppState,
    actor: flotilla_store::Actor,
    scope: Scope,
    file_name: &str,
    bytes: &[u8],
    install_script: String,
    uninstall_script: String,
    self_service: bool,
) -> ApiResult<SoftwarePackage> {
    let Some(blobs) = state.settings.blobs.as_ref() else {
        return Err(ApiError::invalid(
            "software",
            "this server has no blob store for uploads",
        ));
    };
    let facts =
        package_facts(file_name, bytes).map_err(|reason| ApiError::invalid("software", reason))?;
    let sha256 = blobs.put(bytes).await.map_err(|err| {
        tracing::error!(error = %err, "could not store an upload");
        ApiError::Internal
    })?;
    let package = SoftwarePackage {
        id: 0,
        scope,
        title: facts.title,
        version: facts.version,
        bundle_id: facts.bundle_id,
        filename: facts.filename,
        sha256,
        size_bytes: facts.size_bytes,
        install_script,
        uninstall_script,
        self_service,
        url: String::new(),
        created_at: 0,
    };
    let activity = flotilla_store::Activity {
        actor,
        activity_type: "added_software",
        details: json!({"software_title": package.title, "software_package": package.filename}),
    };
    Ok(state
        .store
        .create_software_package(&package, activity)
        .await?)
}

pub async fn upload(
    State(state): State<AppState>,
    session: Session,
    multipart: Multipart,
) -> ApiResult<Json<Value>> {
    let form = read_form(multipart).await?;
    let scope = team_scope(&state, form.team_id).await?;
    session.require_write(scope)?;
    let Some((file_name, bytes)) = form.software.filter(|(_, b)| !b.is_empty()) else {
        return Err(ApiError::invalid(
            "software",
            "attach the installer as \"software\"",
        ));
    };
    let stored = add_package(
        &state,
        session.actor(),
        scope,
        &file_name,
        &bytes,
        form.install_script,
        form.uninstall_script,
        form.self_service,
    )
    .await?;
    Ok(Json(
        json!({ "software_package": title_view(&stored)["software_package"], "title_id": stored.id }),
    ))
}

pub async fn titles(
    State(state): State<AppState>,
    session: Session,
    QueryParams(params): QueryParams<TeamParams>,
) -> ApiResult<Json<Value>> {
    let scope = team_scope(&state, params.team_id).await?;
    session.require_read(scope)?;
    let packages = state.store.software_packages(scope).await?;
    Ok(Json(json!({
        "count": packages.len(),
        "software_titles": packages.iter().map(title_view).collect::<Vec<_>>(),
    })))
}

/// Fleet's `DELETE /software/titles/{id}/available_for_install`.
pub async fn remove(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Value>> {
    let package = state.store.software_package(id).await?;
    session.require_write(package.scope)?;
    let activity = session.activity("deleted_software", json!({"software_title": package.title}));
    state.store.delete_software_package(id, activity).await?;
    Ok(Json(json!({})))
}

#[cfg(test)]
mod tests {
    #[test]
    fn titles_default_to_the_file_name() {
        assert_eq!(
            super::stem("CompanyPortal-Installer.pkg"),
            "CompanyPortal-Installer"
        );
        assert_eq!(super::stem("dir/agent.msi"), "agent");
    }
}
