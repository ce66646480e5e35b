//! osquery's remote API (TLS plugins): enroll, config, distributed read/write, log.

use super::{enroll_request_from_details, rows_of, AgentBody, AgentError, AgentJson, AgentResult};
use crate::error::ApiError;
use crate::osquery_log::LogKind;
use crate::service::agent;
use crate::wire::osquery::{DistributedReadResponse, EnrollResponse, OsqueryConfig, Pack};
use crate::wire::osquery::{DistributedWriteBody, EnrollBody, LogBody, NodeKeyBody};
use crate::wire::Empty;
use crate::AppState;
use axum::extract::{ConnectInfo, State};
use axum::Json;
use flotilla_core::access::Scope;
use flotilla_core::agent_config::{options_for_platform, pack_name, scheduled_on};
use flotilla_core::detail::{detail_queries_for, VitalsUpdate, ENTRA_IDENTITY_QUERY};
use flotilla_core::query_name::QueryName;
use flotilla_core::schedule::due_queries;
use flotilla_core::{LabelOutcome, PolicyResponse, QueryOutcome};
use flotilla_store::{AgentKind, AgentWrite};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::SocketAddr;

pub async fn enroll(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    AgentJson(body): AgentJson<EnrollBody>,
) -> AgentResult<Json<EnrollResponse>> {
    let request = enroll_request_from_details(&body.host_identifier, &body.host_details);
    let node_key = agent::enroll(
        &state,
        AgentKind::Osquery,
        client.ip(),
        &body.enroll_secret,
        request,
    )
    .await?;
    Ok(Json(EnrollResponse { node_key }))
}

/// The osquery options every host gets unless the admin sets `agent_options`.
pub fn default_agent_config() -> Value {
    json!({
        "options": {
            "pack_delimiter": "/",
            "logger_tls_period": 10,
            "distributed_plugin": "tls",
            "disable_distributed": false,
            "logger_tls_endpoint": "/api/osquery/log",
            "distributed_interval": 10,
            "distributed_tls_max_attempts": 3
        },
        "decorators": {
            "load": [
                "SELECT uuid AS host_uuid FROM system_info;",
                "SELECT hostname AS hostname FROM system_info;"
            ]
        }
    })
}

pub async fn config(
    State(state): State<AppState>,
    AgentJson(body): AgentJson<NodeKeyBody>,
) -> AgentResult<Json<OsqueryConfig>> {
    let host = agent::authenticate(&state, AgentKind::Osquery, &body.node_key).await?;
    let options = agent::agent_options(&state, host.team_id).await?;
    let options = options_for_platform(options.as_ref(), &host.platform, default_agent_config());
    let queries = agent::scheduled_queries(&state, host.team_id).await?;
    let pack_of = |scope: Scope| {
        let defs: Vec<_> = queries
            .iter()
            .filter(|q| q.scope == scope)
            .map(|q| q.def.clone())
            .collect();
        Pack::of(scheduled_on(&defs, &host.platform))
    };
    let team_scope = host.team_id.map_or(Scope::NoTeam, Scope::Team);
    let packs = [Scope::Global, team_scope]
        .into_iter()
        .map(|scope| (pack_name(scope), pack_of(scope)))
        .collect();
    Ok(Json(OsqueryConfig::new(options, packs)))
}

pub async fn distributed_read(
    State(state): State<AppState>,
    AgentJson(body): AgentJson<NodeKeyBody>,
) -> AgentResult<Json<DistributedReadResponse>> {
    let host = agent::authenticate(&state, AgentKind::Osquery, &body.node_key).await?;
    let now = state.now();
    let due = due_queries(
        host.id.0 as u64,
        &host.freshness,
        &state.settings.intervals,
        now,
    );
    let mut read = DistributedReadResponse::default();
    let (queries, discovery) = (&mut read.queries, &mut read.discovery);
    if due.details {
        for detail in detail_queries_for(&host.platform) {
            let name = QueryName::Detail(detail.name.to_string()).to_wire();
            if let Some(check) = detail.discovery {
                discovery.insert(name.clone(), check.to_string());
            }
            queries.insert(name, detail.sql.to_string());
        }
        // Only hosts whose team reports to Entra are asked who they are there.
        let identity = &ENTRA_IDENTITY_QUERY;
        if identity.runs_on(&host.platform) && agent::reports_to_entra(&state, host.team_id).await?
        {
            let name = QueryName::Detail(identity.name.to_string()).to_wire();
            if let Some(check) = identity.discovery {
                discovery.insert(name.clone(), check.to_string());
            }
            queries.insert(name, identity.sql.to_string());
        }
    }
    let mut nothing_to_ask = AgentWrite::default();
    if due.labels {
        let mut sent = false;
        for label in agent::labels_to_ask(&state, &host).await? {
            queries.insert(QueryName::Label(label.id).to_wire(), label.query);
            sent = true;
        }
        nothing_to_ask.labels_answered = !sent;
    }
    if due.policies {
        let mut sent = false;
        for policy in agent::policies_to_ask(&state, &host).await? {
            queries.insert(QueryName::Policy(policy.id).to_wire(), policy.query);
            sent = true;
        }
        nothing_to_ask.policies_answered = !sent;
    }
    // A kind with nothing to ask is up to date now; otherwise it would be
    // looked up again on every check-in.
    if nothing_to_ask.labels_answered || nothing_to_ask.policies_answered {
        agent::record_results(&state, &host, &nothing_to_ask).await?;
    }
    Ok(Json(read))
}

/// Reads a distributed write into the changes it makes.
fn interpret_write(body: &DistributedWriteBody) -> AgentWrite {
    let names: BTreeSet<&String> = body.queries.keys().chain(body.statuses.keys()).collect();
    let mut write = AgentWrite::default();
    let mut vitals = VitalsUpdate::default();
    for name in names {
        let Some(query) = QueryName::parse(name) else {
            continue;
        };
        let rows = body.queries.get(name).map(rows_of).unwrap_or_default();
        let outcome = QueryOutcome::from_status(body.statuses.get(name), rows.len());
        match query {
            QueryName::Detail(detail) => {
                write.details_answered = true;
                if matches!(outcome, QueryOutcome::Ran { .. }) {
                    vitals.absorb(&detail, &rows);
                }
            }
            QueryName::Label(label) => {
                write.labels_answered = true;
                write
                    .labels
                    .push((label, LabelOutcome::from_outcome(outcome)));
            }
            QueryName::Policy(policy) => {
                write.policies_answered = true;
                write
                    .policies
                    .push((policy, PolicyResponse::from_outcome(outcome)));
            }
        }
    }
    write.vitals = Some(vitals);
    write
}

/// The node key is checked before the results are parsed.
/// More queries than any host is ever sent at once (details, every label
/// and policy of its scope, live queries), with room to spare.
const MAX_QUERIES_PER_WRITE: usize = 10_000;

pub async fn distributed_write(
    State(state): State<AppState>,
    body: AgentBody,
) -> AgentResult<Json<Empty>> {
    let host = agent::authenticate(&state, AgentKind::Osquery, &body.node_key()?).await?;
    let body: DistributedWriteBody = body.parse().await?;
    if body.queries.len().max(body.statuses.len()) > MAX_QUERIES_PER_WRITE {
        return Err(AgentError::Malformed(format!(
            "a distributed write answers at most {MAX_QUERIES_PER_WRITE} queries"
        )));
    }
    let write = interpret_write(&body);
    agent::record_results(&state, &host, &write).await?;
    Ok(Json(Empty {}))
}

/// Result and status logs, kept where `--osquery-log-destination` says.
/// The node key is checked before the log entries are parsed.
pub async fn log(State(state): State<AppState>, body: AgentBody) -> AgentResult<Json<Empty>> {
    let host = agent::authenticate(&state, AgentKind::Osquery, &body.node_key()?).await?;
    let body: LogBody = body.parse().await?;
    let Some(kind) = LogKind::parse(&body.log_type) else {
        return Err(ApiError::invalid(
            "log_type",
            format!(
                "unknown log type \"{}\"; use result or status",
                body.log_type
            ),
        )
        .into());
    };
    agent::record_logs(&state, &host, kind, body.data).await?;
    Ok(Json(Empty {}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_core::{LabelId, PolicyId};

    fn write_of(value: Value) -> AgentWrite {
        let body: DistributedWriteBody = serde_json::from_value(value).unwrap();
        interpret_write(&body)
    }

    #[test]
    fn a_write_is_read_by_the_pass_fail_unknown_rule() {
        let write = write_of(json!({
            "node_key": "k",
            "queries": {
                "fleet_policy_query_1": [{"1": "1"}],
                "fleet_policy_query_2": "",
                "fleet_policy_query_3": "",
                "fleet_label_query_9": [{"1": "1"}],
                "fleet_detail_query_os_version": [{"name": "macOS", "version": "15.1", "platform": "darwin"}],
                "something_else": []
            },
            "statuses": {"fleet_policy_query_1": 0, "fleet_policy_query_2": 0, "fleet_policy_query_3": 1}
        }));
        assert_eq!(
            write.policies,
            vec![
                (PolicyId(1), PolicyResponse::Pass),
                (PolicyId(2), PolicyResponse::Fail),
                (PolicyId(3), PolicyResponse::Unknown)
            ]
        );
        assert_eq!(write.labels, vec![(LabelId(9), LabelOutcome::Member)]);
        assert!(write.details_answered && write.labels_answered && write.policies_answered);
        assert_eq!(
            write.vitals.unwrap().os_version.as_deref(),
            Some("macOS 15.1")
        );
    }

    #[test]
    fn a_failed_query_with_no_results_entry_still_counts() {
        let write = write_of(
            json!({"node_key": "k", "queries": {}, "statuses": {"fleet_policy_query_4": 1}}),
        );
        assert_eq!(write.policies, vec![(PolicyId(4), PolicyResponse::Unknown)]);
        assert!(!write.details_answered);
    }
}
