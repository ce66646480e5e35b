//! Software packages: an installer made available for install in a team.
//! Reading a .pkg's metadata walks an archive, so it runs on the blocking pool.

use super::{blob_error, Caller, ServiceError, ServiceResult};
use crate::blobs::ReceivedFile;
use crate::AppState;
use flotilla_core::access::Scope;
use flotilla_core::activity::ActivityType;
use flotilla_core::package::read_pkg_metadata;
use flotilla_core::validation::clean_file_name;
use flotilla_core::TeamId;
use flotilla_store::{PackageFacts, SoftwarePackage};
use serde_json::json;
use std::path::Path;

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
fn package_facts_now(file_name: &str, path: &Path) -> Result<PackageFacts, String> {
    let mut facts = facts_from_name(file_name);
    let file = std::fs::File::open(path).map_err(|e| format!("reading the upload: {e}"))?;
    facts.size_bytes = file
        .metadata()
        .map_err(|e| format!("reading the upload: {e}"))?
        .len() as i64;
    if file_name.to_ascii_lowercase().ends_with(".pkg") {
        let metadata = read_pkg_metadata(std::io::BufReader::new(file))?;
        if !metadata.name.is_empty() {
            facts.title = metadata.name;
        }
        facts.version = metadata.version;
        facts.bundle_id = metadata.bundle_id;
    }
    Ok(facts)
}

/// [`package_facts_now`] on the blocking pool; the error says what is wrong with the file.
pub async fn package_facts(
    file_name: &str,
    path: &Path,
) -> ServiceResult<Result<PackageFacts, String>> {
    let file_name = file_name.to_string();
    let path = path.to_path_buf();
    super::parse_off_the_workers("software", move || package_facts_now(&file_name, &path)).await
}

/// Before an installer's bytes are read: whether this caller may upload to
/// the scope the form named so far (any scope they may change, if none yet).
pub fn may_upload(caller: &Caller, team_field: Option<&str>) -> ServiceResult<()> {
    let scope = match team_field.map(str::trim).filter(|t| !t.is_empty()) {
        None => None,
        Some(text) => {
            let id: i64 = text
                .parse()
                .map_err(|_| ServiceError::invalid("team_id", "must be a number"))?;
            Some(Scope::of_team(Some(id).filter(|id| *id != 0).map(TeamId)))
        }
    };
    caller.require_upload(scope)
}

/// An installer as uploaded (already on disk), with the scripts Fleet's API takes.
pub struct Upload {
    pub file_name: String,
    pub file: ReceivedFile,
    pub install_script: String,
    pub uninstall_script: String,
    pub self_service: bool,
}

/// Stores an installer in the blob store and makes it available for install in a scope.
pub async fn add(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    upload: Upload,
) -> ServiceResult<SoftwarePackage> {
    caller.require_write(scope)?;
    let file_name = clean_file_name(&upload.file_name);
    if upload.file.size == 0 || file_name.is_empty() {
        return Err(ServiceError::invalid(
            "software",
            "attach the installer, with its file name, as \"software\"",
        ));
    }
    let Some(blobs) = state.settings.blobs.as_ref() else {
        return Err(ServiceError::invalid(
            "software",
            "this server has no blob store for uploads",
        ));
    };
    let facts = package_facts(&file_name, upload.file.path())
        .await?
        .map_err(|reason| ServiceError::invalid("software", reason))?;
    let sha256 = blobs.keep(upload.file).await.map_err(blob_error)?;
    let package = SoftwarePackage {
        id: 0,
        scope,
        title: facts.title,
        version: facts.version,
        bundle_id: facts.bundle_id,
        filename: facts.filename,
        sha256,
        size_bytes: facts.size_bytes,
        install_script: upload.install_script,
        uninstall_script: upload.uninstall_script,
        self_service: upload.self_service,
        url: String::new(),
        created_at: 0,
    };
    let activity = caller.activity(
        ActivityType::AddedSoftware,
        json!({"software_title": package.title, "software_package": package.filename}),
    );
    Ok(state
        .store
        .create_software_package(&package, activity)
        .await?)
}

pub async fn list(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
) -> ServiceResult<Vec<SoftwarePackage>> {
    caller.require_read(scope)?;
    Ok(state.store.software_packages(scope).await?)
}

/// Fleet's "no longer available for install": the package goes, its title with it.
pub async fn remove(state: &AppState, caller: &Caller, id: i64) -> ServiceResult<()> {
    let package = state.store.software_package(id).await?;
    caller.require_write(package.scope)?;
    let activity = caller.activity(
        ActivityType::DeletedSoftware,
        json!({"software_title": package.title}),
    );
    state.store.delete_software_package(id, activity).await?;
    Ok(())
}

/// Whether the server holds an installer with this hash (known or uploaded).
pub async fn installer_exists(
    state: &AppState,
    caller: &Caller,
    sha256: &str,
) -> ServiceResult<bool> {
    caller.require_global_admin()?;
    if state.store.package_facts_by_sha256(sha256).await?.is_some() {
        return Ok(true);
    }
    match state.settings.blobs.as_ref() {
        Some(blobs) => blobs.contains(sha256).await.map_err(blob_error),
        None => Ok(false),
    }
}

/// Keeps an installer a GitOps run will name, by its hash; returns its facts.
pub async fn put_installer(
    state: &AppState,
    caller: &Caller,
    sha256: &str,
    file_name: Option<String>,
    file: ReceivedFile,
) -> ServiceResult<(String, PackageFacts)> {
    caller.require_global_admin()?;
    if !flotilla_core::gitops::is_sha256_hex(sha256) {
        return Err(ServiceError::invalid("sha256", "must be 64 hex digits"));
    }
    let actual = file.sha256.clone();
    if !actual.eq_ignore_ascii_case(sha256) {
        return Err(ServiceError::invalid(
            "sha256",
            format!("the body's SHA-256 is {actual}, not {sha256}"),
        ));
    }
    let file_name = file_name
        .map(|name| clean_file_name(&name))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("{}.pkg", &actual[..12]));
    let facts = package_facts(&file_name, file.path())
        .await?
        .map_err(|reason| ServiceError::invalid("installer", reason))?;
    let blobs = state.settings.blobs.as_ref().ok_or_else(|| {
        ServiceError::invalid("installer", "this server has no blob store for uploads")
    })?;
    blobs.keep(file).await.map_err(blob_error)?;
    Ok((actual, facts))
}

/// An installer's facts by hash: from a package already on the server, else
/// read off the file an earlier upload left in the blob store.
pub async fn facts_by_sha256(
    state: &AppState,
    sha256: &str,
    file_name: Option<&str>,
) -> ServiceResult<Option<PackageFacts>> {
    if let Some(facts) = state.store.package_facts_by_sha256(sha256).await? {
        return Ok(Some(facts));
    }
    let Some(blobs) = state.settings.blobs.as_ref() else {
        return Ok(None);
    };
    let Some(path) = blobs.file_of(sha256).await.map_err(blob_error)? else {
        return Ok(None);
    };
    let file_name = file_name
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}.pkg", &sha256[..12]));
    package_facts(&file_name, &path)
        .await?
        .map(Some)
        .map_err(|reason| ServiceError::invalid("software", format!("package {sha256}: {reason}")))
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
