//! Labels: built-in, dynamic (a query) and manual (a host list).

use super::hosts::{host_list, page_of};
use super::PageParams;
use crate::auth::{allow, Session};
use crate::error::{ApiError, ApiResult, JsonBody, PathParam, QueryParams};
use crate::{views, AppState};
use axum::extract::State;
use axum::Json;
use flotilla_core::access::Scope;
use flotilla_core::validation::{validate_label, LabelDraft};
use flotilla_core::{HostId, LabelId};
use flotilla_store::{HostFilter, LabelMembership, LabelSpec, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

/// Labels are org-wide; anyone with a role sees them.
fn require_any_role(session: &Session) -> ApiResult<()> {
    allow(session.principal.can_read(Scope::Global))
}

#[derive(Deserialize)]
pub struct CreateBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    query: String,
    #[serde(default)]
    platform: String,
    /// Fleet's "manual" or "dynamic"; a host list alone also makes a manual label.
    label_membership_type: Option<String>,
    /// Manual membership by hostname (or UUID, serial).
    hosts: Option<Vec<String>>,
    host_ids: Option<Vec<i64>>,
}

/// Host ids for a manual label, from ids and identifiers together.
async fn member_ids(
    state: &AppState,
    hosts: Option<Vec<String>>,
    host_ids: Option<Vec<i64>>,
) -> ApiResult<Vec<HostId>> {
    let mut ids: Vec<HostId> = host_ids
        .unwrap_or_default()
        .into_iter()
        .map(HostId)
        .collect();
    if let Some(identifiers) = hosts {
        match state.store.resolve_hosts(&identifiers).await {
            Ok(resolved) => ids.extend(resolved),
            Err(StoreError::Conflict(reason)) => return Err(ApiError::invalid("hosts", reason)),
            Err(err) => return Err(err.into()),
        }
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

pub async fn create(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult<Json<Value>> {
    session.require_write(Scope::Global)?;
    let manual = match body.label_membership_type.as_deref() {
        Some("manual") => true,
        Some("dynamic") => false,
        None | Some("") => {
            body.query.trim().is_empty() && (body.hosts.is_some() || body.host_ids.is_some())
        }
        Some(other) => {
            return Err(ApiError::invalid(
                "label_membership_type",
                format!("\"{other}\" is not valid; use dynamic or manual"),
            ))
        }
    };
    let draft = LabelDraft {
        name: body.name.trim().to_string(),
        query: body.query.clone(),
        platform: body.platform.clone(),
        manual,
    };
    let platform = validate_label(&draft)?;
    let hosts = if manual {
        member_ids(&state, body.hosts, body.host_ids).await?
    } else {
        Vec::new()
    };
    let spec = LabelSpec {
        name: draft.name,
        description: body.description.trim().to_string(),
        query: body.query.trim().to_string(),
        platform,
        membership: if manual {
            LabelMembership::Manual
        } else {
            LabelMembership::Dynamic
        },
        hosts,
    };
    let activity = session.activity("created_label", json!({ "label_name": spec.name }));
    let label = match state.store.create_label(&spec, activity).await {
        Err(StoreError::NotFound(_)) => {
            return Err(ApiError::invalid("hosts", "a listed host does not exist"))
        }
        other => other?,
    };
    Ok(Json(json!({ "label": views::label(&label) })))
}

pub async fn list(State(state): State<AppState>, session: Session) -> ApiResult<Json<Value>> {
    require_any_role(&session)?;
    let labels = state.store.labels().await?;
    Ok(Json(
        json!({ "labels": labels.iter().map(views::label).collect::<Vec<_>>() }),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Value>> {
    require_any_role(&session)?;
    let label = state.store.label(LabelId(id)).await?;
    Ok(Json(json!({ "label": views::label(&label) })))
}

#[derive(Deserialize)]
pub struct ModifyBody {
    name: Option<String>,
    description: Option<String>,
    hosts: Option<Vec<String>>,
    host_ids: Option<Vec<i64>>,
}

pub async fn modify(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
    JsonBody(body): JsonBody<ModifyBody>,
) -> ApiResult<Json<Value>> {
    session.require_write(Scope::Global)?;
    let current = state.store.label(LabelId(id)).await?;
    let name = body
        .name
        .as_deref()
        .map(str::trim)
        .unwrap_or(&current.name)
        .to_string();
    if name.is_empty() {
        return Err(ApiError::invalid("name", "label name must not be empty"));
    }
    let description = body.description.unwrap_or(current.description);
    let hosts = if body.hosts.is_some() || body.host_ids.is_some() {
        Some(member_ids(&state, body.hosts, body.host_ids).await?)
    } else {
        None
    };
    let activity = session.activity(
        "edited_label",
        json!({ "label_id": id, "label_name": name }),
    );
    let label = match state
        .store
        .update_label(
            current.id,
            &name,
            description.trim(),
            hosts.as_deref(),
            activity,
        )
        .await
    {
        Err(StoreError::Conflict(reason))
            if reason.starts_with("built-in") || reason.starts_with("only") =>
        {
            return Err(ApiError::invalid("id", reason))
        }
        other => other?,
    };
    Ok(Json(json!({ "label": views::label(&label) })))
}

async fn delete_label(state: &AppState, session: &Session, id: LabelId) -> ApiResult<Json<Value>> {
    session.require_write(Scope::Global)?;
    let label = state.store.label(id).await?;
    let activity = session.activity(
        "deleted_label",
        json!({ "label_id": id.0, "label_name": label.name }),
    );
    match state.store.delete_label(id, activity).await {
        Err(StoreError::Conflict(reason)) => Err(ApiError::invalid("id", reason)),
        other => other.map(|()| Json(json!({}))).map_err(Into::into),
    }
}

/// Fleet's `DELETE /labels/{name}`.
pub async fn delete_by_name(
    State(state): State<AppState>,
    session: Session,
    PathParam(name): PathParam<String>,
) -> ApiResult<Json<Value>> {
    session.require_write(Scope::Global)?;
    let label = state
        .store
        .labels()
        .await?
        .into_iter()
        .find(|l| l.name == name)
        .ok_or_else(|| ApiError::NotFound("label".into()))?;
    delete_label(&state, &session, label.id).await
}

pub async fn delete_by_id(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Value>> {
    delete_label(&state, &session, LabelId(id)).await
}

pub async fn hosts(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
    QueryParams(params): QueryParams<PageParams>,
) -> ApiResult<Json<Value>> {
    require_any_role(&session)?;
    let label = state.store.label(LabelId(id)).await?;
    let filter = HostFilter {
        visible_teams: session.principal.visible_teams(),
        label: Some(label.id),
        ..HostFilter::default()
    };
    let hosts = state.store.list_hosts(&filter, page_of(&params)?).await?;
    Ok(Json(host_list(&hosts)))
}
