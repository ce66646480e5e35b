//! osquery's remote API (its TLS plugins): what the server answers.

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

/// An unknown or missing node key: the agent enrolls again.
#[derive(Debug, Serialize)]
pub struct NodeInvalid {
    pub error: &'static str,
    pub node_invalid: bool,
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
