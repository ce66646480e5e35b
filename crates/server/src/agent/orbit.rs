//! fleetd's orbit API: enrollment, its config, the device token that
//! authorises Fleet Desktop and "My device", and the end user's email.
//! Every answer carries the server's capabilities (see `capabilities`), and
//! what orbit announces in its own header is kept on the host.

use super::{capabilities, AgentJson, AgentResult};
use crate::service::agent;
use crate::wire::orbit::{DeviceMappingBody, DeviceTokenBody, OrbitEnrollBody, OrbitKeyBody};
use crate::wire::orbit::{EnrollResponse, OrbitConfig};
use crate::wire::Empty;
use crate::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use flotilla_store::{AgentHost, AgentKind, EnrollRequest};
use std::net::SocketAddr;

pub async fn enroll(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    AgentJson(body): AgentJson<OrbitEnrollBody>,
) -> AgentResult<Json<EnrollResponse>> {
    let request = EnrollRequest {
        uuid: body.hardware_uuid.trim().to_string(),
        hostname: body.hostname,
        computer_name: body.computer_name,
        hardware_serial: body.hardware_serial,
        hardware_model: body.hardware_model,
        platform: body.platform,
        ..EnrollRequest::default()
    };
    let orbit_node_key = agent::enroll(
        &state,
        AgentKind::Orbit,
        client.ip(),
        &body.enroll_secret,
        request,
    )
    .await?;
    let host = agent::authenticate(&state, AgentKind::Orbit, &orbit_node_key).await?;
    agent::note_capabilities(&state, &host, &capabilities::announced(&headers)).await?;
    Ok(Json(EnrollResponse { orbit_node_key }))
}

/// The orbit host a request is from, with what it announced recorded.
async fn orbit_host(state: &AppState, headers: &HeaderMap, key: &str) -> AgentResult<AgentHost> {
    let host = agent::authenticate(state, AgentKind::Orbit, key).await?;
    agent::note_capabilities(state, &host, &capabilities::announced(headers)).await?;
    Ok(host)
}

pub async fn config(
    State(state): State<AppState>,
    headers: HeaderMap,
    AgentJson(body): AgentJson<OrbitKeyBody>,
) -> AgentResult<Json<OrbitConfig>> {
    let host = orbit_host(&state, &headers, &body.orbit_node_key).await?;
    let options = agent::orbit_options(&state, &host).await?;
    Ok(Json(OrbitConfig::of(options)))
}

pub async fn device_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    AgentJson(body): AgentJson<DeviceTokenBody>,
) -> AgentResult<Json<Empty>> {
    let host = orbit_host(&state, &headers, &body.orbit_node_key).await?;
    agent::set_device_token(&state, &host, &body.device_auth_token).await?;
    Ok(Json(Empty {}))
}

pub async fn device_mapping(
    State(state): State<AppState>,
    headers: HeaderMap,
    AgentJson(body): AgentJson<DeviceMappingBody>,
) -> AgentResult<Json<Empty>> {
    let host = orbit_host(&state, &headers, &body.orbit_node_key).await?;
    agent::set_end_user_email(&state, &host, &body.email).await?;
    Ok(Json(Empty {}))
}

/// `HEAD /api/fleet/orbit/ping`: orbit learns the server's capabilities.
pub async fn ping() -> StatusCode {
    StatusCode::OK
}
