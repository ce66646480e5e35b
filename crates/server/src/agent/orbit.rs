//! fleetd's orbit API: enrollment, its config, and the device token that
//! authorises the end user's "My device" page.

use super::{authenticate, team_for_secret, AgentResult};
use crate::error::{ApiError, JsonBody};
use crate::secrets::random_token;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use flotilla_store::{AgentKind, EnrollRequest};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct EnrollBody {
    #[serde(default)]
    enroll_secret: String,
    #[serde(default)]
    hardware_uuid: String,
    #[serde(default)]
    hardware_serial: String,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    platform: String,
    #[serde(default)]
    computer_name: String,
    #[serde(default)]
    hardware_model: String,
}

pub async fn enroll(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<EnrollBody>,
) -> AgentResult<Json<Value>> {
    let team = team_for_secret(&state, &body.enroll_secret).await?;
    if body.hardware_uuid.trim().is_empty() {
        return Err(ApiError::invalid("hardware_uuid", "hardware_uuid is required").into());
    }
    let request = EnrollRequest {
        uuid: body.hardware_uuid.trim().to_string(),
        team,
        hostname: body.hostname,
        computer_name: body.computer_name,
        hardware_serial: body.hardware_serial,
        hardware_model: body.hardware_model,
        platform: body.platform,
        ..EnrollRequest::default()
    };
    let orbit_node_key = random_token(24);
    let host = state
        .store
        .enroll_host(AgentKind::Orbit, &request, &orbit_node_key)
        .await?;
    tracing::info!(host = %host, uuid = %request.uuid, "fleetd enrolled");
    Ok(Json(json!({ "orbit_node_key": orbit_node_key })))
}

#[derive(Deserialize)]
pub struct OrbitKeyBody {
    #[serde(default)]
    orbit_node_key: String,
}

pub async fn config(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<OrbitKeyBody>,
) -> AgentResult<Json<Value>> {
    authenticate(&state, AgentKind::Orbit, &body.orbit_node_key).await?;
    Ok(Json(json!({
        "command_line_startup_flags": {},
        "extensions": {},
        "nudge_config": null,
        "notifications": {},
        "update_channels": {}
    })))
}

#[derive(Deserialize)]
pub struct DeviceTokenBody {
    #[serde(default)]
    orbit_node_key: String,
    #[serde(default)]
    device_auth_token: String,
}

pub async fn device_token(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<DeviceTokenBody>,
) -> AgentResult<Json<Value>> {
    let host = authenticate(&state, AgentKind::Orbit, &body.orbit_node_key).await?;
    let token = body.device_auth_token.trim();
    if token.len() < 16 || token.len() > 512 {
        return Err(ApiError::invalid(
            "device_auth_token",
            "device token must be 16 to 512 characters",
        )
        .into());
    }
    state.store.set_device_token(host.id, token).await?;
    Ok(Json(json!({})))
}
