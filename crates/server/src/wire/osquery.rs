//! osquery's remote API (its TLS plugins): what the server answers.

use serde::Serialize;
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
