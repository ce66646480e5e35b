//! osquery's remote API (its TLS plugins): what the server answers.

use flotilla_core::gitops::{QueryDef, QueryLogging};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Serialize)]
pub struct EnrollResponse {
    pub node_key: String,
}

/// `distributed/read`: queries to run now, by name, and for each the
/// discovery query that decides whether it runs on this host.
#[derive(Debug, Serialize, Default)]
pub struct DistributedReadResponse {
    pub queries: BTreeMap<String, String>,
    pub discovery: BTreeMap<String, String>,
    pub accelerate: u32,
}

/// `config`: the admin's osquery configuration (options, decorators and
/// whatever else osquery reads, passed on as given) with the scheduled saved
/// queries as packs, named as Fleet names them (`Global`, `team-<id>`,
/// `No team`).
#[derive(Debug, Serialize)]
pub struct OsqueryConfig {
    #[serde(flatten)]
    pub config: Map<String, Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub packs: BTreeMap<String, Pack>,
}

impl OsqueryConfig {
    /// The admin's config with these packs; empty packs are left out, and
    /// packs the admin wrote give way to Flotilla's when there are any.
    pub fn new(config: Value, packs: Vec<(String, Option<Pack>)>) -> OsqueryConfig {
        let mut config = match config {
            Value::Object(config) => config,
            _ => Map::new(),
        };
        let packs: BTreeMap<String, Pack> = packs
            .into_iter()
            .filter_map(|(name, pack)| pack.map(|p| (name, p)))
            .collect();
        if !packs.is_empty() {
            config.remove("packs");
        }
        OsqueryConfig { config, packs }
    }
}

/// One pack: its queries by name.
#[derive(Debug, Serialize)]
pub struct Pack {
    pub queries: BTreeMap<String, ScheduledQuery>,
}

impl Pack {
    /// A pack of these queries; `None` when there are none.
    pub fn of<'a>(queries: impl IntoIterator<Item = &'a QueryDef>) -> Option<Pack> {
        let queries: BTreeMap<String, ScheduledQuery> = queries
            .into_iter()
            .map(|q| (q.name.clone(), ScheduledQuery::from(q)))
            .collect();
        (!queries.is_empty()).then_some(Pack { queries })
    }
}

/// A scheduled query as osquery's pack format has it.
#[derive(Debug, Serialize)]
pub struct ScheduledQuery {
    pub query: String,
    pub interval: i64,
    /// Every run logs all rows.
    pub snapshot: bool,
    /// Differential logging includes removed rows.
    pub removed: bool,
    /// The lowest osquery version that runs it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl From<&QueryDef> for ScheduledQuery {
    fn from(query: &QueryDef) -> ScheduledQuery {
        ScheduledQuery {
            query: query.query.clone(),
            interval: query.interval,
            snapshot: query.logging == QueryLogging::Snapshot,
            removed: query.logging == QueryLogging::Differential,
            version: (!query.min_osquery_version.is_empty())
                .then(|| query.min_osquery_version.clone()),
        }
    }
}

/// Every refusal of an agent request: osquery retries what carries `error`,
/// and enrolls again when `node_invalid` is true.
#[derive(Debug, Serialize)]
pub struct AgentErrorBody {
    pub error: String,
    pub node_invalid: bool,
}

/// `carve/begin`: where the blocks go.
#[derive(Debug, Deserialize)]
pub struct CarveBeginBody {
    #[serde(default)]
    pub node_key: String,
    pub block_count: i64,
    pub block_size: i64,
    pub carve_size: i64,
    #[serde(default)]
    pub carve_id: String,
    #[serde(default)]
    pub request_id: String,
}

#[derive(Debug, Serialize)]
pub struct CarveBeginResponse {
    pub session_id: String,
    pub success: bool,
}

/// `carve/block`: one block, base64 in `data`. osquery authenticates blocks
/// by the session id `carve/begin` gave it.
#[derive(Debug, Deserialize)]
pub struct CarveBlockBody {
    pub block_id: i64,
    #[serde(default)]
    pub session_id: String,
    #[serde(default)]
    pub request_id: String,
    #[serde(default)]
    pub data: String,
}

#[derive(Debug, Serialize)]
pub struct CarveBlockResponse {
    pub success: bool,
}

#[derive(Deserialize)]
pub struct EnrollBody {
    #[serde(default)]
    pub enroll_secret: String,
    #[serde(default)]
    pub host_identifier: String,
    #[serde(default)]
    pub host_details: Map<String, Value>,
}

#[derive(Deserialize)]
pub struct NodeKeyBody {
    #[serde(default)]
    pub node_key: String,
}

#[derive(Deserialize)]
pub struct DistributedWriteBody {
    #[serde(default)]
    pub node_key: String,
    #[serde(default)]
    pub queries: Map<String, Value>,
    #[serde(default)]
    pub statuses: Map<String, Value>,
}

#[derive(Deserialize)]
pub struct LogBody {
    #[serde(default)]
    pub node_key: String,
    #[serde(default)]
    pub log_type: String,
    #[serde(default)]
    pub data: Vec<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(name: &str, logging: QueryLogging, version: &str) -> QueryDef {
        QueryDef {
            name: name.into(),
            query: format!("SELECT '{name}';"),
            interval: 60,
            logging,
            min_osquery_version: version.into(),
            ..QueryDef::default()
        }
    }

    #[test]
    fn packs_carry_osquerys_logging_flags_and_only_appear_when_there_are_some() {
        let queries = [
            query("usb", QueryLogging::Snapshot, "5.0.1"),
            query("changes", QueryLogging::Differential, ""),
        ];
        let options = json!({"options": {"a": 1}, "packs": {"admin": {}}});
        let config = OsqueryConfig::new(
            options.clone(),
            vec![
                ("Global".into(), Pack::of(&queries)),
                ("team-3".into(), None),
            ],
        );
        let config = serde_json::to_value(config).unwrap();
        assert_eq!(config["options"], json!({"a": 1}));
        assert_eq!(
            config["packs"],
            json!({"Global": {"queries": {
                "usb": {"query": "SELECT 'usb';", "interval": 60, "snapshot": true, "removed": false, "version": "5.0.1"},
                "changes": {"query": "SELECT 'changes';", "interval": 60, "snapshot": false, "removed": true},
            }}})
        );
        let without = OsqueryConfig::new(options.clone(), vec![("Global".into(), Pack::of(&[]))]);
        assert_eq!(serde_json::to_value(without).unwrap(), options);
    }
}
