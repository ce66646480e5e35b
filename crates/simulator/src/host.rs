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
/// fleetd refreshes its device token well before the server's one-hour expiry.
const DEVICE_TOKEN_REFRESH: Duration = Duration::from_secs(600);

/// What every host of a run shares.
pub struct Shared {
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
    pub device_token: String,
    pub asked: Mutex<Asked>,
}

impl SimHost {
    pub fn new(identity: Identity, seed: u64) -> SimHost {
        let token = format!(
            "{:016x}{:016x}",
            mix(seed, identity.index, "device-token-a"),
            mix(seed, identity.index, "device-token-b")
        );
        SimHost {
            identity,
            device_token: token,
            asked: Mutex::default(),
        }
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

async fn call(
    shared: &Shared,
    endpoint: Endpoint,
    path: &str,
    body: &Value,
) -> Result<Value, CallError> {
    let _permit = shared
        .in_flight
        .acquire()
        .await
        .map_err(|_| CallError::Other)?;
    let started = Instant::now();
    let result = shared
        .client
        .post(format!("{}{path}", shared.server))
        .json(body)
        .send()
        .await;
    let outcome = match result {
        Ok(response) if response.status().is_success() => {
            response.json::<Value>().await.map_err(|_| CallError::Other)
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

async fn get(shared: &Shared, endpoint: Endpoint, path: &str) -> Result<Value, CallError> {
    let _permit = shared
        .in_flight
        .acquire()
        .await
        .map_err(|_| CallError::Other)?;
    let started = Instant::now();
    let result = shared
        .client
        .get(format!("{}{path}", shared.server))
        .send()
        .await;
    let outcome = match result {
        Ok(response) if response.status().is_success() => {
            response.json::<Value>().await.map_err(|_| CallError::Other)
        }
        _ => Err(CallError::Other),
    };
    shared
        .stats
        .record(endpoint, started.elapsed(), outcome.is_ok());
    outcome
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

struct Keys {
    orbit: String,
    node: String,
}

impl SimHost {
    fn host_details(&self) -> Value {
        let id = &self.identity;
        json!({
            "os_version": self.os_version_row(),
            "osquery_info": {"version": "5.14.1", "uuid": id.uuid, "build_platform": "darwin"},
            "system_info": self.system_info_row(),
            "platform_info": {"vendor": "Apple Inc."}
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
            "computer_name": id.computer_name, "cpu_brand": "Apple M3", "physical_memory": "17179869184"
        })
    }

    async fn enroll(&self, shared: &Shared) -> Result<Keys, CallError> {
        let id = &self.identity;
        let orbit = call(
            shared,
            Endpoint::OrbitEnroll,
            Endpoint::OrbitEnroll.path(),
            &json!({
                "enroll_secret": shared.enroll_secret, "hardware_uuid": id.uuid, "hardware_serial": id.serial,
                "hostname": id.hostname, "platform": "darwin", "computer_name": id.computer_name,
                "hardware_model": id.hardware_model
            }),
        )
        .await?;
        let orbit_key = text_field(&orbit, "orbit_node_key").ok_or(CallError::Other)?;
        self.register_device_token(shared, &orbit_key).await?;
        call(
            shared,
            Endpoint::OrbitConfig,
            Endpoint::OrbitConfig.path(),
            &json!({"orbit_node_key": orbit_key}),
        )
        .await?;
        let node_key = self.enroll_osquery(shared).await?;
        Ok(Keys {
            orbit: orbit_key,
            node: node_key,
        })
    }

    async fn enroll_osquery(&self, shared: &Shared) -> Result<String, CallError> {
        let enrolled = call(
            shared,
            Endpoint::Enroll,
            Endpoint::Enroll.path(),
            &json!({
                "enroll_secret": shared.enroll_secret, "host_identifier": self.identity.uuid,
                "platform_type": "21", "host_details": self.host_details()
            }),
        )
        .await?;
        let node_key = text_field(&enrolled, "node_key").ok_or(CallError::Other)?;
        call(
            shared,
            Endpoint::Config,
            Endpoint::Config.path(),
            &json!({"node_key": node_key}),
        )
        .await?;
        Ok(node_key)
    }

    async fn register_device_token(
        &self,
        shared: &Shared,
        orbit_key: &str,
    ) -> Result<(), CallError> {
        call(
            shared,
            Endpoint::DeviceToken,
            Endpoint::DeviceToken.path(),
            &json!({"orbit_node_key": orbit_key, "device_auth_token": self.device_token}),
        )
        .await
        .map(|_| ())
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
        let path = format!("{}/{}/policies", Endpoint::Device.path(), self.device_token);
        let body = get(shared, Endpoint::Device, &path).await?;
        let policies = body
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
            "osquery_info" => {
                json!([{"version": "5.14.1", "uuid": id.uuid, "build_platform": "darwin"}])
            }
            "system_info" => json!([self.system_info_row()]),
            "uptime" => {
                let base = mix(shared.seed, id.index, "uptime") % (30 * 86_400);
                json!([{"total_seconds": (base + elapsed.as_secs()).to_string()}])
            }
            "mdm" => {
                if shared.scenario.mdm_enrolled(shared.seed, id.index) {
                    json!([{"enrolled": "true", "server_url": format!("{}/mdm/apple/mdm", shared.server),
                            "installed_from_dep": "false", "payload_identifier": "com.flotilla.mdm"}])
                } else {
                    json!([{"enrolled": "false", "server_url": "", "installed_from_dep": "false", "payload_identifier": ""}])
                }
            }
            _ => json!(""),
        }
    }

    /// The Platform SSO row, when the host is registered with Entra.
    fn entra_rows(&self, shared: &Shared) -> Value {
        match shared.scenario.entra_upn(shared.seed, self.index()) {
            Some(upn) => {
                json!([{"device_id": self.entra_device_id(shared), "user_principal_name": upn}])
            }
            None => json!(""),
        }
    }

    pub fn entra_device_id(&self, shared: &Shared) -> String {
        let a = mix(shared.seed, self.index(), "entra-device-a");
        let b = mix(shared.seed, self.index(), "entra-device-b");
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0xFFF,
            (b >> 52) & 0xFFF,
            b & 0xFFFF_FFFF_FFFF
        )
    }

    /// Answers one distributed read: the body of the distributed write.
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
        let mut asked = self.asked.lock().map_err(|_| CallError::Other)?;
        for (name, sql) in &queries {
            let sql = sql.as_str().unwrap_or_default();
            let (rows, status) = if let Some(id) = name
                .strip_prefix(POLICY_PREFIX)
                .and_then(|i| i.parse::<i64>().ok())
            {
                let policy_name = names.get(&id).cloned();
                let answer = self.policy_answer(shared, policy_name.as_deref(), sql, elapsed);
                asked.policies.insert(id, (policy_name, sql.to_string()));
                match answer {
                    Answer::Pass => (json!([{"1": "1"}]), 0),
                    Answer::Fail => (json!(""), 0),
                    Answer::Error => {
                        messages.insert(name.clone(), json!("no such table: simulated_failure"));
                        (json!(""), 1)
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
                        json!("")
                    },
                    0,
                )
            } else if sql.contains("app_sso_platform") {
                (self.entra_rows(shared), 0)
            } else if let Some(detail) = name.strip_prefix(DETAIL_PREFIX) {
                (self.detail_rows(shared, detail, elapsed), 0)
            } else {
                (json!(""), 0)
            };
            results.insert(name.clone(), rows);
            statuses.insert(name.clone(), json!(status));
        }
        drop(asked);
        Ok(Some(json!({
            "node_key": node_key, "queries": results, "statuses": statuses, "messages": messages, "stats": {}
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

    /// Runs until `stop` turns true.
    pub async fn run(self: Arc<Self>, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
        // Spread hosts over one interval, as real fleets are.
        let offset = Duration::from_millis(
            mix(shared.seed, self.index(), "start") % shared.interval.as_millis().max(1) as u64,
        );
        if !pause(&mut stop, offset).await {
            return;
        }
        let mut keys = loop {
            match self.enroll(&shared).await {
                Ok(keys) => break keys,
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
        let mut token_refreshed = Instant::now();
        let mut checked_flips_at = shared.started.elapsed();
        let mut round: u64 = 0;
        loop {
            round += 1;
            if token_refreshed.elapsed() >= DEVICE_TOKEN_REFRESH
                && self
                    .register_device_token(&shared, &keys.orbit)
                    .await
                    .is_ok()
            {
                token_refreshed = Instant::now();
            }
            let now = shared.started.elapsed();
            if self.flipped(&shared, checked_flips_at, now) {
                // The end user presses Refetch on "My device" after fixing (or breaking) something.
                let path = format!("{}/{}/refetch", Endpoint::Device.path(), self.device_token);
                let _ = call(&shared, Endpoint::Device, &path, &json!({})).await;
            }
            checked_flips_at = now;
            match self.check_in(&shared, &keys.node).await {
                Err(CallError::NodeInvalid) => {
                    if let Ok(node) = self.enroll_osquery(&shared).await {
                        keys.node = node;
                    }
                }
                Err(CallError::Other) | Ok(()) => {}
            }
            if round.is_multiple_of(6) {
                let _ = call(
                    &shared,
                    Endpoint::OrbitConfig,
                    Endpoint::OrbitConfig.path(),
                    &json!({"orbit_node_key": keys.orbit}),
                )
                .await;
                let status = json!({"node_key": keys.node, "log_type": "status", "data": [
                    {"severity": "0", "filename": "distributed.cpp", "line": "120", "message": "Executing distributed query", "version": "5.14.1"}
                ]});
                let _ = call(&shared, Endpoint::Log, Endpoint::Log.path(), &status).await;
            }
            if !pause(&mut stop, shared.interval).await {
                return;
            }
        }
    }

    async fn check_in(&self, shared: &Shared, node_key: &str) -> Result<(), CallError> {
        let read = call(
            shared,
            Endpoint::DistributedRead,
            Endpoint::DistributedRead.path(),
            &json!({"node_key": node_key}),
        )
        .await?;
        if let Some(write) = self.answer(shared, node_key, &read).await? {
            call(
                shared,
                Endpoint::DistributedWrite,
                Endpoint::DistributedWrite.path(),
                &write,
            )
            .await?;
        }
        Ok(())
    }
}

impl From<CallError> for SimError {
    fn from(_: CallError) -> Self {
        SimError::Protocol
    }
}
