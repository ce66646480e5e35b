//! The end user's "My device" API, authorised by the device token fleetd registers.

use crate::error::{ApiResult, PathParam};
use crate::service::device;
use crate::wire::device::{DeviceHost, DevicePoliciesResponse, DeviceResponse};
use crate::wire::{self, Empty, Host};
use crate::AppState;
use axum::extract::{ConnectInfo, State};
use axum::routing::{get, post};
use axum::{Json, Router};
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
) -> ApiResult<Json<DeviceResponse>> {
    let device = device::my_device(&state, addr.ip(), &token).await?;
    Ok(Json(DeviceResponse {
        org_logo_url: device.org.org_logo_url.clone(),
        org_contact_url: device.org.contact_url.clone(),
        self_service: false,
        host: DeviceHost {
            host: Host::of(&device.host, state.now()),
            policies: wire::all(&device.policies),
        },
    }))
}

async fn device_policies(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    PathParam(token): PathParam<String>,
) -> ApiResult<Json<DevicePoliciesResponse>> {
    let device = device::my_device(&state, addr.ip(), &token).await?;
    Ok(Json(DevicePoliciesResponse {
        policies: wire::all(&device.policies),
    }))
}

async fn device_refetch(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    PathParam(token): PathParam<String>,
) -> ApiResult<Json<Empty>> {
    device::refetch(&state, addr.ip(), &token).await?;
    Ok(Json(Empty {}))
}
