//! The end user's "My device" API, authorised by the device token fleetd registers.

use crate::agent::capabilities;
use crate::error::{ApiResult, PathParam};
use crate::service::device;
use crate::wire::device::{
    DesktopConfig, DesktopMdm, DesktopNotifications, DesktopOrgInfo, DesktopSummary, DeviceHost,
    DevicePoliciesResponse, DeviceResponse,
};
use crate::wire::{self, Empty, Host};
use crate::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::Redirect;
use axum::routing::{get, head, post};
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
            .route(&format!("{prefix}/{{token}}/refetch"), post(device_refetch))
            .route(&format!("{prefix}/{{token}}/desktop"), get(desktop))
            .route(
                &format!("{prefix}/{{token}}/transparency"),
                get(transparency),
            );
    }
    router
        .route("/api/fleet/device/ping", head(ping).get(ping))
        .layer(axum::middleware::map_response(capabilities::advertise))
}

/// `HEAD /api/fleet/device/ping`: Fleet Desktop checks the server is there.
async fn ping() -> StatusCode {
    StatusCode::OK
}

async fn desktop(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    PathParam(token): PathParam<String>,
) -> ApiResult<Json<DesktopSummary>> {
    let device = device::my_device(&state, addr.ip(), &token).await?;
    Ok(Json(DesktopSummary {
        failing_policies_count: device.failing_policies(),
        self_service: false,
        notifications: DesktopNotifications::default(),
        config: DesktopConfig {
            org_info: DesktopOrgInfo::from(&device.org),
            mdm: DesktopMdm::default(),
        },
    }))
}

/// The tray's "About Fleet" link: to the org's transparency page.
async fn transparency(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    PathParam(token): PathParam<String>,
) -> ApiResult<Redirect> {
    let url = device::transparency_url(&state, addr.ip(), &token).await?;
    Ok(Redirect::temporary(&url))
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
