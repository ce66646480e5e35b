//! The span each request is logged under. Paths carry secrets (device
//! tokens in `/device/{token}`, enroll secrets and OAuth state in query
//! strings), so the span names the method and a redacted path only: the
//! query is dropped and any segment that could be a token is replaced.

use axum::http::Request;
use tracing::Span;

pub fn request_span<B>(request: &Request<B>) -> Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %loggable_path(request.uri().path()),
    )
}

/// Keeps the segments that name a route (words, numeric ids, API versions)
/// and hides the rest.
pub fn loggable_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let id = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
            let word = segment.len() <= 24 && !segment.bytes().any(|b| b.is_ascii_digit());
            let version = segment.len() <= 4
                && segment.starts_with('v')
                && segment[1..].bytes().all(|b| b.is_ascii_digit());
            if id || word || version {
                segment
            } else {
                "{redacted}"
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn tokens_in_paths_are_hidden_and_routes_kept() {
        assert_eq!(
            loggable_path("/api/latest/fleet/device/2d1c3c4e-9a7b-4f7e-8a55-3e0d0f6c1a20/desktop"),
            "/api/latest/fleet/device/{redacted}/desktop"
        );
        assert_eq!(
            loggable_path("/api/v1/fleet/hosts/42/device_mapping"),
            "/api/v1/fleet/hosts/42/device_mapping"
        );
        assert_eq!(loggable_path("/api/osquery/log"), "/api/osquery/log");
        assert_eq!(
            loggable_path("/device/QXJiaXRyYXJ5LXRva2VuLXdpdGhvdXQtZGlnaXRz"),
            "/device/{redacted}"
        );
    }
}
