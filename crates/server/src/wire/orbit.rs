//! fleetd's orbit API: enrollment and the config orbit polls
//! (Fleet's `OrbitConfig`, `server/fleet/orbit.go`).

use serde::Serialize;
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
