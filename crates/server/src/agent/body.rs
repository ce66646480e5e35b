//! Agent request bodies: JSON, gzip-compressed when osquery runs with
//! `--logger_tls_compress` (or any agent sets `Content-Encoding: gzip`), and
//! refused in osquery's error shape so the agent retries what failed.

use super::AgentError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_ENCODING;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use std::io::Read;

/// The most a compressed body may expand to. The compressed size is bounded
/// by each route's body limit; this bounds what decompression can allocate.
pub const MAX_DECOMPRESSED: u64 = 32 * 1024 * 1024;

/// Bodies larger than this are decompressed and parsed off the async workers.
const INLINE_PARSE: usize = 256 * 1024;

/// An agent's JSON body, decompressed when it says it is gzip.
pub struct AgentJson<T>(pub T);

impl<S, T> FromRequest<S> for AgentJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send + 'static,
{
    type Rejection = AgentError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let gzip = request
            .headers()
            .get(CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AgentError::TooLarge
                } else {
                    AgentError::Malformed(rejection.body_text())
                }
            })?;
        if bytes.len() <= INLINE_PARSE {
            return decode(&bytes, gzip).map(AgentJson);
        }
        tokio::task::spawn_blocking(move || decode(&bytes, gzip))
            .await
            .map_err(|_| AgentError::Malformed("the body could not be read".into()))?
            .map(AgentJson)
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8], gzip: bool) -> Result<T, AgentError> {
    if !gzip {
        return serde_json::from_slice(bytes)
            .map_err(|e| AgentError::Malformed(format!("invalid JSON body: {e}")));
    }
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_DECOMPRESSED + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| AgentError::Malformed(format!("invalid gzip body: {e}")))?;
    if inflated.len() as u64 > MAX_DECOMPRESSED {
        return Err(AgentError::TooLarge);
    }
    serde_json::from_slice(&inflated)
        .map_err(|e| AgentError::Malformed(format!("invalid JSON body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzipped(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_bodies_are_read_and_corrupt_ones_refused() {
        let body = gzipped(br#"{"node_key": "k"}"#);
        let value: serde_json::Value = decode(&body, true).unwrap();
        assert_eq!(value["node_key"], "k");
        assert!(matches!(
            decode::<serde_json::Value>(b"this is not gzip", true),
            Err(AgentError::Malformed(_))
        ));
        assert!(matches!(
            decode::<serde_json::Value>(br#"{"node_key":"#, false),
            Err(AgentError::Malformed(_))
        ));
    }

    #[test]
    fn a_body_that_inflates_past_the_bound_is_refused() {
        let zeros = vec![b' '; (MAX_DECOMPRESSED + 10) as usize];
        let bomb = gzipped(&zeros);
        assert!(bomb.len() < 1024 * 1024);
        assert!(matches!(
            decode::<serde_json::Value>(&bomb, true),
            Err(AgentError::TooLarge)
        ));
    }
}
