//! The agent API: osquery's remote API and fleetd's orbit API.

mod body;
pub(crate) mod capabilities;
mod carves;
mod orbit;
mod osquery;

pub use body::{AgentBody, AgentJson};

use crate::error::ApiError;
use crate::service::ServiceError;
use crate::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{head, post, put};
use axum::{Json, Router};
use flotilla_core::detail::{Row, VitalsUpdate};
use flotilla_store::EnrollRequest;
use serde_json::{Map, Value};

const SMALL_BODY: usize = 64 * 1024;
const RESULTS_BODY: usize = 5 * 1024 * 1024;
const LOG_BODY: usize = 10 * 1024 * 1024;
/// osquery's carve blocks are base64 in JSON: fleetd uses 2 MB blocks.
const CARVE_BODY: usize = 4 * 1024 * 1024;

/// osquery's remote API is served under both prefixes: plain osquery is
/// started with `/api/osquery/...`, fleetd starts it with `/api/v1/osquery/...`.
const OSQUERY_PREFIXES: [&str; 2] = ["/api/osquery", "/api/v1/osquery"];

pub fn router() -> Router<AppState> {
    let limited = |limit: usize| DefaultBodyLimit::max(limit);
    // Routes are added under each prefix rather than nested: a nested
    // router rewrites every request's path, on the check-in hot path.
    let mut router = Router::new();
    for prefix in OSQUERY_PREFIXES {
        router = router
            .route(
                &format!("{prefix}/enroll"),
                post(osquery::enroll).layer(limited(SMALL_BODY)),
            )
            .route(
                &format!("{prefix}/config"),
                post(osquery::config).layer(limited(SMALL_BODY)),
            )
            .route(
                &format!("{prefix}/distributed/read"),
                post(osquery::distributed_read).layer(limited(SMALL_BODY)),
            )
            .route(
                &format!("{prefix}/distributed/write"),
                post(osquery::distributed_write).layer(limited(RESULTS_BODY)),
            )
            .route(
                &format!("{prefix}/log"),
                post(osquery::log).layer(limited(LOG_BODY)),
            )
            .route(
                &format!("{prefix}/carve/begin"),
                post(carves::begin).layer(limited(SMALL_BODY)),
            )
            .route(
                &format!("{prefix}/carve/block"),
                post(carves::block).layer(limited(CARVE_BODY)),
            );
    }
    let orbit_routes = Router::new()
        .route(
            "/api/fleet/orbit/enroll",
            post(orbit::enroll).layer(limited(SMALL_BODY)),
        )
        .route(
            "/api/fleet/orbit/config",
            post(orbit::config).layer(limited(SMALL_BODY)),
        )
        .route(
            "/api/fleet/orbit/device_token",
            post(orbit::device_token).layer(limited(SMALL_BODY)),
        )
        .route(
            "/api/fleet/orbit/device_mapping",
            put(orbit::device_mapping).layer(limited(SMALL_BODY)),
        )
        .route("/api/fleet/orbit/ping", head(orbit::ping).get(orbit::ping))
        .layer(axum::middleware::map_response(capabilities::advertise));
    router.merge(orbit_routes)
}

/// Agent errors, in osquery's shape (`{"error": ..., "node_invalid": ...}`):
/// osquery treats any answer without `error` as delivered, so every refusal
/// must carry it for the agent to retry.
#[derive(Debug)]
pub enum AgentError {
    /// An unknown key or secret: the agent enrolls again.
    NodeInvalid(&'static str),
    /// A body that isn't JSON (or gzip) the route can read.
    Malformed(String),
    TooLarge,
    Api(ApiError),
}

impl IntoResponse for AgentError {
    fn into_response(self) -> Response {
        let (status, error, node_invalid) = match self {
            AgentError::NodeInvalid(reason) => (StatusCode::UNAUTHORIZED, reason.to_string(), true),
            AgentError::Malformed(reason) => (StatusCode::BAD_REQUEST, reason, false),
            AgentError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body is larger than this endpoint accepts".to_string(),
                false,
            ),
            AgentError::Api(err) => {
                let (status, message) = err.status_and_reason();
                (status, message, false)
            }
        };
        (
            status,
            Json(crate::wire::osquery::AgentErrorBody {
                error,
                node_invalid,
            }),
        )
            .into_response()
    }
}

impl From<ServiceError> for AgentError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::NodeInvalid(reason) => AgentError::NodeInvalid(reason),
            other => AgentError::Api(other.into()),
        }
    }
}

impl From<ApiError> for AgentError {
    fn from(err: ApiError) -> Self {
        AgentError::Api(err)
    }
}

type AgentResult<T> = Result<T, AgentError>;

/// Reads the host description an osquery enroll carries (`host_details`: table → row).
fn enroll_request_from_details(
    host_identifier: &str,
    details: &Map<String, Value>,
) -> EnrollRequest {
    let mut vitals = VitalsUpdate::default();
    for table in ["os_version", "osquery_info", "system_info"] {
        if let Some(Value::Object(row)) = details.get(table) {
            vitals.absorb(table, std::slice::from_ref(row));
        }
    }
    let column = |table: &str, column: &str| {
        details
            .get(table)
            .and_then(|row| row.get(column))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let uuid = column("system_info", "uuid")
        .or_else(|| column("osquery_info", "uuid"))
        .unwrap_or_else(|| host_identifier.to_string());
    EnrollRequest {
        uuid,
        osquery_host_id: host_identifier.to_string(),
        team: None,
        hostname: vitals.hostname.unwrap_or_default(),
        computer_name: vitals.computer_name.unwrap_or_default(),
        hardware_serial: vitals.hardware_serial.unwrap_or_default(),
        hardware_model: vitals.hardware_model.unwrap_or_default(),
        platform: vitals.platform.unwrap_or_default(),
        os_version: vitals.os_version.unwrap_or_default(),
        osquery_version: vitals.osquery_version.unwrap_or_default(),
    }
}

/// osquery sends `""` for a query that returned no rows.
fn rows_of(value: &Value) -> Vec<Row> {
    match value {
        Value::Array(rows) => rows.iter().filter_map(|r| r.as_object().cloned()).collect(),
        _ => Vec::new(),
    }
}

/// The osquery options a new installation starts with.
pub fn default_agent_config_value() -> Value {
    osquery::default_agent_config()
}
