//! A real server on a free port, on SQLite and (when `FLOTILLA_TEST_DATABASE_URL`
//! is set) on PostgreSQL, each in a fresh database, spoken to over HTTP.

#![allow(dead_code)]

pub mod console;
pub mod microsoft;

use flate2::write::ZlibEncoder;
use flate2::Compression;
use flotilla_server::{AppState, Listener, ServerSettings};
use flotilla_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "Correct-horse-1!";

#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

pub struct TestServer {
    pub url: String,
    pub store: Store,
    pub database: Database,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    workers: Option<flotilla_server::workers::Workers>,
}

pub fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flotilla-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A fresh SQLite database, for tests that need only one backend.
pub fn sqlite_database() -> Database {
    Database::Sqlite(scratch_dir().join("flotilla.db"))
}

/// A suite that needs a part this machine lacks: outside CI it says so and
/// skips; under CI (`CI` set) it fails, so CI never passes by skipping.
pub fn missing(part: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but {part} is missing: this suite must run in CI");
    }
    eprintln!("SKIPPED: {part} is missing");
}

/// The PostgreSQL server tests may make databases on, when configured.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("FLOTILLA_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            missing("PostgreSQL (set FLOTILLA_TEST_DATABASE_URL)");
            None
        }
    }
}

/// The databases every test runs on: SQLite always, PostgreSQL when configured.
pub async fn databases() -> Vec<Database> {
    let mut databases = vec![sqlite_database()];
    if let Some(admin_url) = postgres_admin_url() {
        let name = format!("flotilla_test_{}", uuid::Uuid::new_v4().simple());
        let url = flotilla_store::create_postgres_database(&admin_url, &name)
            .await
            .expect("create a PostgreSQL test database");
        databases.push(Database::Postgres(url));
    }
    databases
}

impl TestServer {
    pub async fn start(database: Database) -> TestServer {
        TestServer::start_with(database, ServerSettings::default()).await
    }

    pub async fn start_with(database: Database, mut settings: ServerSettings) -> TestServer {
        if settings.blobs.is_none() {
            settings.blobs = Some(flotilla_server::blobs::BlobStore::new(
                scratch_dir().join("blobs"),
            ));
        }
        let store = match &database {
            Database::Sqlite(path) => Store::open_sqlite(path, server_key()).await,
            Database::Postgres(url) => Store::open(url, server_key()).await,
        }
        .expect("open store")
        .with_clock(settings.clock.clone());
        let state = AppState::new(store.clone(), settings);
        let workers = flotilla_server::workers::Workers::start(&state);
        let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", socket.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let app = flotilla_server::router(state);
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            flotilla_server::serve(Listener { socket, tls: None }, app, shutdown)
                .await
                .expect("serve");
        });
        TestServer {
            url,
            store,
            database,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
            workers: Some(workers),
        }
    }

    /// Stops the server (flushing what it buffers) and closes the database.
    pub async fn stop(mut self) -> Database {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Some(workers) = self.workers.take() {
            workers.stop().await;
        }
        self.store.close().await;
        self.database.clone()
    }

    /// Stops the server and removes its database.
    pub async fn finish(self) {
        match self.stop().await {
            Database::Sqlite(path) => {
                if let Some(dir) = path.parent() {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
            Database::Postgres(url) => {
                if let (Ok(admin_url), Some(name)) = (
                    std::env::var("FLOTILLA_TEST_DATABASE_URL"),
                    url.rsplit('/').next(),
                ) {
                    let name = name.split('?').next().unwrap_or(name);
                    let _ = flotilla_store::drop_postgres_database(&admin_url, name).await;
                }
            }
        }
    }

    pub fn backend(&self) -> &'static str {
        match self.database {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }

    /// Any request; returns status and JSON body (Null when empty).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// A request with exactly these headers and body bytes, as a given
    /// client sends it (redirects not followed); returns the status, the
    /// headers and the JSON body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        // Redirects are the answer here, not something to follow.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let mut request = client.request(method, format!("{}{path}", self.url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, headers, value)
    }

    /// Posts a multipart form (uploads) as `token`.
    pub async fn multipart(
        &self,
        path: &str,
        token: &str,
        form: reqwest::multipart::Form,
    ) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("multipart request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    /// An agent call (no bearer token).
    pub async fn agent(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::POST, path, None, Some(body)).await
    }

    /// First-run setup; returns the admin's token.
    pub async fn setup(&self) -> String {
        let (status, body) = self
            .request(
                Method::POST,
                "/api/v1/setup",
                None,
                Some(json!({
                    "admin": {"email": "admin@example.com", "password": PASSWORD, "name": "Admin"},
                    "org_info": {"org_name": "Example"},
                    "server_url": self.url,
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "setup: {body}");
        body["token"].as_str().expect("setup token").to_string()
    }

    /// Creates a team; returns (id, enroll secret).
    pub async fn team(&self, token: &str, name: &str) -> (i64, String) {
        let (status, body) = self
            .post("/api/v1/fleet/teams", token, json!({"name": name}))
            .await;
        assert_eq!(status, StatusCode::OK, "create team: {body}");
        let id = body["team"]["id"].as_i64().expect("team id");
        let (_, secrets) = self
            .get(&format!("/api/v1/fleet/teams/{id}/secrets"), token)
            .await;
        (
            id,
            secrets["secrets"][0]["secret"]
                .as_str()
                .expect("secret")
                .to_string(),
        )
    }

    /// Creates a user with the given roles and logs them in; returns their token.
    pub async fn user(&self, admin: &str, email: &str, roles: Value) -> String {
        let mut body = json!({"email": email, "name": email, "password": PASSWORD});
        if let (Some(body), Some(roles)) = (body.as_object_mut(), roles.as_object()) {
            body.extend(roles.clone());
        }
        let (status, created) = self.post("/api/v1/fleet/users/admin", admin, body).await;
        assert_eq!(status, StatusCode::OK, "create user: {created}");
        let (status, login) = self
            .request(
                Method::POST,
                "/api/v1/fleet/login",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login: {login}");
        login["token"].as_str().expect("token").to_string()
    }
}

/// An osquery enroll body for a Mac.
pub fn mac_details(uuid: &str, hostname: &str, serial: &str) -> Value {
    json!({
        "os_version": {"name": "macOS", "version": "15.1", "platform": "darwin"},
        "osquery_info": {"version": "5.14.1", "uuid": uuid},
        "system_info": {"hostname": hostname, "uuid": uuid, "hardware_serial": serial, "hardware_model": "Mac15,3", "computer_name": hostname},
    })
}

/// Enrolls a Mac over osquery's API; returns its node key.
pub async fn enroll_mac(server: &TestServer, secret: &str, uuid: &str, hostname: &str) -> String {
    let (status, body) = server
        .agent(
            "/api/osquery/enroll",
            json!({"enroll_secret": secret, "host_identifier": uuid, "host_details": mac_details(uuid, hostname, &format!("SN{hostname}"))}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "enroll: {body}");
    body["node_key"].as_str().expect("node key").to_string()
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A product archive (xar) whose Distribution names Company Portal 5.2504.0.
pub fn company_portal_pkg() -> Vec<u8> {
    flat_package(
        "Company Portal",
        "com.microsoft.CompanyPortalMac",
        "5.2504.0",
    )
}

/// A product archive (xar) whose Distribution names this product.
pub fn flat_package(title: &str, bundle_id: &str, version: &str) -> Vec<u8> {
    let distribution = format!(
        r#"<installer-gui-script minSpecVersion="2"><title>{title}</title>
<pkg-ref id="{bundle_id}" version="{version}">#{bundle_id}.pkg</pkg-ref>
<product id="{bundle_id}" version="{version}"/></installer-gui-script>"#
    );
    let distribution = distribution.as_bytes();
    let packed = zlib(distribution);
    let toc = format!(
        "<?xml version=\"1.0\"?><xar><toc><file id=\"1\"><data><length>{}</length><offset>20</offset><size>{}</size>\
         <encoding style=\"application/x-gzip\"/></data><name>Distribution</name></file></toc></xar>",
        packed.len(),
        distribution.len()
    );
    let ztoc = zlib(toc.as_bytes());
    let mut out = b"xar!".to_vec();
    out.extend(28u16.to_be_bytes());
    out.extend(1u16.to_be_bytes());
    out.extend((ztoc.len() as u64).to_be_bytes());
    out.extend((toc.len() as u64).to_be_bytes());
    out.extend(1u32.to_be_bytes());
    out.extend(ztoc);
    out.extend([0u8; 20]);
    out.extend(packed);
    out
}

/// The key test servers seal their secrets with; every replica of one test database shares it.
pub fn server_key() -> flotilla_store::ServerKey {
    flotilla_store::ServerKey::from_secret("the Flotilla test servers' sealing key")
        .expect("test key")
}
