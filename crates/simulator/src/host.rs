//! One simulated Mac speaking fleetd's and osquery's protocols.

use crate::identity::Identity;
use crate::scenario::{mix, Answer, Scenario};
use crate::stats::{Endpoint, Stats};
use crate::SimError;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

const POLICY_PREFIX: &str = "fleet_policy_query_";
const LABEL_PREFIX: &str = "fleet_label_query_";
const DETAIL_PREFIX: &str = "fleet_detail_query_";

/// orbit makes a new device token this often, well within the server's
/// one-hour expiry (and at once when the server refuses the old one).
const DEVICE_TOKEN_ROTATION: Duration = Duration::from_secs(50 * 60);
/// How often orbit asks for its config.
const ORBIT_CONFIG_EVERY: Duration = Duration::from_secs(30);
/// How often Fleet Desktop asks for its summary.
const DESKTOP_EVERY: Duration = Duration::from_secs(60);

/// A device token as orbit makes them: random to the server, stable per
/// seed, host and rotation.
fn device_token(seed: u64, host: u64, rotation: u64) -> String {
    guid(seed, host, &format!("device-token-{rotation}"), '8')
}

/// A version-4-shaped GUID, stable per seed, host and purpose (`variant`
/// is its fourth group's first digit).
fn guid(seed: u64, host: u64, purpose: &str, variant: char) -> String {
    let a = mix(seed, host, &format!("{purpose}-a"));
    let b = mix(seed, host, &format!("{purpose}-b"));
    format!(
        "{:08x}-{:04x}-4{:03x}-{variant}{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFF,
        (b >> 52) & 0xFFF,
        b & 0xFFFF_FFFF_FFFF
    )
}

/// Which agent a simulated Mac runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Agent {
    /// fleetd: orbit, the osquery it starts (on `/api/v1/osquery/`, with
    /// fleetd's extension tables) and Fleet Desktop.
    #[default]
    Fleetd,
    /// Plain osquery 5 on `/api/osquery/`, without fleetd's tables.
    Osquery,
}

/// Tables that only fleetd's osquery extension provides.
const FLEETD_TABLES: &[&str] = &["app_sso_platform", "mdm", "orbit_info"];

/// What every host of a run shares.
pub struct Shared {
    pub agent: Agent,
    pub client: reqwest::Client,
    pub server: String,
    pub enroll_secret: String,
    pub scenario: Scenario,
    pub seed: u64,
    pub interval: Duration,
    pub started: Instant,
    pub stats: Arc<Stats>,
    /// Bounds requests in flight, so that thousands of hosts starting together
    /// queue here rather than in the kernel.
    pub in_flight: Semaphore,
    /// Policy names by id, learnt from the device API as Fleet Desktop does.
    pub policy_names: RwLock<HashMap<i64, String>>,
}

/// What a host was asked, for the report.
#[derive(Debug, Default, Clone)]
pub struct Asked {
    /// Policy id → (name, query).
    pub policies: BTreeMap<i64, (Option<String>, String)>,
    /// Label id → matches.
    pub labels: BTreeMap<i64, bool>,
}

pub struct SimHost {
    pub identity: Identity,
    seed: u64,
    /// The Fleet Desktop token orbit registered last (rotated as orbit does).
    device_token: Mutex<String>,
    pub asked: Mutex<Asked>,
}

impl SimHost {
    pub fn new(identity: Identity, seed: u64) -> SimHost {
        let token = device_token(seed, identity.index, 0);
        SimHost {
            identity,
            seed,
            device_token: Mutex::new(token),
            asked: Mutex::default(),
        }
    }

    /// The device token Fleet Desktop uses now.
    pub fn device_token(&self) -> String {
        self.device_token
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default()
    }

    fn index(&self) -> u64 {
        self.identity.index
    }

    /// The host's answer to a policy at this point of the run.
    pub fn policy_answer(
        &self,
        shared: &Shared,
        name: Option<&str>,
        query: &str,
        elapsed: Duration,
    ) -> Answer {
        shared
            .scenario
            .policy_answer(shared.seed, self.index(), name, query, elapsed)
    }
}

/// A failed call: the agent's key was refused (enroll again) or anything else.
enum CallError {
    NodeInvalid,
    Other,
}

/// What each client puts on the wire besides the body (osquery's TLS
/// transport, orbit's and Fleet Desktop's Go clients).
const OSQUERY_USER_AGENT: &str = "osquery/5.14.1";
const GO_USER_AGENT: &str = "Go-http-client/1.1";
/// What orbit on macOS announces (`fleet.GetOrbitClientCapabilities`).
pub const ORBIT_CAPABILITIES: &str = "escrow_buddy,setup_experience";
const CAPABILITIES_HEADER: &str = "x-fleet-capabilities";

/// How one request is sent.
enum Client {
    /// osquery: JSON with its Content-Type; gzip when `--logger_tls_compress`.
    Osquery { gzip: bool },
    /// orbit: no Content-Type, its capabilities in a header.
    Orbit,
    /// Fleet Desktop's device client: no capabilities.
    Desktop,
}

/// A successful answer: its body and the capabilities the server named.
struct Answered {
    body: Value,
    capabilities: Option<String>,
}

async fn send(
    shared: &Shared,
    endpoint: Endpoint,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    client: Client,
) -> Result<Answered, CallError> {
    let _permit = shared
        .in_flight
        .acquire()
        .await
        .map_err(|_| CallError::Other)?;
    let started = Instant::now();
    let mut request = shared
        .client
        .request(method, format!("{}{path}", shared.server));
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
    request = match client {
        Client::Osquery { gzip } => {
            let request = request
                .header(reqwest::header::USER_AGENT, OSQUERY_USER_AGENT)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::ACCEPT, "application/json");
            match (bytes, gzip) {
                (Some(bytes), true) => request
                    .header(reqwest::header::CONTENT_ENCODING, "gzip")
                    .body(gzipped(&bytes)),
                (Some(bytes), false) => request.body(bytes),
                (None, _) => request,
            }
        }
        Client::Orbit => {
            let request = request
                .header(reqwest::header::USER_AGENT, GO_USER_AGENT)
                .header(CAPABILITIES_HEADER, ORBIT_CAPABILITIES);
            match bytes {
                Some(bytes) => request.body(bytes),
                None => request,
            }
        }
        Client::Desktop => request.header(reqwest::header::USER_AGENT, GO_USER_AGENT),
    };
    let outcome = match request.send().await {
        Ok(response) if response.status().is_success() => {
            let capabilities = response
                .headers()
                .get(CAPABILITIES_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = if response.content_length() == Some(0) {
                Ok(Value::Null)
            } else {
                response.json::<Value>().await.map_err(|_| CallError::Other)
            };
            body.map(|body| Answered { body, capabilities })
        }
        Ok(response) if response.status() == reqwest::StatusCode::UNAUTHORIZED => {
            Err(CallError::NodeInvalid)
        }
        Ok(response) => {
            tracing::debug!(status = %response.status(), path, "request refused");
            Err(CallError::Other)
        }
        Err(err) => {
            tracing::debug!(error = %err, path, "request failed");
            Err(CallError::Other)
        }
    };
    shared
        .stats
        .record(endpoint, started.elapsed(), outcome.is_ok());
    outcome
}

fn gzipped(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// An osquery call on the agent's prefix.
async fn osquery(
    shared: &Shared,
    endpoint: Endpoint,
    body: &Value,
    gzip: bool,
) -> Result<Value, CallError> {
    send(
        shared,
        endpoint,
        reqwest::Method::POST,
        &endpoint.path_for(shared.agent),
        Some(body),
        Client::Osquery { gzip },
    )
    .await
    .map(|a| a.body)
}

async fn orbit(shared: &Shared, endpoint: Endpoint, body: &Value) -> Result<Answered, CallError> {
    send(
        shared,
        endpoint,
        reqwest::Method::POST,
        &endpoint.path_for(shared.agent),
        Some(body),
        Client::Orbit,
    )
    .await
}

async fn desktop(shared: &Shared, method: reqwest::Method, path: &str) -> Result<Value, CallError> {
    let body = (method == reqwest::Method::POST).then(|| json!({}));
    send(
        shared,
        Endpoint::Device,
        method,
        path,
        body.as_ref(),
        Client::Desktop,
    )
    .await
    .map(|a| a.body)
}

fn text_field(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Sleeps, or returns false when the run is stopping.
async fn pause(stop: &mut watch::Receiver<bool>, duration: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => true,
        _ = stop.wait_for(|stopped| *stopped) => false,
    }
}

/// What a running agent knows.
#[derive(Default)]
struct AgentState {
    /// fleetd only.
    orbit_key: Option<String>,
    node_key: String,
    /// Whether the server named `orbit_endpoints` and `token_rotation`.
    token_rotation: bool,
    /// The osquery flags orbit was told (`command_line_startup_flags`).
    flags: Map<String, Value>,
    /// Scheduled queries from osquery's config: `pack/<pack>/<query>`.
    scheduled: Vec<String>,
    token_rotations: u64,
    token_registered: Option<Instant>,
    orbit_config_at: Option<Instant>,
    desktop_at: Option<Instant>,
}

impl AgentState {
    fn compress_logs(&self) -> bool {
        self.flags
            .get("logger_tls_compress")
            .is_some_and(|v| v == &json!(true) || v == &json!("true"))
    }

    /// `distributed_interval` from orbit's flags, else the run's interval.
    fn interval(&self, shared: &Shared) -> Duration {
        self.flags
            .get("distributed_interval")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .filter(|secs| *secs > 0)
            .map_or(shared.interval, Duration::from_secs)
    }

    fn learn_server(&mut self, answered: &Answered) {
        if let Some(capabilities) = &answered.capabilities {
            let named: Vec<&str> = capabilities.split(',').map(str::trim).collect();
            self.token_rotation =
                named.contains(&"orbit_endpoints") && named.contains(&"token_rotation");
        }
    }
}

impl SimHost {
    fn osquery_info_row(&self) -> Value {
        let id = &self.identity;
        json!({"version": "5.14.1", "uuid": id.uuid, "instance_id": id.uuid, "build_platform": "darwin",
               "build_distro": "10.14", "config_valid": "1", "extensions": "active", "platform_mask": "21",
               "pid": "4242", "watcher": "4241", "start_time": "1700000000", "config_hash": ""})
    }

    /// osquery 5's enroll `host_details`.
    fn host_details(&self) -> Value {
        json!({
            "os_version": self.os_version_row(),
            "osquery_info": self.osquery_info_row(),
            "system_info": self.system_info_row(),
            "platform_info": {"vendor": "Apple Inc. ", "version": "10151.41.12 ", "date": "09/16/2024 ",
                              "revision": "10151.41.12 (B&I)", "address": "0xff990000", "size": "8388608",
                              "volume_size": "1507328", "extra": ""}
        })
    }

    fn os_version_row(&self) -> Value {
        let id = &self.identity;
        let mut parts = id.macos_version.split('.');
        json!({
            "name": "macOS", "version": id.macos_version, "build": id.macos_build,
            "major": parts.next().unwrap_or("15"), "minor": parts.next().unwrap_or("0"), "patch": parts.next().unwrap_or("0"),
            "platform": "darwin", "platform_like": "darwin", "arch": "arm64"
        })
    }

    fn system_info_row(&self) -> Value {
        let id = &self.identity;
        json!({
            "hostname": id.hostname, "uuid": id.uuid, "hardware_serial": id.serial,
            "hardware_model": id.hardware_model, "hardware_vendor": "Apple Inc.",
            "computer_name": id.computer_name, "local_hostname": id.hostname, "cpu_brand": "Apple M3",
            "cpu_type": "arm64e", "cpu_physical_cores": "8", "cpu_logical_cores": "8", "physical_memory": "17179869184"
        })
    }

    /// Enrolls as the agent does: fleetd's orbit first (config, device token),
    /// then its osquery; plain osquery alone.
    async fn enroll(&self, shared: &Shared) -> Result<AgentState, CallError> {
        let mut state = AgentState::default();
        if shared.agent == Agent::Fleetd {
            let id = &self.identity;
            let enrolled = orbit(
                shared,
                Endpoint::OrbitEnroll,
                &json!({
                    "enroll_secret": shared.enroll_secret, "hardware_uuid": id.uuid, "hardware_serial": id.serial,
                    "hostname": id.hostname, "platform": "darwin", "platform_like": "darwin",
                    "osquery_identifier": id.uuid, "computer_name": id.computer_name,
                    "hardware_model": id.hardware_model
                }),
            )
            .await?;
            state.learn_server(&enrolled);
            state.orbit_key =
                Some(text_field(&enrolled.body, "orbit_node_key").ok_or(CallError::Other)?);
            self.poll_orbit_config(shared, &mut state).await?;
            self.register_device_token(shared, &mut state).await?;
        }
        self.enroll_osquery(shared, &mut state).await?;
        Ok(state)
    }

    async fn enroll_osquery(
        &self,
        shared: &Shared,
        state: &mut AgentState,
    ) -> Result<(), CallError> {
        let enrolled = osquery(
            shared,
            Endpoint::Enroll,
            &json!({
                "enroll_secret": shared.enroll_secret, "host_identifier": self.identity.uuid,
                "platform_type": "21", "host_details": self.host_details()
            }),
            false,
        )
        .await?;
        state.node_key = text_field(&enrolled, "node_key").ok_or(CallError::Other)?;
        let config = osquery(
            shared,
            Endpoint::Config,
            &json!({"node_key": state.node_key}),
            false,
        )
        .await?;
        state.scheduled = scheduled_queries(&config);
        Ok(())
    }

    /// orbit's config poll: the flags osquery runs with.
    async fn poll_orbit_config(
        &self,
        shared: &Shared,
        state: &mut AgentState,
    ) -> Result<(), CallError> {
        let Some(key) = state.orbit_key.clone() else {
            return Ok(());
        };
        let answered = orbit(
            shared,
            Endpoint::OrbitConfig,
            &json!({"orbit_node_key": key}),
        )
        .await?;
        state.learn_server(&answered);
        state.flags = answered
            .body
            .get("command_line_startup_flags")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        state.orbit_config_at = Some(Instant::now());
        Ok(())
    }

    /// Registers the current device token, as orbit does only when the
    /// server says it takes orbit's endpoints and token rotation.
    async fn register_device_token(
        &self,
        shared: &Shared,
        state: &mut AgentState,
    ) -> Result<(), CallError> {
        let Some(key) = state.orbit_key.clone() else {
            return Ok(());
        };
        if !state.token_rotation {
            return Ok(());
        }
        let answered = orbit(
            shared,
            Endpoint::DeviceToken,
            &json!({"orbit_node_key": key, "device_auth_token": self.device_token()}),
        )
        .await?;
        state.learn_server(&answered);
        state.token_registered = Some(Instant::now());
        Ok(())
    }

    /// orbit makes a new token and registers it.
    async fn rotate_device_token(
        &self,
        shared: &Shared,
        state: &mut AgentState,
    ) -> Result<(), CallError> {
        state.token_rotations += 1;
        if let Ok(mut token) = self.device_token.lock() {
            *token = device_token(self.seed, self.index(), state.token_rotations);
        }
        self.register_device_token(shared, state).await
    }

    /// Fleet Desktop's poll of its summary; a refused token makes orbit rotate it.
    async fn poll_desktop(&self, shared: &Shared, state: &mut AgentState) -> Result<(), CallError> {
        state.desktop_at = Some(Instant::now());
        let path = format!(
            "{}/{}/desktop",
            Endpoint::Device.path(),
            self.device_token()
        );
        match desktop(shared, reqwest::Method::GET, &path).await {
            Err(CallError::NodeInvalid) => self.rotate_device_token(shared, state).await,
            other => other.map(|_| ()),
        }
    }

    /// Learns the names of these policies through the device API.
    async fn learn_policy_names(&self, shared: &Shared, ids: &[i64]) -> Result<(), CallError> {
        let unknown = match shared.policy_names.read() {
            Ok(names) => ids.iter().any(|id| !names.contains_key(id)),
            Err(_) => true,
        };
        if !unknown {
            return Ok(());
        }
        let policies = match shared.agent {
            Agent::Fleetd => {
                let path = format!(
                    "{}/{}/policies",
                    Endpoint::Device.path(),
                    self.device_token()
                );
                desktop(shared, reqwest::Method::GET, &path).await?
            }
            // A plain osquery host has no device token; names stay unknown
            // and answers follow the query text.
            Agent::Osquery => return Ok(()),
        };
        let policies = policies
            .get("policies")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Ok(mut names) = shared.policy_names.write() {
            for policy in policies {
                if let (Some(id), Some(name)) = (
                    policy.get("id").and_then(Value::as_i64),
                    text_field(&policy, "name"),
                ) {
                    names.insert(id, name);
                }
            }
        }
        Ok(())
    }

    fn detail_rows(&self, shared: &Shared, name: &str, elapsed: Duration) -> Value {
        let id = &self.identity;
        match name {
            "os_version" => json!([self.os_version_row()]),
            "osquery_info" => json!([self.osquery_info_row()]),
            "system_info" => json!([self.system_info_row()]),
            "uptime" => {
                let base = mix(shared.seed, id.index, "uptime") % (30 * 86_400);
                let total = base + elapsed.as_secs();
                json!([{"days": (total / 86_400).to_string(), "hours": (total / 3600 % 24).to_string(),
                        "minutes": (total / 60 % 60).to_string(), "seconds": (total % 60).to_string(),
                        "total_seconds": total.to_string()}])
            }
            "mdm" => {
                if shared.scenario.mdm_enrolled(shared.seed, id.index) {
                    json!([{"enrolled": "true", "server_url": format!("{}/mdm/apple/mdm", shared.server),
                            "installed_from_dep": "false", "payload_identifier": "com.flotilla.mdm"}])
                } else {
                    json!([{"enrolled": "false", "server_url": "", "installed_from_dep": "false", "payload_identifier": ""}])
                }
            }
            "orbit_info" => json!([{
                "version": "1.38.0", "desktop_version": "1.38.0", "device_auth_token": "",
                "enrolled": "true", "last_recorded_error": "", "orbit_channel": "stable",
                "osqueryd_channel": "stable", "desktop_channel": "stable", "uptime": elapsed.as_secs().to_string(),
                "scripts_enabled": "1"
            }]),
            _ => json!(""),
        }
    }

    /// The Platform SSO row, when the host is registered with Entra.
    fn entra_rows(&self, shared: &Shared) -> Value {
        match shared.scenario.entra_upn(shared.seed, self.index()) {
            Some(upn) => {
                json!([{"device_id": self.entra_device_id(shared), "user_principal_name": upn,
                        "extension_identifier": "com.microsoft.CompanyPortalMac.ssoextension",
                        "realm": "KERBEROS.MICROSOFTONLINE.COM"}])
            }
            None => json!(""),
        }
    }

    pub fn entra_device_id(&self, shared: &Shared) -> String {
        guid(shared.seed, self.index(), "entra-device", 'a')
    }

    /// Answers one distributed read as osquery 5 does: queries whose
    /// discovery finds no table are left out; each answer has its status,
    /// an error its message, and each query its stats.
    async fn answer(
        &self,
        shared: &Shared,
        node_key: &str,
        read: &Value,
    ) -> Result<Option<Value>, CallError> {
        let queries = read
            .get("queries")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if queries.is_empty() {
            return Ok(None);
        }
        let discovery = read
            .get("discovery")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let policy_ids: Vec<i64> = queries
            .keys()
            .filter_map(|name| name.strip_prefix(POLICY_PREFIX)?.parse().ok())
            .collect();
        if !policy_ids.is_empty() {
            self.learn_policy_names(shared, &policy_ids).await?;
        }
        let elapsed = shared.started.elapsed();
        let names = shared
            .policy_names
            .read()
            .map(|n| n.clone())
            .unwrap_or_default();
        let mut results = Map::new();
        let mut statuses = Map::new();
        let mut messages = Map::new();
        let mut stats = Map::new();
        let mut asked = self.asked.lock().map_err(|_| CallError::Other)?;
        for (name, sql) in &queries {
            let sql = sql.as_str().unwrap_or_default();
            let check = discovery.get(name).and_then(Value::as_str).unwrap_or("");
            let missing_table = shared.agent == Agent::Osquery
                && FLEETD_TABLES
                    .iter()
                    .any(|t| check.contains(&format!("'{t}'")));
            if missing_table {
                continue;
            }
            let (rows, status) = if let Some(id) = name
                .strip_prefix(POLICY_PREFIX)
                .and_then(|i| i.parse::<i64>().ok())
            {
                let policy_name = names.get(&id).cloned();
                let answer = self.policy_answer(shared, policy_name.as_deref(), sql, elapsed);
                asked.policies.insert(id, (policy_name, sql.to_string()));
                match answer {
                    Answer::Pass => (json!([{"1": "1"}]), 0),
                    Answer::Fail => (json!([]), 0),
                    Answer::Error => {
                        messages.insert(name.clone(), json!("no such table: simulated_failure"));
                        (json!([]), 1)
                    }
                }
            } else if let Some(id) = name
                .strip_prefix(LABEL_PREFIX)
                .and_then(|i| i.parse::<i64>().ok())
            {
                let matches = shared
                    .scenario
                    .label_matches(shared.seed, self.index(), sql);
                asked.labels.insert(id, matches);
                (
                    if matches {
                        json!([{"1": "1"}])
                    } else {
                        json!([])
                    },
                    0,
                )
            } else if sql.contains("app_sso_platform") {
                (self.entra_rows(shared), 0)
            } else if let Some(detail) = name.strip_prefix(DETAIL_PREFIX) {
                (self.detail_rows(shared, detail, elapsed), 0)
            } else {
                (json!([]), 0)
            };
            results.insert(name.clone(), rows);
            statuses.insert(name.clone(), json!(status));
            stats.insert(
                name.clone(),
                json!({"wall_time_ms": 2, "user_time": 1, "system_time": 1, "memory": 8192}),
            );
        }
        drop(asked);
        Ok(Some(json!({
            "node_key": node_key, "queries": results, "statuses": statuses, "messages": messages, "stats": stats
        })))
    }

    /// Whether a flip that just came due changes one of this host's answers.
    fn flipped(&self, shared: &Shared, before: Duration, now: Duration) -> bool {
        let Ok(asked) = self.asked.lock() else {
            return false;
        };
        shared.scenario.flips_due(before, now).any(|flip| {
            asked.policies.values().any(|(name, query)| {
                name.as_deref() == Some(flip.policy.as_str())
                    && self.policy_answer(shared, name.as_deref(), query, before)
                        != self.policy_answer(shared, name.as_deref(), query, now)
            })
        })
    }

    /// The logs osquery sends in a round: a status line, and a snapshot of
    /// each scheduled query.
    async fn send_logs(&self, shared: &Shared, state: &AgentState) {
        let id = &self.identity;
        let gzip = state.compress_logs();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let decorations = json!({"host_uuid": id.uuid, "hostname": id.hostname});
        let status = json!({"node_key": state.node_key, "log_type": "status", "data": [{
            "hostIdentifier": id.uuid, "calendarTime": "", "unixTime": now.to_string(), "severity": "0",
            "filename": "distributed.cpp", "line": "120", "message": "Executing distributed query",
            "version": "5.14.1", "decorations": decorations
        }]});
        let _ = osquery(shared, Endpoint::Log, &status, gzip).await;
        if state.scheduled.is_empty() {
            return;
        }
        let results: Vec<Value> = state
            .scheduled
            .iter()
            .map(|name| {
                json!({"name": name, "hostIdentifier": id.uuid, "calendarTime": "", "unixTime": now,
                       "epoch": 0, "counter": 0, "numerics": false, "action": "snapshot",
                       "snapshot": [{"uuid": id.uuid, "version": "5.14.1"}], "decorations": decorations})
            })
            .collect();
        let body = json!({"node_key": state.node_key, "log_type": "result", "data": results});
        let _ = osquery(shared, Endpoint::Log, &body, gzip).await;
    }

    /// Runs until `stop` turns true.
    pub async fn run(self: Arc<Self>, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
        // Spread hosts over one interval, as real fleets are.
        let offset = Duration::from_millis(
            mix(shared.seed, self.index(), "start") % shared.interval.as_millis().max(1) as u64,
        );
        if !pause(&mut stop, offset).await {
            return;
        }
        let mut state = loop {
            match self.enroll(&shared).await {
                Ok(state) => break state,
                Err(_) => {
                    if !pause(&mut stop, shared.interval).await {
                        return;
                    }
                }
            }
        };
        shared
            .stats
            .enrolled
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut checked_flips_at = shared.started.elapsed();
        let mut round: u64 = 0;
        let due = |at: Option<Instant>, every: Duration| at.is_none_or(|t| t.elapsed() >= every);
        loop {
            round += 1;
            if shared.agent == Agent::Fleetd {
                if due(state.orbit_config_at, ORBIT_CONFIG_EVERY) {
                    let _ = self.poll_orbit_config(&shared, &mut state).await;
                }
                if state
                    .token_registered
                    .is_some_and(|t| t.elapsed() >= DEVICE_TOKEN_ROTATION)
                {
                    let _ = self.rotate_device_token(&shared, &mut state).await;
                } else if state.token_registered.is_none() {
                    let _ = self.register_device_token(&shared, &mut state).await;
                }
                if state.token_registered.is_some() && due(state.desktop_at, DESKTOP_EVERY) {
                    let _ = self.poll_desktop(&shared, &mut state).await;
                }
                let now = shared.started.elapsed();
                if self.flipped(&shared, checked_flips_at, now) {
                    // The end user presses Refetch on "My device" after fixing (or breaking) something.
                    let path = format!(
                        "{}/{}/refetch",
                        Endpoint::Device.path(),
                        self.device_token()
                    );
                    let _ = desktop(&shared, reqwest::Method::POST, &path).await;
                }
                checked_flips_at = now;
            }
            match self.check_in(&shared, &state.node_key).await {
                Err(CallError::NodeInvalid) => {
                    let _ = self.enroll_osquery(&shared, &mut state).await;
                }
                Err(CallError::Other) | Ok(()) => {}
            }
            if round.is_multiple_of(6) {
                self.send_logs(&shared, &state).await;
            }
            if !pause(&mut stop, state.interval(&shared)).await {
                return;
            }
        }
    }

    async fn check_in(&self, shared: &Shared, node_key: &str) -> Result<(), CallError> {
        let read = osquery(
            shared,
            Endpoint::DistributedRead,
            &json!({"node_key": node_key}),
            false,
        )
        .await?;
        if let Some(write) = self.answer(shared, node_key, &read).await? {
            osquery(shared, Endpoint::DistributedWrite, &write, false).await?;
        }
        Ok(())
    }
}

/// The scheduled queries of an osquery config, named as osquery logs them.
fn scheduled_queries(config: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for (pack, body) in config
        .get("packs")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for query in body
            .get("queries")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(name, _)| name)
        {
            names.push(format!("pack/{pack}/{query}"));
        }
    }
    names
}

impl From<CallError> for SimError {
    fn from(_: CallError) -> Self {
        SimError::Protocol
    }
}
