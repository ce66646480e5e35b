//! Labels: built-in, dynamic (a query) and manual (a host list).

use super::hosts::{host_list, page_of};
use super::PageParams;
use crate::auth::Session;
use crate::error::{ApiError, ApiResult, JsonBody, PathParam, QueryParams};
use crate::service::labels::{self, LabelChange, Members, NewLabel};
use crate::wire::requests::{CreateLabelBody, ModifyLabelBody};
use crate::wire::{self, Empty, HostsResponse, Label, LabelResponse, LabelsResponse};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use flotilla_core::targeting::LabelMembership;
use flotilla_core::{HostId, LabelId};

fn members(hosts: Option<Vec<String>>, host_ids: Option<Vec<i64>>) -> Option<Members> {
    if hosts.is_none() && host_ids.is_none() {
        return None;
    }
    Some(Members {
        ids: host_ids
            .unwrap_or_default()
            .into_iter()
            .map(HostId)
            .collect(),
        identifiers: hosts.unwrap_or_default(),
    })
}

pub async fn create(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<CreateLabelBody>,
) -> ApiResult<Json<LabelResponse>> {
    let members = members(body.hosts, body.host_ids);
    let membership = match body.label_membership_type.as_deref() {
        Some("manual") => LabelMembership::Manual,
        Some("dynamic") => LabelMembership::Dynamic,
        None | Some("") if body.query.trim().is_empty() && members.is_some() => {
            LabelMembership::Manual
        }
        None | Some("") => LabelMembership::Dynamic,
        Some(other) => {
            return Err(ApiError::invalid(
                "label_membership_type",
                format!("\"{other}\" is not valid; use dynamic or manual"),
            ))
        }
    };
    let new = NewLabel {
        name: body.name,
        description: body.description,
        query: body.query,
        platform: body.platform,
        membership,
        members: members.unwrap_or_default(),
    };
    let label = labels::create(&state, &session.caller(), new).await?;
    Ok(Json(LabelResponse {
        label: Label::from(&label),
    }))
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
) -> ApiResult<Json<LabelsResponse>> {
    let labels = labels::list(&state, &session.caller()).await?;
    Ok(Json(LabelsResponse {
        labels: wire::all(&labels),
    }))
}

pub async fn get(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<LabelResponse>> {
    let label = labels::get(&state, &session.caller(), LabelId(id)).await?;
    Ok(Json(LabelResponse {
        label: Label::from(&label),
    }))
}

pub async fn modify(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
    JsonBody(body): JsonBody<ModifyLabelBody>,
) -> ApiResult<Json<LabelResponse>> {
    let change = LabelChange {
        name: body.name,
        description: body.description,
        members: members(body.hosts, body.host_ids),
    };
    let label = labels::modify(&state, &session.caller(), LabelId(id), change).await?;
    Ok(Json(LabelResponse {
        label: Label::from(&label),
    }))
}

/// Fleet's `DELETE /labels/{name}`.
pub async fn delete_by_name(
    State(state): State<AppState>,
    session: Session,
    PathParam(name): PathParam<String>,
) -> ApiResult<Json<Empty>> {
    let caller = session.caller();
    let label = labels::by_name(&state, &caller, &name).await?;
    labels::delete(&state, &caller, label.id).await?;
    Ok(Json(Empty {}))
}

pub async fn delete_by_id(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Empty>> {
    labels::delete(&state, &session.caller(), LabelId(id)).await?;
    Ok(Json(Empty {}))
}

pub async fn hosts(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
    QueryParams(params): QueryParams<PageParams>,
) -> ApiResult<Json<HostsResponse>> {
    let hosts = labels::hosts(&state, &session.caller(), LabelId(id), page_of(&params)?).await?;
    Ok(Json(host_list(&hosts, state.now())))
}
