//! Fleet's capability handshake: every orbit and device response names what
//! the server implements, and orbit names what it implements in its requests.

use crate::wire::orbit::{CAPABILITIES_HEADER, SERVER_CAPABILITIES};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;

/// Longest capability list kept from a client; Fleet's whole set is far shorter.
const MAX_ANNOUNCED: usize = 512;

/// Adds the server's capabilities to a response.
pub async fn advertise(mut response: Response) -> Response {
    response.headers_mut().insert(
        CAPABILITIES_HEADER,
        HeaderValue::from_static(SERVER_CAPABILITIES),
    );
    response
}

/// The capabilities a client announced, normalised (`a,b`, no blanks, no
/// repeats, only the characters capability names use).
pub fn announced(headers: &HeaderMap) -> String {
    let Some(value) = headers
        .get(CAPABILITIES_HEADER)
        .and_then(|v| v.to_str().ok())
    else {
        return String::new();
    };
    let mut names: Vec<&str> = Vec::new();
    for name in value.split(',').map(str::trim) {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if valid && !names.contains(&name) {
            names.push(name);
        }
    }
    let mut list = names.join(",");
    if list.len() > MAX_ANNOUNCED {
        list.truncate(list[..MAX_ANNOUNCED].rfind(',').unwrap_or(0));
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_capabilities_are_normalised() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CAPABILITIES_HEADER,
            HeaderValue::from_static(" escrow_buddy, setup_experience,,escrow_buddy,<script>"),
        );
        assert_eq!(announced(&headers), "escrow_buddy,setup_experience");
        assert_eq!(announced(&HeaderMap::new()), "");
    }
}
