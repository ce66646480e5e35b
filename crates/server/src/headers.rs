//! Response headers every door shares: the browser-facing protections on
//! every response, and `no-store` where pages or bodies carry secrets.

use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::Response;

/// HSTS for a year, sent only when the server itself speaks TLS.
const HSTS: &str = "max-age=31536000";

/// Never framed (clickjacking), never sniffed, no referrer sent off-site,
/// and HSTS under TLS.
pub async fn security(State(state): State<AppState>, mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if state.settings.secure_cookies {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}

/// Not kept by browsers or proxies: API bodies and console pages show
/// enroll secrets, tokens and hosts.
pub async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
