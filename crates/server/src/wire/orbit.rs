//! fleetd's orbit API: enrollment and the config orbit polls
//! (Fleet's `OrbitConfig`, `server/fleet/orbit.go`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Serialize)]
pub struct EnrollResponse {
    pub orbit_node_key: String,
}

/// What orbit is told on each poll.
#[derive(Debug, Serialize, Default)]
pub struct OrbitConfig {
    pub command_line_startup_flags: Map<String, Value>,
    pub extensions: Map<String, Value>,
    pub nudge_config: Option<Value>,
    pub notifications: Map<String, Value>,
    pub update_channels: Map<String, Value>,
}

#[derive(Deserialize)]
pub struct OrbitEnrollBody {
    #[serde(default)]
    pub enroll_secret: String,
    #[serde(default)]
    pub hardware_uuid: String,
    #[serde(default)]
    pub hardware_serial: String,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub platform: String,
    #[serde(default)]
    pub computer_name: String,
    #[serde(default)]
    pub hardware_model: String,
}

#[derive(Deserialize)]
pub struct OrbitKeyBody {
    #[serde(default)]
    pub orbit_node_key: String,
}

#[derive(Deserialize)]
pub struct DeviceTokenBody {
    #[serde(default)]
    pub orbit_node_key: String,
    #[serde(default)]
    pub device_auth_token: String,
}
