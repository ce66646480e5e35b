//! What agents (osquery, fleetd) do: enroll, be recognised by their keys,
//! read what to ask and what options to run with, and report results. The
//! protocol's shapes stay in `agent/`; the data and its rules are here.

use super::{ServiceError, ServiceResult};
use crate::osquery_log::LogKind;
use crate::secrets::random_token;
use crate::AppState;
use flotilla_core::access::Scope;
use flotilla_core::agent_config::{
    report_change, scheduled_query_of_log, OrbitOptions, ReportChange,
};
use flotilla_core::targeting::label_scope_applies;
use flotilla_core::validation::validate_email;
use flotilla_core::{LabelId, PolicyId, TeamId};
use flotilla_store::{
    AgentHost, AgentKind, AgentWrite, EnrollRequest, LabelRecord, PolicyRecord, SavedQuery,
    StoreError,
};
use serde_json::Value;
use std::collections::HashSet;
use std::net::IpAddr;

/// Enrolls a host with an enroll secret (which decides its team); returns
/// the new node key. An unknown secret is `NodeInvalid`.
pub async fn enroll(
    state: &AppState,
    kind: AgentKind,
    client: IpAddr,
    secret: &str,
    mut request: EnrollRequest,
) -> ServiceResult<String> {
    if !state.enroll_limiter.allow(client, secret, state.now()) {
        return Err(ServiceError::Throttled);
    }
    request.team = match state.store.team_for_secret(secret).await {
        Ok(team) => team,
        Err(StoreError::NotFound(_)) => {
            return Err(ServiceError::NodeInvalid("invalid enroll secret"))
        }
        Err(err) => return Err(err.into()),
    };
    if request.uuid.trim().is_empty() || request.uuid.len() > MAX_IDENTIFIER_BYTES {
        return Err(ServiceError::invalid(
            "hardware_uuid",
            "a hardware UUID (or host identifier) of at most 255 bytes is required",
        ));
    }
    // What a host says about itself is kept at identifier length.
    for field in [
        &mut request.osquery_host_id,
        &mut request.hostname,
        &mut request.computer_name,
        &mut request.hardware_serial,
        &mut request.hardware_model,
        &mut request.platform,
        &mut request.os_version,
        &mut request.osquery_version,
    ] {
        truncate_at_char(field, MAX_IDENTIFIER_BYTES);
    }
    let key = random_token(24);
    let enrolled = state.store.enroll_host(kind, &request, &key).await?;
    match enrolled.duplicate_of {
        None => tracing::info!(host = %enrolled.id, uuid = %request.uuid, ?kind, "agent enrolled"),
        Some(original) => tracing::warn!(
            host = %enrolled.id, %original, uuid = %request.uuid, ?kind,
            "an agent enrolled with another host's hardware UUID and no proof; kept apart as a duplicate"
        ),
    }
    Ok(key)
}

/// The longest identifier (UUID, hostname, serial…) a host's record keeps.
pub const MAX_IDENTIFIER_BYTES: usize = 255;

/// Cuts `text` to at most `max` bytes, on a character boundary.
fn truncate_at_char(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

/// The host a node key (osquery) or orbit node key (fleetd) belongs to;
/// marks it seen. A missing or unknown key is `NodeInvalid`.
pub async fn authenticate(
    state: &AppState,
    kind: AgentKind,
    key: &str,
) -> ServiceResult<AgentHost> {
    if key.is_empty() {
        return Err(ServiceError::NodeInvalid("missing node key"));
    }
    let host = state
        .store
        .agent_host(kind, key)
        .await?
        .ok_or(ServiceError::NodeInvalid("invalid node key"))?;
    state.seen.mark(host.id);
    Ok(host)
}

/// Keeps a batch of osquery's logs.
pub async fn record_logs(
    state: &AppState,
    host: &AgentHost,
    kind: LogKind,
    entries: Vec<Value>,
) -> ServiceResult<()> {
    tracing::debug!(host = %host.id, ?kind, entries = entries.len(), "agent log");
    if kind == LogKind::Result {
        let changes = report_changes(state, host, &entries).await?;
        state.store.record_query_results(host.id, &changes).await?;
    }
    state
        .osquery_logs
        .write(kind, entries)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "osquery log could not be written");
            ServiceError::Internal
        })
}

/// What a batch of result logs changes in the host's query reports: entries
/// of the saved queries the host runs (global ones and its team's).
async fn report_changes(
    state: &AppState,
    host: &AgentHost,
    entries: &[Value],
) -> ServiceResult<Vec<(i64, ReportChange)>> {
    let named: Vec<(Scope, &str, ReportChange)> = entries
        .iter()
        .filter_map(|entry| {
            let name = entry.get("name")?.as_str()?;
            let (scope, query) = scheduled_query_of_log(name)?;
            Some((scope, query, report_change(entry)?))
        })
        .collect();
    if named.is_empty() {
        return Ok(Vec::new());
    }
    let queries = scheduled_queries(state, host.team_id).await?;
    Ok(named
        .into_iter()
        .filter_map(|(scope, name, change)| {
            let query = queries
                .iter()
                .find(|q| q.scope == scope && q.def.name == name)?;
            Some((query.id, change))
        })
        .collect())
}

/// Keeps what orbit announced in `X-Fleet-Capabilities`, when it changed.
pub async fn note_capabilities(
    state: &AppState,
    host: &AgentHost,
    announced: &str,
) -> ServiceResult<()> {
    if host.orbit_capabilities != announced {
        state
            .store
            .set_orbit_capabilities(host.id, announced)
            .await?;
    }
    Ok(())
}

/// What orbit runs with: the parts of the host's agent options meant for it.
pub async fn orbit_options(state: &AppState, host: &AgentHost) -> ServiceResult<OrbitOptions> {
    let options = agent_options(state, host.team_id).await?;
    Ok(flotilla_core::agent_config::orbit_options(options.as_ref()))
}

/// The end user's email as orbit reports it (Fleet's "custom" device mapping).
pub async fn set_end_user_email(
    state: &AppState,
    host: &AgentHost,
    email: &str,
) -> ServiceResult<()> {
    let email = email.trim();
    if email.len() > 320 || (!email.is_empty() && validate_email(email).is_err()) {
        return Err(ServiceError::invalid("email", "not an email address"));
    }
    Ok(state.store.set_end_user_email(host.id, email).await?)
}

/// The agent options a host runs with: its team's, else the org's.
pub async fn agent_options(state: &AppState, team: Option<TeamId>) -> ServiceResult<Option<Value>> {
    let team_options = match team {
        Some(team) => state
            .store
            .team_settings(team)
            .await?
            .agent_options()
            .cloned(),
        None => None,
    };
    Ok(match team_options {
        Some(options) => Some(options),
        None => state
            .store
            .org_settings()
            .await?
            .and_then(|org| org.agent_options().cloned()),
    })
}

/// The saved queries a host of this team runs on a schedule (global and its team's).
pub async fn scheduled_queries(
    state: &AppState,
    team: Option<TeamId>,
) -> ServiceResult<Vec<SavedQuery>> {
    Ok(state.store.saved_queries_for_team(team).await?)
}

/// Whether the host's team reports to Entra (so the host is asked who it is there).
pub async fn reports_to_entra(state: &AppState, team: Option<TeamId>) -> ServiceResult<bool> {
    Ok(
        crate::conditional_access::reporting_tenant(&state.store, team)
            .await?
            .is_some(),
    )
}

/// The dynamic labels a host of this platform is asked about.
pub async fn labels_to_ask(state: &AppState, host: &AgentHost) -> ServiceResult<Vec<LabelRecord>> {
    Ok(state
        .store
        .dynamic_labels()
        .await?
        .into_iter()
        .filter(|l| l.platform.targets_host(&host.platform))
        .collect())
}

/// The policies a host is asked: global and its team's, for its platform
/// and within each policy's label scope.
pub async fn policies_to_ask(
    state: &AppState,
    host: &AgentHost,
) -> ServiceResult<Vec<PolicyRecord>> {
    let policies = state.store.policies_for_team(host.team_id).await?;
    let labels = state
        .store
        .label_names_for_targeting(host.id, &policies)
        .await?;
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    Ok(policies
        .into_iter()
        .filter(|p| {
            p.platform.targets_host(&host.platform) && label_scope_applies(&p.labels, &labels)
        })
        .collect())
}

/// Stores what a distributed write reported, in one transaction (which also
/// marks the host for its verdict).
///
/// Only answers to what the host is asked count: results for labels that
/// aren't dynamic labels of its platform (manual and built-in labels), or
/// for policies outside its team and scope, are dropped, so an agent can't
/// add itself to an admin's manual label or report on another team's policy.
pub async fn record_results(
    state: &AppState,
    host: &AgentHost,
    write: &AgentWrite,
) -> ServiceResult<()> {
    let mut write = write.clone();
    if !write.labels.is_empty() {
        let asked: HashSet<LabelId> = labels_to_ask(state, host)
            .await?
            .iter()
            .map(|l| l.id)
            .collect();
        write.labels.retain(|(id, _)| asked.contains(id));
    }
    if !write.policies.is_empty() {
        let asked: HashSet<PolicyId> = policies_to_ask(state, host)
            .await?
            .iter()
            .map(|p| p.id)
            .collect();
        write.policies.retain(|(id, _)| asked.contains(id));
    }
    Ok(state.store.apply_agent_write(host.id, &write).await?)
}

/// Registers (or refreshes) the Fleet Desktop token of a fleetd host.
pub async fn set_device_token(
    state: &AppState,
    host: &AgentHost,
    token: &str,
) -> ServiceResult<()> {
    let token = token.trim();
    if token.len() < 16 || token.len() > 512 {
        return Err(ServiceError::invalid(
            "device_auth_token",
            "device token must be 16 to 512 characters",
        ));
    }
    // Each new token is a question "is this someone else's?" (a collision
    // answers yes): fleetd rotates hourly, so a few new tokens per host per
    // hour are plenty and guessing stays hopeless.
    let now = state.now();
    if state.device_token_changes.is_blocked(host.id, now) {
        return Err(ServiceError::Throttled);
    }
    state.device_token_changes.record(host.id, token, now);
    Ok(state.store.set_device_token(host.id, token).await?)
}

#[cfg(test)]
mod tests {
    use super::truncate_at_char;

    #[test]
    fn long_identifiers_are_cut_on_a_character_boundary() {
        let mut name = "é".repeat(200);
        truncate_at_char(&mut name, 255);
        assert_eq!(name.len(), 254);
        let mut short = "mac-1".to_string();
        truncate_at_char(&mut short, 255);
        assert_eq!(short, "mac-1");
    }
}
