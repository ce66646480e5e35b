//! Policies: global ones, a team's, or "No team"'s.

use super::{Caller, ServiceError, ServiceResult};
use crate::AppState;
use flotilla_core::access::Scope;
use flotilla_core::activity::ActivityType;
use flotilla_core::validation::validate_policy;
use flotilla_core::PolicyId;
use flotilla_store::{PolicyRecord, PolicySpec, StoreError};
use serde_json::json;

/// A new policy's starting point: every field empty or off.
pub fn empty_spec() -> PolicySpec {
    PolicySpec {
        name: String::new(),
        query: String::new(),
        description: String::new(),
        resolution: String::new(),
        platform: String::new(),
        critical: false,
        calendar_events_enabled: false,
        conditional_access_enabled: false,
        install_software_id: None,
    }
}

/// What a stored policy says, as a spec to change.
pub fn spec_of(policy: &PolicyRecord) -> PolicySpec {
    PolicySpec {
        name: policy.name.clone(),
        query: policy.query.clone(),
        description: policy.description.clone(),
        resolution: policy.resolution.clone(),
        platform: policy.platform.to_list_string(),
        critical: policy.critical,
        calendar_events_enabled: policy.calendar_events_enabled,
        conditional_access_enabled: policy.conditional_access_enabled,
        install_software_id: policy.install_software.as_ref().map(|(id, _)| *id),
    }
}

/// Validates and normalises (the platform list is stored canonical).
fn checked(mut spec: PolicySpec) -> ServiceResult<PolicySpec> {
    spec.name = spec.name.trim().to_string();
    spec.query = spec.query.trim().to_string();
    let platforms = validate_policy(
        &spec.name,
        &spec.query,
        &spec.platform,
        spec.conditional_access_enabled,
    )?;
    spec.platform = platforms.to_list_string();
    Ok(spec)
}

/// A policy installs only software of its own team (or "No team"); global
/// policies install nothing.
async fn check_install_software(
    state: &AppState,
    scope: Scope,
    spec: &PolicySpec,
) -> ServiceResult<()> {
    let Some(title) = spec.install_software_id else {
        return Ok(());
    };
    let field = "software_title_id";
    if scope == Scope::Global {
        return Err(ServiceError::invalid(
            field,
            "global policies can't install software; use a team policy",
        ));
    }
    match state.store.software_package(title).await {
        Ok(package) if package.scope == scope => Ok(()),
        Ok(_) => Err(ServiceError::invalid(
            field,
            format!("software title {title} is not available for install in this team"),
        )),
        Err(StoreError::NotFound(_)) => Err(ServiceError::invalid(
            field,
            format!("software title {title} does not exist"),
        )),
        Err(err) => Err(err.into()),
    }
}

pub async fn list(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
) -> ServiceResult<Vec<PolicyRecord>> {
    caller.require_read(scope)?;
    Ok(state.store.policies(scope).await?)
}

/// A policy the caller may read; with `scope`, it must belong there.
pub async fn get(
    state: &AppState,
    caller: &Caller,
    scope: Option<Scope>,
    id: PolicyId,
) -> ServiceResult<PolicyRecord> {
    let policy = state.store.policy(id).await?;
    if scope.is_some_and(|scope| scope != policy.scope) {
        return Err(ServiceError::NotFound("policy".into()));
    }
    caller.require_read(policy.scope)?;
    Ok(policy)
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    spec: PolicySpec,
) -> ServiceResult<PolicyRecord> {
    caller.require_write(scope)?;
    let spec = checked(spec)?;
    check_install_software(state, scope, &spec).await?;
    let activity = caller.activity(
        ActivityType::CreatedPolicy,
        json!({ "policy_name": spec.name }),
    );
    Ok(state
        .store
        .create_policy(scope, &spec, caller.actor.id, activity)
        .await?)
}

/// A checked change to a policy the caller may change: the new spec and
/// its `edited_policy` activity, for a use case that writes it with more.
pub(super) async fn checked_change(
    state: &AppState,
    caller: &Caller,
    current: &PolicyRecord,
    change: impl FnOnce(PolicySpec) -> PolicySpec,
) -> ServiceResult<(PolicySpec, flotilla_store::Activity)> {
    caller.require_write(current.scope)?;
    let spec = checked(change(spec_of(current)))?;
    check_install_software(state, current.scope, &spec).await?;
    let activity = caller.activity(
        ActivityType::EditedPolicy,
        json!({ "policy_id": current.id.0, "policy_name": spec.name }),
    );
    Ok((spec, activity))
}

/// Changes a policy: `change` turns the current spec into the new one.
pub async fn modify(
    state: &AppState,
    caller: &Caller,
    scope: Option<Scope>,
    id: PolicyId,
    change: impl FnOnce(PolicySpec) -> PolicySpec,
) -> ServiceResult<PolicyRecord> {
    let current = get(state, caller, scope, id).await?;
    let (spec, activity) = checked_change(state, caller, &current, change).await?;
    Ok(state
        .store
        .update_policy(current.id, &spec, activity)
        .await?)
}

/// Deletes policies of one scope; one `deleted_policy` activity each, as Fleet writes.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    ids: &[PolicyId],
) -> ServiceResult<usize> {
    caller.require_write(scope)?;
    let mut activities = Vec::with_capacity(ids.len());
    for id in ids {
        let policy = get(state, caller, Some(scope), *id).await?;
        activities.push(caller.activity(
            ActivityType::DeletedPolicy,
            json!({ "policy_id": id.0, "policy_name": policy.name }),
        ));
    }
    state.store.delete_policies(scope, ids, &activities).await?;
    Ok(ids.len())
}
