//! Conditional access with Entra: connecting the tenant, deciding each host's
//! verdict as soon as its results arrive, and the reporter that delivers
//! queued verdicts to Microsoft.
//!
//! Verdicts are queued in the database (the outbox), so every replica can
//! deliver them and none is lost on a restart; a replica that queues one
//! wakes its own reporter at once, the others find it on their next poll.

use crate::workers::StopSignal;
use crate::AppState;
use flotilla_core::compliance::{counted_policies, needs_report, verdict, CandidatePolicy};
use flotilla_core::targeting::label_scope_applies;
use flotilla_core::{HostId, TeamId};
use flotilla_microsoft::{DeviceReport, MicrosoftClient, MicrosoftError, UploadStatus};
use flotilla_store::{ComplianceReport, IntegrationStatus, ReportOutcome, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Reports taken per round, and sent concurrently.
const BATCH: i64 = 32;
/// How long a claimed report is reserved for the replica sending it.
const LEASE_SECS: i64 = 120;
/// How often other replicas' reports are looked for.
const POLL: Duration = Duration::from_secs(2);
/// How long one send waits for Microsoft to process an upload.
const PROCESSING_WAIT: Duration = Duration::from_secs(30);

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
}

fn org_flag(document: &serde_json::Value) -> bool {
    document
        .pointer("/integrations/conditional_access_enabled")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

/// The connected tenant, when the integration is active.
async fn active_tenant(store: &Store) -> Result<Option<String>, StoreError> {
    Ok(store
        .ms_integration()
        .await?
        .filter(|i| i.status == IntegrationStatus::Active)
        .map(|i| i.tenant_id))
}

/// Whether a team (or, for `None`, "No team" in org settings) has conditional access on.
pub async fn team_enabled(store: &Store, team: Option<TeamId>) -> Result<bool, StoreError> {
    Ok(match team {
        Some(team) => org_flag(&store.team_document(team).await?),
        None => store.app_config().await?.as_ref().is_some_and(org_flag),
    })
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
    let server = state
        .store
        .app_config()
        .await?
        .and_then(|c| {
            c.pointer("/server_settings/server_url")
                .and_then(|u| u.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let server = server.trim_end_matches('/');
    Ok((
        format!("{server}/microsoft-compliance-partner/enroll"),
        format!("{server}/microsoft-compliance-partner/remediate"),
    ))
}

/// Delivers queued reports until stopped.
pub async fn run_reporter(state: AppState, mut stop: StopSignal) {
    let Some(microsoft) = state.settings.microsoft.clone() else {
        return;
    };
    while !stop.is_stopped() {
        let claimed = match state
            .store
            .claim_compliance_reports(BATCH, LEASE_SECS)
            .await
        {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(error = %err, "could not read the compliance outbox");
                Vec::new()
            }
        };
        if claimed.is_empty() {
            tokio::select! {
                _ = stop.stopped() => break,
                _ = state.reporter.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
            continue;
        }
        let mut sends = tokio::task::JoinSet::new();
        for report in claimed {
            let store = state.store.clone();
            let client = microsoft.client.clone();
            sends.spawn(async move {
                let outcome = deliver(&client, &store, &report).await;
                if let Err(err) = store.finish_compliance_report(&report, &outcome).await {
                    tracing::warn!(report = report.id, error = %err, "could not record a report's outcome");
                }
            });
        }
        while sends.join_next().await.is_some() {}
    }
}

fn retry_later(report: &ComplianceReport, error: String) -> ReportOutcome {
    let delay = 5i64
        .saturating_mul(1 << report.attempts.clamp(0, 6))
        .min(600);
    ReportOutcome::Retry {
        at: flotilla_store::now() + delay,
        error,
    }
}

/// Sends one report and waits for Microsoft to process it.
async fn deliver(
    client: &MicrosoftClient,
    store: &Store,
    report: &ComplianceReport,
) -> ReportOutcome {
    let message = if report.message_id.is_empty() {
        let user_id = match client.user_id(&report.tenant_id, &report.upn).await {
            Ok(id) => id,
            Err(err) if err.is_transient() => return retry_later(report, err.to_string()),
            Err(err) => return ReportOutcome::Failed(err.to_string()),
        };
        let now = crate::views::timestamp(flotilla_store::now());
        let upload = DeviceReport {
            tenant_id: report.tenant_id.clone(),
            device_id: report.device_id.clone(),
            device_name: report.device_name.clone(),
            user_id,
            os_version: report.os_version.clone(),
            managed: report.verdict.managed,
            compliant: report.verdict.compliant,
            last_check_in: crate::views::timestamp(report.last_check_in),
            now,
        };
        match client.upload(&upload).await {
            Ok(message) => {
                if let Err(err) = store.set_report_message(report.id, &message).await {
                    tracing::warn!(report = report.id, error = %err, "could not record the upload id");
                }
                message
            }
            Err(err) if err.is_transient() => return retry_later(report, err.to_string()),
            Err(err) => return ReportOutcome::Failed(err.to_string()),
        }
    } else {
        report.message_id.clone()
    };
    let started = tokio::time::Instant::now();
    let mut wait = Duration::from_millis(100);
    loop {
        match client.upload_status(&report.tenant_id, &message).await {
            Ok(UploadStatus::Completed) => return ReportOutcome::Completed,
            Ok(UploadStatus::Failed(detail)) => return ReportOutcome::Failed(detail),
            Ok(UploadStatus::Pending) if started.elapsed() < PROCESSING_WAIT => {}
            Ok(UploadStatus::Pending) => {
                return retry_later(report, "Microsoft is still processing the upload".into())
            }
            Err(err) if err.is_transient() => return retry_later(report, err.to_string()),
            Err(err) => return ReportOutcome::Failed(err.to_string()),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(2));
    }
}
