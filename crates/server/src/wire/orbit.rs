//! fleetd's orbit API: enrollment and the config orbit polls
//! (Fleet's `OrbitConfig`, `server/fleet/orbit.go`).

use flotilla_core::agent_config::OrbitOptions;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Serialize)]
pub struct EnrollResponse {
    pub orbit_node_key: String,
}

/// The header both sides of Fleet's capability handshake use.
pub const CAPABILITIES_HEADER: &str = "x-fleet-capabilities";

/// What this server implements of Fleet's capabilities
/// (`server/fleet/capabilities.go`): orbit calls its endpoints, and
/// registers and rotates the Fleet Desktop token, only when they are named.
pub const SERVER_CAPABILITIES: &str = "orbit_endpoints,token_rotation";

/// What orbit is told on each poll (Fleet's `OrbitConfig`); absent parts
/// mean "not set", as Fleet's `omitempty` has it.
#[derive(Debug, Serialize, Default)]
pub struct OrbitConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_execution_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_line_startup_flags: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nudge_config: Option<Value>,
    pub notifications: OrbitNotifications,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_channels: Option<UpdateChannels>,
}

impl OrbitConfig {
    pub fn of(options: OrbitOptions) -> OrbitConfig {
        OrbitConfig {
            script_execution_timeout: options.script_execution_timeout,
            command_line_startup_flags: options.command_line_flags,
            extensions: options.extensions,
            nudge_config: None,
            notifications: OrbitNotifications::default(),
            update_channels: options.update_channels.map(|channels| {
                let channel = |name: &str| {
                    channels
                        .get(name)
                        .and_then(Value::as_str)
                        .unwrap_or("stable")
                        .to_string()
                };
                UpdateChannels {
                    orbit: channel("orbit"),
                    osqueryd: channel("osqueryd"),
                    desktop: channel("desktop"),
                }
            }),
        }
    }
}

/// Work orbit should do (Fleet's `OrbitConfigNotifications`); each part is
/// left out until a feature sets it.
#[derive(Debug, Serialize, Default)]
pub struct OrbitNotifications {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub renew_enrollment_profile: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rotate_disk_encryption_key: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending_script_execution_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending_software_installer_ids: Vec<String>,
}

/// The TUF channels of fleetd's parts.
#[derive(Debug, Serialize)]
pub struct UpdateChannels {
    pub orbit: String,
    pub osqueryd: String,
    pub desktop: String,
}

/// `PUT /orbit/device_mapping`: the end user's email.
#[derive(Deserialize)]
pub struct DeviceMappingBody {
    #[serde(default)]
    pub orbit_node_key: String,
    #[serde(default)]
    pub email: String,
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
