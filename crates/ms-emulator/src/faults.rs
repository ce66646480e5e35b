//! Fault injection: throttling, server errors, slow answers, and a fresh
//! token rejected once, on a share of requests.

use crate::state::Emulator;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Share of requests answered 429 with Retry-After.
    pub throttle: f64,
    /// Seconds in Retry-After.
    pub retry_after_secs: u64,
    /// Share answered 500.
    pub server_error: f64,
    /// Share answered 503.
    pub unavailable: f64,
    /// Share answered only after `slow_ms`.
    pub slow: f64,
    pub slow_ms: u64,
    /// The first token issued for each tenant and scope is refused (401) the
    /// first time it is used, as a token not yet replicated would be.
    pub reject_fresh_token_once: bool,
}

pub async fn set(
    State(emulator): State<Arc<Emulator>>,
    Json(faults): Json<Faults>,
) -> Json<Faults> {
    emulator.lock().faults = faults.clone();
    Json(faults)
}

pub async fn get(State(emulator): State<Arc<Emulator>>) -> Json<Faults> {
    Json(emulator.lock().faults.clone())
}

fn chance() -> f64 {
    let mut bytes = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// Applies the configured faults to Microsoft's API calls.
pub async fn inject(
    State(emulator): State<Arc<Emulator>>,
    request: Request,
    next: Next,
) -> Response {
    // Not the consent page, which a browser shows, nor the inspection API.
    let path = request.uri().path();
    if path.starts_with("/_emulator") || path.ends_with("/adminconsent") {
        return next.run(request).await;
    }
    let faults = emulator.lock().faults.clone();
    if faults.slow > 0.0 && chance() < faults.slow {
        tokio::time::sleep(Duration::from_millis(faults.slow_ms)).await;
    }
    if faults.throttle > 0.0 && chance() < faults.throttle {
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(error_body("TooManyRequests")),
        )
            .into_response();
        if let Ok(value) = faults.retry_after_secs.max(1).to_string().parse() {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        return response;
    }
    if faults.server_error > 0.0 && chance() < faults.server_error {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(error_body("InternalServerError")),
        )
            .into_response();
    }
    if faults.unavailable > 0.0 && chance() < faults.unavailable {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(error_body("ServiceUnavailable")),
        )
            .into_response();
    }
    if faults.reject_fresh_token_once {
        if let Some(token) = crate::graph::bearer(request.headers()) {
            let mut world = emulator.lock();
            let issued = world
                .tokens
                .get(&token)
                .map(|t| (t.tenant.clone(), t.scope.clone()));
            if issued.is_some_and(|key| world.rejected_once.insert(key)) {
                return (
                    StatusCode::UNAUTHORIZED,
                    Json(error_body("InvalidAuthenticationToken")),
                )
                    .into_response();
            }
        }
    }
    next.run(request).await
}

pub fn error_body(code: &str) -> Value {
    serde_json::json!({"error": {"code": code, "message": code}})
}
