//! The end user's "My device" API, authorised by the device token fleetd registers.

use crate::error::{ApiResult, PathParam};
use crate::service::device;
use crate::{views, AppState};
use axum::extract::{ConnectInfo, State};
use axum::routing::{get, post};
use axum::{Json, Router};
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

async fn device_host(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    PathParam(token): PathParam<String>,
) -> ApiResult<Json<Value>> {
    let device = device::my_device(&state, addr.ip(), &token).await?;
    let mut body = views::host(&device.host, state.now());
    if let Some(object) = body.as_object_mut() {
        object.insert(
            "policies".into(),
            device.policies.iter().map(views::host_policy).collect(),
        );
    }
    let org = &device.org;
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
    let device = device::my_device(&state, addr.ip(), &token).await?;
    Ok(Json(
        json!({ "policies": device.policies.iter().map(views::host_policy).collect::<Vec<_>>() }),
    ))
}

async fn device_refetch(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    PathParam(token): PathParam<String>,
) -> ApiResult<Json<Value>> {
    device::refetch(&state, addr.ip(), &token).await?;
    Ok(Json(json!({})))
}
