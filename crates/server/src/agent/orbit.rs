//! fleetd's orbit API: enrollment, its config, and the device token that
//! authorises the end user's "My device" page.

use super::AgentResult;
use crate::error::JsonBody;
use crate::service::agent;
use crate::wire::orbit::{DeviceTokenBody, OrbitEnrollBody, OrbitKeyBody};
use crate::wire::orbit::{EnrollResponse, OrbitConfig};
use crate::wire::Empty;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use flotilla_store::{AgentKind, EnrollRequest};

pub async fn enroll(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<OrbitEnrollBody>,
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
    let orbit_node_key =
        agent::enroll(&state, AgentKind::Orbit, &body.enroll_secret, request).await?;
    Ok(Json(EnrollResponse { orbit_node_key }))
}

pub async fn config(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<OrbitKeyBody>,
) -> AgentResult<Json<OrbitConfig>> {
    agent::authenticate(&state, AgentKind::Orbit, &body.orbit_node_key).await?;
    Ok(Json(OrbitConfig::default()))
}

pub async fn device_token(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<DeviceTokenBody>,
) -> AgentResult<Json<Empty>> {
    let host = agent::authenticate(&state, AgentKind::Orbit, &body.orbit_node_key).await?;
    agent::set_device_token(&state, &host, &body.device_auth_token).await?;
    Ok(Json(Empty {}))
}
