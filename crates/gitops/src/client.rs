//! The server's REST API, as `flotilla login` and `flotilla gitops` use it.

use crate::GitopsError;
use flotilla_core::gitops::{ApplyOutcome, ApplyRequest};
use reqwest::{Certificate, StatusCode};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// How to reach a server.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub server: String,
    /// A PEM certificate to trust, e.g. a self-signed server's.
    pub ca_cert: Option<std::path::PathBuf>,
    /// Skip certificate checks (tests, first contact).
    pub insecure: bool,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    pub fn new(connection: &Connection, token: Option<String>) -> Result<Client, GitopsError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(1800))
            .danger_accept_invalid_certs(connection.insecure);
        if let Some(path) = &connection.ca_cert {
            let pem = std::fs::read(path)
                .map_err(|e| GitopsError::Setup(format!("{}: can't read: {e}", path.display())))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| {
                GitopsError::Setup(format!("{}: not a PEM certificate: {e}", path.display()))
            })?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| GitopsError::Setup(format!("HTTP client: {e}")))?;
        Ok(Client {
            http,
            base: connection.server.trim_end_matches('/').to_string(),
            token,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/latest/fleet{path}", self.base)
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, GitopsError> {
        let response = self
            .authorized(request)
            .send()
            .await
            .map_err(|e| GitopsError::Unreachable(format!("{}: {e}", self.base)))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(server_error(response).await)
    }

    /// Logs in with a password; returns the API token.
    pub async fn login(&self, email: &str, password: &str) -> Result<String, GitopsError> {
        let response = self
            .send(
                self.http
                    .post(self.url("/login"))
                    .json(&json!({"email": email, "password": password})),
            )
            .await?;
        let body: Value = response
            .json()
            .await
            .map_err(|e| GitopsError::Protocol(e.to_string()))?;
        body.get("token")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| GitopsError::Protocol("the login answer has no token".into()))
    }

    pub async fn apply(&self, request: &ApplyRequest) -> Result<ApplyOutcome, GitopsError> {
        let response = self
            .send(self.http.post(self.url("/gitops")).json(request))
            .await?;
        response
            .json()
            .await
            .map_err(|e| GitopsError::Protocol(e.to_string()))
    }

    /// Does the server hold an installer with this SHA-256?
    pub async fn has_installer(&self, hash: &str) -> Result<bool, GitopsError> {
        let response = self
            .authorized(
                self.http
                    .get(self.url(&format!("/gitops/installers/{hash}"))),
            )
            .send()
            .await
            .map_err(|e| GitopsError::Unreachable(format!("{}: {e}", self.base)))?;
        match response.status() {
            status if status.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(server_error(response).await),
        }
    }

    /// Uploads an installer, calling `progress` with bytes sent so far.
    pub async fn put_installer(
        &self,
        hash: &str,
        file_name: &str,
        bytes: Vec<u8>,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<(), GitopsError> {
        const CHUNK: usize = 256 * 1024;
        let total = bytes.len();
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            bytes.chunks(CHUNK).map(|c| Ok(c.to_vec())).collect();
        let mut sent = 0u64;
        let stream = futures_util::stream::iter(chunks.into_iter().inspect(move |chunk| {
            if let Ok(c) = chunk {
                sent += c.len() as u64;
                progress(sent);
            }
        }));
        let body = reqwest::Body::wrap_stream(stream);
        let request = self
            .http
            .put(self.url(&format!("/gitops/installers/{hash}")))
            .query(&[("filename", file_name)])
            .header(reqwest::header::CONTENT_LENGTH, total)
            .body(body);
        self.send(request).await.map(|_| ())
    }

    /// Downloads an installer from where the files say it lives.
    pub async fn download(&self, url: &str) -> Result<Vec<u8>, GitopsError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| GitopsError::Unreachable(format!("{url}: {e}")))?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| GitopsError::Unreachable(format!("{url}: {e}")))?;
        Ok(bytes.to_vec())
    }
}

async fn server_error(response: reqwest::Response) -> GitopsError {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let reasons: Vec<String> = body
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    let name = e.get("name").and_then(Value::as_str).unwrap_or("base");
                    let reason = e.get("reason").and_then(Value::as_str).unwrap_or("");
                    if name == "base" {
                        reason.to_string()
                    } else {
                        format!("{name}: {reason}")
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let message = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    GitopsError::Server {
        status: status.as_u16(),
        message,
        reasons,
    }
}

/// Reads an installer named by path.
pub fn read_installer(path: &Path) -> Result<Vec<u8>, GitopsError> {
    std::fs::read(path)
        .map_err(|e| GitopsError::Files(vec![format!("{}: can't read: {e}", path.display())]))
}
