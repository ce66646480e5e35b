//! Conditional access with Entra: activating the tenant and deciding each
//! host's verdict (queued in the outbox for `workers::reporter`).
//!
//! Verdicts are queued in the database (the outbox), so every replica can
//! deliver them and none is lost on a restart; a replica that queues one
//! wakes its own reporter at once, the others find it on their next poll.

use crate::AppState;
use flotilla_core::compliance::{counted_policies, needs_report, verdict, CandidatePolicy};
use flotilla_core::targeting::label_scope_applies;
use flotilla_core::{HostId, TeamId};
use flotilla_microsoft::{MicrosoftClient, MicrosoftError};
use flotilla_store::{IntegrationStatus, Store, StoreError};
use std::sync::Arc;
use tokio::sync::Notify;

/// Microsoft settings of the server.
#[derive(Clone)]
pub struct MicrosoftSettings {
    pub client: Arc<MicrosoftClient>,
    /// The Entra group the partner compliance policy is assigned to.
    pub group_name: String,
}

/// Wakes the reporter when a verdict is queued.
#[derive(Clone, Default)]
pub struct Reporter {
    wake: Arc<Notify>,
}

impl Reporter {
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }
}

/// The connected tenant, when the integration is active.
async fn active_tenant(store: &Store) -> Result<Option<String>, StoreError> {
    Ok(store
        .ms_integration()
        .await?
        .filter(|i| i.status == IntegrationStatus::Active)
        .map(|i| i.tenant_id))
}

/// Whether a tenant is connected and active (verdicts are reported).
pub async fn integration_active(store: &Store) -> Result<bool, StoreError> {
    Ok(active_tenant(store).await?.is_some())
}

/// Whether a team (or, for `None`, "No team" in org settings) has conditional access on.
pub async fn team_enabled(store: &Store, team: Option<TeamId>) -> Result<bool, StoreError> {
    Ok(match team {
        Some(team) => store.team_settings(team).await?.integrations,
        None => store.org_settings().await?.unwrap_or_default().integrations,
    }
    .conditional_access())
}

/// The tenant to report a team's hosts to, when the integration is active and
/// the team has conditional access on.
pub async fn reporting_tenant(
    store: &Store,
    team: Option<TeamId>,
) -> Result<Option<String>, StoreError> {
    let Some(tenant) = active_tenant(store).await? else {
        return Ok(None);
    };
    Ok(team_enabled(store, team).await?.then_some(tenant))
}

/// Decides a host's verdict and queues it when it changed.
pub async fn evaluate(state: &AppState, host: HostId) -> Result<(), StoreError> {
    let Some(tenant) = active_tenant(&state.store).await? else {
        return Ok(());
    };
    let facts = state.store.compliance_facts(host).await?;
    if facts.identity.is_none() || !team_enabled(&state.store, facts.team_id).await? {
        return Ok(());
    }
    let policies = state.store.policies_for_team(facts.team_id).await?;
    let labels = state
        .store
        .label_names_for_targeting(host, &policies)
        .await?;
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let candidates = policies.iter().map(|p| CandidatePolicy {
        id: p.id,
        scope: p.scope,
        conditional_access_enabled: p.conditional_access_enabled,
        platform: &p.platform,
        in_label_scope: label_scope_applies(&p.labels, &labels),
    });
    let counted = counted_policies(candidates, &facts.platform);
    let now = verdict(&counted, &facts.results, facts.mdm_enrolled);
    if needs_report(facts.queued, now)
        && state
            .store
            .queue_compliance_report(&facts, &tenant, now)
            .await?
    {
        tracing::debug!(host = %host, managed = now.managed, compliant = now.compliant, "compliance report queued");
        state.reporter.wake();
    }
    Ok(())
}

/// Activates the partner for the tenant and sets up its compliance policy;
/// records the outcome on the integration.
pub async fn activate(state: &AppState, tenant: &str) -> Result<(), StoreError> {
    let Some(microsoft) = state.settings.microsoft.clone() else {
        return state
            .store
            .set_ms_integration_status(
                IntegrationStatus::Failed,
                &MicrosoftError::NotConfigured.to_string(),
                "",
            )
            .await;
    };
    let (enroll, remediate) = partner_urls(state).await?;
    let outcome = async {
        microsoft
            .client
            .provision(tenant, &enroll, &remediate)
            .await?;
        microsoft
            .client
            .ensure_compliance_policy(tenant, &microsoft.group_name)
            .await
    }
    .await;
    match outcome {
        Ok(policy) => {
            tracing::info!(tenant, "conditional access connected");
            state
                .store
                .set_ms_integration_status(IntegrationStatus::Active, "", &policy)
                .await?;
            Ok(())
        }
        // Microsoft was unavailable: the reporter tries again.
        Err(err) if err.is_transient() => {
            tracing::info!(tenant, error = %err, "conditional access setup to be retried");
            state
                .store
                .set_ms_integration_status(IntegrationStatus::Activating, &err.to_string(), "")
                .await
        }
        Err(err) => {
            tracing::warn!(tenant, error = %err, "conditional access setup failed");
            state
                .store
                .set_ms_integration_status(IntegrationStatus::Failed, &err.to_string(), "")
                .await
        }
    }
}

/// The pages Intune sends users to: enroll this Mac, fix this Mac.
pub async fn partner_urls(state: &AppState) -> Result<(String, String), StoreError> {
    let org = state.store.org_settings().await?.unwrap_or_default();
    let server = org.server_settings.server_url.trim_end_matches('/');
    Ok((
        format!("{server}/microsoft-compliance-partner/enroll"),
        format!("{server}/microsoft-compliance-partner/remediate"),
    ))
}
