//! Hosts: list, count, details, delete, transfer, refetch.

use super::PageParams;
use crate::auth::Session;
use crate::error::{ApiError, ApiResult, JsonBody, PathParam, QueryParams};
use crate::service::hosts::{self, HostDetails};
use crate::wire::requests::{HostListParams, TransferBody};
use crate::wire::{
    self, CountResponse, DeviceMappingResponse, Empty, Host, HostDetail, HostExtras, HostResponse,
    HostsResponse,
};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use flotilla_core::{HostId, LabelId, PolicyId, TeamId};
use flotilla_store::{HostFilter, HostOrder, HostRecord, Page, PolicyResponseFilter, TeamFilter};

fn filter_for(params: &HostListParams) -> ApiResult<HostFilter> {
    // Fleet's team_id=0 means "No team".
    let team = match params.team_id {
        None => TeamFilter::Any,
        Some(0) => TeamFilter::NoTeam,
        Some(id) => TeamFilter::Team(TeamId(id)),
    };
    let response = match params.policy_response.as_deref() {
        None | Some("") => None,
        Some("passing") => Some(PolicyResponseFilter::Passing),
        Some("failing") => Some(PolicyResponseFilter::Failing),
        Some(other) => {
            return Err(ApiError::invalid(
                "policy_response",
                format!("\"{other}\" is not valid; use passing or failing"),
            ))
        }
    };
    if response.is_some() && params.policy_id.is_none() {
        return Err(ApiError::invalid(
            "policy_response",
            "policy_response needs policy_id",
        ));
    }
    Ok(HostFilter {
        team,
        label: params.label_id.map(LabelId),
        policy: params.policy_id.map(|p| (PolicyId(p), response)),
        query: params.query.clone(),
        ..HostFilter::default()
    })
}

pub fn page_of(params: &PageParams) -> ApiResult<Page> {
    let order = match params.order_key.as_deref() {
        None | Some("") | Some("id") => HostOrder::Id,
        Some("hostname") | Some("display_name") => HostOrder::Hostname,
        Some("seen_time") => HostOrder::SeenTime,
        Some("failing_policies_count") | Some("issues") => HostOrder::FailingPolicies,
        Some(other) => {
            return Err(ApiError::invalid(
                "order_key",
                format!("cannot order by \"{other}\"; use id, hostname, seen_time or issues"),
            ))
        }
    };
    let descending = match params.order_direction.as_deref() {
        None | Some("") | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "order_direction",
                format!("\"{other}\" is not asc or desc"),
            ))
        }
    };
    Ok(Page {
        page: params.page(),
        per_page: params.per_page(),
        order,
        descending,
    })
}

pub fn host_list(hosts: &[HostRecord], now: i64) -> HostsResponse {
    HostsResponse {
        hosts: hosts.iter().map(|h| Host::of(h, now)).collect(),
    }
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    QueryParams(params): QueryParams<HostListParams>,
    QueryParams(page): QueryParams<PageParams>,
) -> ApiResult<Json<HostsResponse>> {
    let filter = filter_for(&params)?;
    let hosts = hosts::list(&state, &session.caller(), filter, page_of(&page)?).await?;
    Ok(Json(host_list(&hosts, state.now())))
}

pub async fn count(
    State(state): State<AppState>,
    session: Session,
    QueryParams(params): QueryParams<HostListParams>,
) -> ApiResult<Json<CountResponse>> {
    let filter = filter_for(&params)?;
    let count = hosts::count(&state, &session.caller(), filter).await?;
    Ok(Json(CountResponse { count }))
}

fn details_json(details: &HostDetails, now: i64) -> HostResponse {
    HostResponse {
        host: HostDetail {
            host: Host::of(&details.host, now),
            labels: wire::all(&details.labels),
            policies: wire::all(&details.policies),
            flotilla: HostExtras::of(&details.host, &details.entra_claims),
        },
    }
}

/// Fleet's `GET /hosts/{id}/device_mapping`: the end user's email fleetd reported.
pub async fn device_mapping(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<DeviceMappingResponse>> {
    let host = hosts::get(&state, &session.caller(), HostId(id)).await?;
    Ok(Json(DeviceMappingResponse::of(&host)))
}

pub async fn get(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<HostResponse>> {
    let details = hosts::details(&state, &session.caller(), HostId(id)).await?;
    Ok(Json(details_json(&details, state.now())))
}

pub async fn get_by_identifier(
    State(state): State<AppState>,
    session: Session,
    PathParam(identifier): PathParam<String>,
) -> ApiResult<Json<HostResponse>> {
    let details = hosts::details_by_identifier(&state, &session.caller(), &identifier).await?;
    Ok(Json(details_json(&details, state.now())))
}

pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Empty>> {
    hosts::delete(&state, &session.caller(), HostId(id)).await?;
    Ok(Json(Empty {}))
}

pub async fn refetch(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Empty>> {
    hosts::refetch(&state, &session.caller(), HostId(id)).await?;
    Ok(Json(Empty {}))
}

/// Moves hosts to a team (`team_id` null or 0: "No team").
pub async fn transfer(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<TransferBody>,
) -> ApiResult<Json<Empty>> {
    let destination = body.team_id.filter(|id| *id != 0).map(TeamId);
    let ids: Vec<HostId> = body.hosts.iter().copied().map(HostId).collect();
    hosts::transfer(&state, &session.caller(), destination, &ids).await?;
    Ok(Json(Empty {}))
}
