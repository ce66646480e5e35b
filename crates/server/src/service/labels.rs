//! Labels: built-in, dynamic (a query) and manual (a host list). Labels are
//! org-wide: anyone with a role sees them, global writers change them.

use super::{Caller, ServiceError, ServiceResult};
use crate::AppState;
use flotilla_core::access::Scope;
use flotilla_core::activity::ActivityType;
use flotilla_core::validation::{validate_label, validate_label_name};
use flotilla_core::{HostId, LabelId};
use flotilla_store::{
    HostFilter, HostOrder, HostRecord, LabelMembership, LabelRecord, LabelSpec, LabelType, Page,
    StoreError,
};
use serde_json::json;

/// Who a manual label names: host ids and identifiers (hostname, UUID, serial) together.
#[derive(Debug, Default, Clone)]
pub struct Members {
    pub ids: Vec<HostId>,
    pub identifiers: Vec<String>,
}

impl Members {
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.identifiers.is_empty()
    }
}

/// A label as submitted.
pub struct NewLabel {
    pub name: String,
    pub description: String,
    pub query: String,
    pub platform: String,
    pub membership: LabelMembership,
    /// For a manual label.
    pub members: Members,
}

/// A change to a label: name, description, and for manual labels the hosts.
#[derive(Default)]
pub struct LabelChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub members: Option<Members>,
}

fn require_any_role(caller: &Caller) -> ServiceResult<()> {
    caller.require_read(Scope::Global)
}

async fn member_ids(state: &AppState, members: Members) -> ServiceResult<Vec<HostId>> {
    let mut ids = members.ids;
    match state.store.resolve_hosts(&members.identifiers).await {
        Ok(resolved) => ids.extend(resolved),
        Err(StoreError::Conflict(reason)) => return Err(ServiceError::invalid("hosts", reason)),
        Err(err) => return Err(err.into()),
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

pub async fn list(state: &AppState, caller: &Caller) -> ServiceResult<Vec<LabelRecord>> {
    require_any_role(caller)?;
    let visible = caller.principal.visible_teams();
    Ok(state.store.labels_counted_in(visible.as_deref()).await?)
}

pub async fn get(state: &AppState, caller: &Caller, id: LabelId) -> ServiceResult<LabelRecord> {
    require_any_role(caller)?;
    let visible = caller.principal.visible_teams();
    Ok(state.store.label_counted_in(id, visible.as_deref()).await?)
}

pub async fn by_name(state: &AppState, caller: &Caller, name: &str) -> ServiceResult<LabelRecord> {
    list(state, caller)
        .await?
        .into_iter()
        .find(|l| l.name == name)
        .ok_or_else(|| ServiceError::NotFound("label".into()))
}

/// A label the caller may change: not built-in.
pub async fn editable(
    state: &AppState,
    caller: &Caller,
    id: LabelId,
) -> ServiceResult<LabelRecord> {
    caller.require_write(Scope::Global)?;
    let label = state.store.label(id).await?;
    if label.label_type == LabelType::Builtin {
        return Err(ServiceError::invalid(
            "id",
            "built-in labels can't be changed",
        ));
    }
    Ok(label)
}

/// The hosts a label names (manual) or matched (dynamic), visible to the caller.
pub async fn hosts(
    state: &AppState,
    caller: &Caller,
    id: LabelId,
    page: Page,
) -> ServiceResult<Vec<HostRecord>> {
    let label = get(state, caller, id).await?;
    let filter = HostFilter {
        visible_teams: caller.principal.visible_teams(),
        label: Some(label.id),
        ..HostFilter::default()
    };
    Ok(state.store.list_hosts(&filter, page).await?)
}

/// Every member of a manual label, by hostname: what its edit form lists.
pub async fn member_names(
    state: &AppState,
    caller: &Caller,
    id: LabelId,
) -> ServiceResult<Vec<String>> {
    let page = Page {
        page: 0,
        per_page: 10_000,
        order: HostOrder::Hostname,
        descending: false,
    };
    Ok(hosts(state, caller, id, page)
        .await?
        .into_iter()
        .map(|h| h.hostname)
        .collect())
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    new: NewLabel,
) -> ServiceResult<LabelRecord> {
    caller.require_write(Scope::Global)?;
    let name = new.name.trim().to_string();
    let platform = validate_label(&name, &new.query, &new.platform, new.membership)?;
    let hosts = if new.membership == LabelMembership::Manual {
        member_ids(state, new.members).await?
    } else {
        Vec::new()
    };
    let spec = LabelSpec {
        name,
        description: new.description.trim().to_string(),
        query: new.query.trim().to_string(),
        platform,
        membership: new.membership,
        hosts,
    };
    let activity = caller.activity(
        ActivityType::CreatedLabel,
        json!({ "label_name": spec.name }),
    );
    match state.store.create_label(&spec, activity).await {
        Err(StoreError::NotFound(_)) => Err(ServiceError::invalid(
            "hosts",
            "a listed host does not exist",
        )),
        other => Ok(other?),
    }
}

pub async fn modify(
    state: &AppState,
    caller: &Caller,
    id: LabelId,
    change: LabelChange,
) -> ServiceResult<LabelRecord> {
    let current = editable(state, caller, id).await?;
    let name = match change.name.as_deref() {
        Some(name) => validate_label_name(name)?,
        None => current.name.clone(),
    };
    let description = change.description.unwrap_or(current.description);
    let hosts = match change.members {
        Some(members) if current.membership == LabelMembership::Manual => {
            Some(member_ids(state, members).await?)
        }
        Some(members) if !members.is_empty() => {
            return Err(ServiceError::invalid(
                "hosts",
                "only a manual label lists hosts",
            ))
        }
        _ => None,
    };
    let activity = caller.activity(
        ActivityType::EditedLabel,
        json!({ "label_id": id.0, "label_name": name }),
    );
    Ok(state
        .store
        .update_label(
            current.id,
            &name,
            description.trim(),
            hosts.as_deref(),
            activity,
        )
        .await?)
}

/// Deletes a label; refused while a policy, profile or package targets it.
pub async fn delete(state: &AppState, caller: &Caller, id: LabelId) -> ServiceResult<()> {
    let label = editable(state, caller, id).await?;
    let activity = caller.activity(
        ActivityType::DeletedLabel,
        json!({ "label_id": id.0, "label_name": label.name }),
    );
    match state.store.delete_label(id, activity).await {
        Err(StoreError::Conflict(reason)) => Err(ServiceError::invalid("id", reason)),
        other => Ok(other?),
    }
}
