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

/// Bodies larger than this are inflated and parsed off the async workers.
const INLINE_PARSE: usize = 256 * 1024;

/// An agent's JSON body, decompressed when it says it is gzip.
pub struct AgentJson<T>(pub T);

/// An agent's body, read (and inflated) but not parsed: the node key is
/// found first, so nothing is built from a body whose sender isn't known.
pub struct AgentBody(Vec<u8>);

#[derive(serde::Deserialize)]
struct NodeKeyOnly {
    #[serde(default)]
    node_key: String,
}

impl AgentBody {
    /// The body's `node_key`, read without building the rest (the other
    /// fields are skipped as they are scanned).
    pub fn node_key(&self) -> Result<String, AgentError> {
        parse_json::<NodeKeyOnly>(&self.0).map(|k| k.node_key)
    }

    /// The whole body.
    pub async fn parse<T: DeserializeOwned + Send + 'static>(self) -> Result<T, AgentError> {
        off_the_workers_if_large(self.0.len(), move || parse_json(&self.0)).await
    }
}

/// Reads the body within the route's limit; says whether it is gzip.
async fn read_body<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<(Bytes, bool), AgentError> {
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
    Ok((bytes, gzip))
}

async fn off_the_workers_if_large<T: Send + 'static>(
    size: usize,
    work: impl FnOnce() -> Result<T, AgentError> + Send + 'static,
) -> Result<T, AgentError> {
    if size <= INLINE_PARSE {
        return work();
    }
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| AgentError::Malformed("the body could not be read".into()))?
}

impl<S: Send + Sync> FromRequest<S> for AgentBody {
    type Rejection = AgentError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (bytes, gzip) = read_body(request, state).await?;
        if !gzip {
            return Ok(AgentBody(bytes.to_vec()));
        }
        off_the_workers_if_large(bytes.len(), move || inflate(&bytes).map(AgentBody)).await
    }
}

impl<S, T> FromRequest<S> for AgentJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send + 'static,
{
    type Rejection = AgentError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (bytes, gzip) = read_body(request, state).await?;
        off_the_workers_if_large(bytes.len(), move || decode(&bytes, gzip).map(AgentJson)).await
    }
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AgentError> {
    serde_json::from_slice(bytes)
        .map_err(|e| AgentError::Malformed(format!("invalid JSON body: {e}")))
}

fn inflate(bytes: &[u8]) -> Result<Vec<u8>, AgentError> {
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_DECOMPRESSED + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| AgentError::Malformed(format!("invalid gzip body: {e}")))?;
    if inflated.len() as u64 > MAX_DECOMPRESSED {
        return Err(AgentError::TooLarge);
    }
    Ok(inflated)
}

fn decode<T: DeserializeOwned>(bytes: &[u8], gzip: bool) -> Result<T, AgentError> {
    if gzip {
        parse_json(&inflate(bytes)?)
    } else {
        parse_json(bytes)
    }
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

    #[test]
    fn the_node_key_is_found_without_building_the_body() {
        let rows = vec!["{\"a\":1}"; 10_000].join(",");
        let body = AgentBody(
            format!("{{\"data\":[{rows}],\"node_key\":\"key-1\",\"log_type\":\"result\"}}")
                .into_bytes(),
        );
        assert_eq!(body.node_key().unwrap(), "key-1");
        assert_eq!(AgentBody(b"{}".to_vec()).node_key().unwrap(), "");
        assert!(AgentBody(b"[".to_vec()).node_key().is_err());
    }
}
