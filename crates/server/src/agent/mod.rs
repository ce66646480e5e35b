//! The agent API: osquery's remote API and fleetd's orbit API.

mod orbit;
mod osquery;

use crate::error::ApiError;
use crate::service::ServiceError;
use crate::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use flotilla_core::detail::{Row, VitalsUpdate};
use flotilla_store::EnrollRequest;
use serde_json::{Map, Value};

const SMALL_BODY: usize = 64 * 1024;
const RESULTS_BODY: usize = 5 * 1024 * 1024;
const LOG_BODY: usize = 10 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/osquery/enroll",
            post(osquery::enroll).layer(DefaultBodyLimit::max(SMALL_BODY)),
        )
        .route(
            "/api/osquery/config",
            post(osquery::config).layer(DefaultBodyLimit::max(SMALL_BODY)),
        )
        .route(
            "/api/osquery/distributed/read",
            post(osquery::distributed_read).layer(DefaultBodyLimit::max(SMALL_BODY)),
        )
        .route(
            "/api/osquery/distributed/write",
            post(osquery::distributed_write).layer(DefaultBodyLimit::max(RESULTS_BODY)),
        )
        .route(
            "/api/osquery/log",
            post(osquery::log).layer(DefaultBodyLimit::max(LOG_BODY)),
        )
        .route(
            "/api/fleet/orbit/enroll",
            post(orbit::enroll).layer(DefaultBodyLimit::max(SMALL_BODY)),
        )
        .route(
            "/api/fleet/orbit/config",
            post(orbit::config).layer(DefaultBodyLimit::max(SMALL_BODY)),
        )
        .route(
            "/api/fleet/orbit/device_token",
            post(orbit::device_token).layer(DefaultBodyLimit::max(SMALL_BODY)),
        )
}

/// Agent errors. An unknown key gets `node_invalid`, which makes the agent enroll again.
pub enum AgentError {
    NodeInvalid(&'static str),
    Api(ApiError),
}

impl IntoResponse for AgentError {
    fn into_response(self) -> Response {
        match self {
            AgentError::NodeInvalid(reason) => (
                StatusCode::UNAUTHORIZED,
                Json(crate::wire::osquery::NodeInvalid {
                    error: reason,
                    node_invalid: true,
                }),
            )
                .into_response(),
            AgentError::Api(err) => err.into_response(),
        }
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
