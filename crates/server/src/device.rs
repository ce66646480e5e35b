//! The end user's "My device" API, authorised by the device token fleetd registers.

use crate::error::{ApiError, ApiResult, PathParam};
use crate::{views, AppState};
use axum::extract::{ConnectInfo, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use flotilla_store::HostRecord;
use serde_json::{json, Value};
use std::net::SocketAddr;

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for prefix in ["/api/v1/fleet/device", "/api/latest/fleet/device"] {
        router = router
            .route(&format!("{prefix}/{{token}}"), get(device_host))
            .route(
                &format!("{prefix}/{{token}}/policies"),
                get(device_policies),
            )
            .route(&format!("{prefix}/{{token}}/refetch"), post(device_refetch));
    }
    router
}

/// The host a token belongs to. Unknown or expired tokens count against the
/// caller's address, and too many of them lock it out for a while.
pub(crate) async fn host_for_token(
    state: &AppState,
    addr: SocketAddr,
    token: &str,
) -> ApiResult<HostRecord> {
    if state.device_limiter.is_blocked(addr.ip()) {
        return Err(ApiError::TooManyRequests);
    }
    let fresh_since = flotilla_store::now() - state.settings.device_token_ttl.as_secs() as i64;
    match state.store.host_by_device_token(token, fresh_since).await? {
        Some(host) => Ok(host),
        None => {
            state.device_limiter.record_failure(addr.ip());
            Err(ApiError::Unauthenticated)
        }
    }
}

async fn device_host(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    PathParam(token): PathParam<String>,
) -> ApiResult<Json<Value>> {
    let host = host_for_token(&state, addr, &token).await?;
    let policies = state
        .store
        .host_policies(host.id, host.team_id, &host.platform)
        .await?;
    let org = state.store.app_config().await?.unwrap_or_default();
    let mut body = views::host(&host, flotilla_store::now());
    if let Some(object) = body.as_object_mut() {
        object.insert(
            "policies".into(),
            policies.iter().map(views::host_policy).collect(),
        );
    }
    Ok(Json(json!({
        "host": body,
        "org_logo_url": org.pointer("/org_info/org_logo_url").cloned().unwrap_or(json!("")),
        "org_contact_url": org.pointer("/org_info/contact_url").cloned().unwrap_or(json!("")),
        "self_service": false,
    })))
}

async fn device_policies(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    PathParam(token): PathParam<String>,
) -> ApiResult<Json<Value>> {
    let host = host_for_token(&state, addr, &token).await?;
    let policies = state
        .store
        .host_policies(host.id, host.team_id, &host.platform)
        .await?;
    Ok(Json(
        json!({ "policies": policies.iter().map(views::host_policy).collect::<Vec<_>>() }),
    ))
}

async fn device_refetch(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    PathParam(token): PathParam<String>,
) -> ApiResult<Json<Value>> {
    let host = host_for_token(&state, addr, &token).await?;
    state.store.request_refetch(host.id).await?;
    Ok(Json(json!({})))
}
