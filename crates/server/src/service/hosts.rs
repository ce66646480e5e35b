//! Hosts: list, count, details, delete, transfer, refetch. A host is visible
//! to whoever may read its team; to anyone else it does not exist.

use super::{Caller, ServiceError, ServiceResult};
use crate::AppState;
use flotilla_core::access::Scope;
use flotilla_core::activity::ActivityType;
use flotilla_core::{HostId, TeamId};
use flotilla_store::{
    ComplianceFacts, ComplianceReport, EntraClaim, HostFilter, HostPolicy, HostRecord, LabelRecord,
    Page, TeamFilter,
};
use serde_json::json;
use std::collections::HashMap;

/// One host with what its page shows.
pub struct HostDetails {
    pub host: HostRecord,
    pub labels: Vec<LabelRecord>,
    pub policies: Vec<HostPolicy>,
    /// Reports of this host's Entra device id by another host, or by it of another's.
    pub entra_claims: Vec<EntraClaim>,
}

/// `filter` narrowed to the teams the caller may see.
fn visible(caller: &Caller, filter: HostFilter) -> ServiceResult<HostFilter> {
    match filter.team {
        TeamFilter::Any => {}
        TeamFilter::NoTeam => caller.require_read(Scope::NoTeam)?,
        TeamFilter::Team(team) => caller.require_read(Scope::Team(team))?,
    }
    Ok(HostFilter {
        visible_teams: caller.principal.visible_teams(),
        ..filter
    })
}

pub async fn list(
    state: &AppState,
    caller: &Caller,
    filter: HostFilter,
    page: Page,
) -> ServiceResult<Vec<HostRecord>> {
    let filter = visible(caller, filter)?;
    Ok(state.store.list_hosts(&filter, page).await?)
}

pub async fn count(state: &AppState, caller: &Caller, filter: HostFilter) -> ServiceResult<i64> {
    let filter = visible(caller, filter)?;
    Ok(state.store.count_hosts(&filter).await?)
}

fn readable(caller: &Caller, host: HostRecord) -> ServiceResult<HostRecord> {
    if caller.principal.can_read(Scope::of_team(host.team_id)) {
        Ok(host)
    } else {
        // Don't tell an outsider that the host exists.
        Err(ServiceError::NotFound("host".into()))
    }
}

pub async fn get(state: &AppState, caller: &Caller, id: HostId) -> ServiceResult<HostRecord> {
    readable(caller, state.store.host(id).await?)
}

async fn details_of(state: &AppState, host: HostRecord) -> ServiceResult<HostDetails> {
    let labels = state.store.host_labels(host.id).await?;
    let policies = state
        .store
        .host_policies(host.id, host.team_id, &host.platform)
        .await?;
    let entra_claims = state.store.entra_claims(host.id).await?;
    Ok(HostDetails {
        host,
        labels,
        policies,
        entra_claims,
    })
}

pub async fn details(state: &AppState, caller: &Caller, id: HostId) -> ServiceResult<HostDetails> {
    let host = get(state, caller, id).await?;
    details_of(state, host).await
}

/// By hostname, UUID, serial number or osquery host id.
pub async fn details_by_identifier(
    state: &AppState,
    caller: &Caller,
    identifier: &str,
) -> ServiceResult<HostDetails> {
    let host = readable(caller, state.store.host_by_identifier(identifier).await?)?;
    details_of(state, host).await
}

/// What conditional access knows of a host: its Entra identity and the
/// newest reports sent for it.
pub async fn compliance(
    state: &AppState,
    caller: &Caller,
    id: HostId,
    reports: i64,
) -> ServiceResult<(ComplianceFacts, Vec<ComplianceReport>)> {
    let host = get(state, caller, id).await?;
    let facts = state.store.compliance_facts(host.id).await?;
    let reports = state.store.compliance_reports(host.id, reports).await?;
    Ok((facts, reports))
}

/// The newest report of each listed host.
pub async fn latest_reports(
    state: &AppState,
    hosts: &[HostRecord],
) -> ServiceResult<HashMap<HostId, ComplianceReport>> {
    let ids: Vec<HostId> = hosts.iter().map(|h| h.id).collect();
    Ok(state.store.latest_compliance_reports(&ids).await?)
}

pub async fn delete(state: &AppState, caller: &Caller, id: HostId) -> ServiceResult<()> {
    let host = get(state, caller, id).await?;
    caller.require_write(Scope::of_team(host.team_id))?;
    let activity = caller.activity(
        ActivityType::DeletedHost,
        json!({ "host_id": id.0, "host_display_name": host.hostname }),
    );
    state.store.delete_host(host.id, activity).await?;
    Ok(())
}

/// Asks the host for its vitals, labels and policies at its next check-in.
pub async fn refetch(state: &AppState, caller: &Caller, id: HostId) -> ServiceResult<()> {
    let host = get(state, caller, id).await?;
    state.store.request_refetch(host.id).await?;
    Ok(())
}

/// Moves hosts to a team (`None`: "No team"). The caller must be able to
/// change both the hosts' current teams and the destination.
pub async fn transfer(
    state: &AppState,
    caller: &Caller,
    destination: Option<TeamId>,
    hosts: &[HostId],
) -> ServiceResult<()> {
    caller.require_write(Scope::of_team(destination))?;
    if let Some(team) = destination {
        state.store.team(team).await?;
    }
    for id in hosts {
        let host = get(state, caller, *id).await?;
        caller.require_write(Scope::of_team(host.team_id))?;
    }
    let activity = caller.activity(
        ActivityType::TransferredHosts,
        json!({
            "team_id": destination.map(|t| t.0),
            "host_ids": hosts.iter().map(|h| h.0).collect::<Vec<_>>(),
        }),
    );
    state
        .store
        .transfer_hosts(hosts, destination, activity)
        .await?;
    Ok(())
}
