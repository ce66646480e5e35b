//! Configuration profiles: a .mobileconfig per team, targeted by labels.

use super::{Caller, ServiceError, ServiceResult};
use crate::AppState;
use flotilla_core::access::Scope;
use flotilla_core::activity::ActivityType;
use flotilla_core::profile::validate_mobileconfig;
use flotilla_store::{LabelTarget, NewProfile, ProfileRecord};
use serde_json::json;

/// A new profile's id: Fleet's Apple profiles are "a" and a UUID.
pub fn new_profile_uuid() -> String {
    format!("a{}", uuid::Uuid::new_v4())
}

/// A profile's checksum, as stored and compared.
pub fn checksum(content: &[u8]) -> String {
    crate::secrets::sha256_hex(content)
}

/// Validates and stores a profile for a scope, targeted by label names.
pub async fn add(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    file_name: &str,
    content: Vec<u8>,
    labels: &[(String, LabelTarget)],
) -> ServiceResult<ProfileRecord> {
    caller.require_write(scope)?;
    let (summary, content) = super::parse_off_the_workers("profile", move || {
        let summary = validate_mobileconfig(&content);
        (summary, content)
    })
    .await?;
    let summary = summary?;
    let modes: std::collections::HashSet<_> = labels.iter().map(|(_, t)| *t).collect();
    if modes.len() > 1 {
        return Err(ServiceError::invalid(
            "labels",
            "use only one of labels_include_all, labels_include_any, labels_exclude_any",
        ));
    }
    let known = state.store.labels().await?;
    let mut targets = Vec::new();
    for (name, target) in labels {
        let label = known.iter().find(|l| &l.name == name).ok_or_else(|| {
            ServiceError::invalid(
                &format!("labels_{}", target.as_str()),
                format!("label \"{name}\" does not exist"),
            )
        })?;
        targets.push((label.id, *target));
    }
    let profile = NewProfile {
        uuid: new_profile_uuid(),
        scope,
        identifier: summary.identifier,
        name: summary.name,
        checksum: checksum(&content),
        content,
        labels: targets,
    };
    let activity = caller.activity(ActivityType::CreatedMacosProfile,
        json!({"profile_name": profile.name, "profile_identifier": profile.identifier, "file_name": flotilla_core::validation::clean_file_name(file_name)}),
    );
    Ok(state.store.create_profile(&profile, activity).await?)
}

pub async fn list(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
) -> ServiceResult<Vec<ProfileRecord>> {
    caller.require_read(scope)?;
    Ok(state.store.profiles(scope).await?)
}

pub async fn get(state: &AppState, caller: &Caller, uuid: &str) -> ServiceResult<ProfileRecord> {
    let profile = state.store.profile(uuid).await?;
    caller.require_read(profile.scope)?;
    Ok(profile)
}

/// The .mobileconfig itself.
pub async fn content(
    state: &AppState,
    caller: &Caller,
    uuid: &str,
) -> ServiceResult<(ProfileRecord, Vec<u8>)> {
    let profile = get(state, caller, uuid).await?;
    let content = state.store.profile_content(uuid).await?;
    Ok((profile, content))
}

pub async fn delete(state: &AppState, caller: &Caller, uuid: &str) -> ServiceResult<()> {
    let profile = state.store.profile(uuid).await?;
    caller.require_write(profile.scope)?;
    let activity = caller.activity(
        ActivityType::DeletedMacosProfile,
        json!({"profile_name": profile.name, "profile_identifier": profile.identifier}),
    );
    state.store.delete_profile(uuid, activity).await?;
    Ok(())
}
