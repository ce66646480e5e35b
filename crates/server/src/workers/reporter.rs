//! The reporter: delivers queued verdicts (the outbox) to Microsoft.
//!
//! It alone owns retries: the Microsoft client makes one attempt per call and
//! says whether a failure is worth trying again (and after how long). Each
//! report is claimed with a lease that is renewed while it is being sent, and
//! its outcome lands only if the claim is still this replica's, so a report
//! is never sent twice even when Microsoft answers slower than the lease.
//! Uploads never wait for earlier ones to be processed: each report is its
//! own task, at most [`PER_TENANT`] at a time per tenant.

use super::StopSignal;
use crate::AppState;
use flotilla_microsoft::{DeviceReport, MicrosoftClient, MicrosoftError, UploadStatus};
use flotilla_store::{ComplianceReport, ReportOutcome, Store};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Reports in flight at once, all tenants together.
const IN_FLIGHT: usize = 64;
/// Uploads in flight at once for one tenant.
const PER_TENANT: usize = 16;
/// How often other replicas' reports are looked for.
const POLL: Duration = Duration::from_secs(1);
/// How long one send waits for Microsoft to process an upload.
const PROCESSING_WAIT: Duration = Duration::from_secs(30);
/// Retries double from the settings' first backoff, up to this.
const MAX_BACKOFF_SECS: i64 = 120;
/// How often a tenant's setup is tried again while Microsoft is unavailable.
const ACTIVATION_RETRY_SECS: i64 = 2;
/// While all of a tenant's reports back off, one is tried this often to
/// notice that Microsoft answers again.
const PROBE_SECS: i64 = 2;
/// How often the probe and a pending setup's retry are looked at.
const HOUSEKEEPING: Duration = Duration::from_secs(PROBE_SECS as u64);

/// The store keeps leases in whole seconds.
fn lease_secs(lease: Duration) -> i64 {
    (lease.as_secs() as i64).max(1)
}

/// When to try a report again: Microsoft's Retry-After when it gave one,
/// else exponential backoff from the attempts so far, with up to a quarter
/// of jitter so a fleet's retries spread out.
pub fn retry_delay(
    first: Duration,
    attempts: i64,
    retry_after: Option<Duration>,
    jitter: f64,
) -> i64 {
    if let Some(wait) = retry_after {
        return (wait.as_secs() as i64).clamp(1, MAX_BACKOFF_SECS);
    }
    let exponent = attempts.saturating_sub(1).clamp(0, 16) as u32;
    let base = (first.as_secs() as i64)
        .max(1)
        .saturating_mul(1i64 << exponent)
        .min(MAX_BACKOFF_SECS);
    base + (base as f64 * 0.25 * jitter.clamp(0.0, 1.0)).round() as i64
}

/// A share between 0 and 1 for spreading retries.
fn jitter() -> f64 {
    use rand_core::RngCore;
    f64::from(rand_core::OsRng.next_u32() % 1000) / 1000.0
}

fn retry_later(
    now: i64,
    first: Duration,
    report: &ComplianceReport,
    err: &MicrosoftError,
) -> ReportOutcome {
    let delay = retry_delay(first, report.attempts, err.retry_after(), jitter());
    ReportOutcome::Retry {
        at: now + delay,
        error: err.to_string(),
    }
}

fn outcome_of(sender: &Sender, report: &ComplianceReport, err: MicrosoftError) -> ReportOutcome {
    if err.is_transient() {
        retry_later(sender.store.now(), sender.first_backoff, report, &err)
    } else {
        ReportOutcome::Failed(err.to_string())
    }
}

/// Delivers queued reports until stopped.
pub async fn run(state: AppState, mut stop: StopSignal) {
    let Some(microsoft) = state.settings.microsoft.clone() else {
        return;
    };
    let me = state.settings.replica_id.clone();
    let lease = state.settings.report_lease;
    let sender = Arc::new(Sender {
        client: microsoft.client.clone(),
        store: state.store.clone(),
        me: me.clone(),
        lease,
        first_backoff: state.settings.report_backoff,
    });
    match state.store.release_report_claims(&me).await {
        Ok(0) => {}
        Ok(released) => tracing::info!(released, "reports held before a restart queued again"),
        Err(err) => tracing::warn!(error = %err, "could not release this replica's earlier claims"),
    }
    let mut tenants: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let mut sends: JoinSet<()> = JoinSet::new();
    let mut next_housekeeping = tokio::time::Instant::now();
    while !stop.is_stopped() {
        // Not on every round: rounds follow every finished send.
        if tokio::time::Instant::now() >= next_housekeeping {
            next_housekeeping = tokio::time::Instant::now() + HOUSEKEEPING;
            retry_activation(&state).await;
            if let Err(err) = state.store.probe_backed_off_reports(PROBE_SECS).await {
                tracing::warn!(error = %err, "could not probe the backed-off outbox");
            }
        }
        let room = IN_FLIGHT.saturating_sub(sends.len());
        let claimed = if room == 0 {
            Vec::new()
        } else {
            match state
                .store
                .claim_compliance_reports(&me, room as i64, lease_secs(lease))
                .await
            {
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::warn!(error = %err, "could not read the compliance outbox");
                    Vec::new()
                }
            }
        };
        let took = claimed.len();
        for report in claimed {
            let limit = tenants
                .entry(report.tenant_id.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(PER_TENANT)))
                .clone();
            let sender = sender.clone();
            sends.spawn(async move {
                let Ok(_permit) = limit.acquire_owned().await else {
                    return;
                };
                sender.send_one(report).await;
            });
        }
        if took > 0 && took == room {
            continue;
        }
        tokio::select! {
            _ = stop.stopped() => break,
            _ = state.reporter.woken() => {}
            Some(_) = sends.join_next(), if !sends.is_empty() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
    // Reports still being sent keep their claims; the leases run out or this
    // replica releases them when it starts again.
    sends.abort_all();
    while sends.join_next().await.is_some() {}
}

/// Retries a tenant's setup that Microsoft could not finish (at most every
/// [`ACTIVATION_RETRY_SECS`] across replicas, one replica at a time).
async fn retry_activation(state: &AppState) {
    match state.store.claim_activation(ACTIVATION_RETRY_SECS).await {
        Ok(Some(tenant)) => {
            if let Err(err) = crate::conditional_access::activate(state, &tenant).await {
                tracing::warn!(error = %err, "could not record the setup's outcome");
            }
        }
        Ok(None) => {}
        Err(err) => tracing::warn!(error = %err, "could not read the integration"),
    }
}

/// What every send of this replica shares.
struct Sender {
    client: Arc<MicrosoftClient>,
    store: Store,
    /// This replica's name on its claims.
    me: String,
    lease: Duration,
    first_backoff: Duration,
}

impl Sender {
    /// Sends one report while keeping its lease, then records the outcome (fenced).
    async fn send_one(&self, report: ComplianceReport) {
        let (store, me, lease) = (&self.store, self.me.as_str(), self.lease);
        let delivery = self.deliver(&report);
        tokio::pin!(delivery);
        // Renewed every third of the lease, so a slow answer never outlives it.
        let mut renew = tokio::time::interval(lease / 3);
        renew.tick().await;
        let outcome = loop {
            tokio::select! {
                outcome = &mut delivery => break outcome,
                _ = renew.tick() => match store.renew_report_lease(report.id, me, lease_secs(lease)).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::info!(report = report.id, "report taken over by another replica; stopping");
                        return;
                    }
                    Err(err) => tracing::warn!(report = report.id, error = %err, "could not renew a report's lease"),
                },
            }
        };
        let succeeded = matches!(outcome, ReportOutcome::Completed);
        match store.finish_compliance_report(&report, me, &outcome).await {
            Ok(true) => {}
            Ok(false) => tracing::debug!(
                report = report.id,
                "report superseded or taken over while it was sent"
            ),
            Err(err) => {
                tracing::warn!(report = report.id, error = %err, "could not record a report's outcome")
            }
        }
        if succeeded {
            // Microsoft answers again: the tenant's queue stops backing off.
            if let Err(err) = store.reset_report_backoff(&report.tenant_id).await {
                tracing::warn!(error = %err, "could not reset the outbox backoff");
            }
        }
    }

    /// Sends one report and waits for Microsoft to process it.
    async fn deliver(&self, report: &ComplianceReport) -> ReportOutcome {
        let (client, store, sender) = (&self.client, &self.store, self);
        let message = if report.message_id.is_empty() {
            let user_id = match client.user_id(&report.tenant_id, &report.upn).await {
                Ok(id) => id,
                Err(err) => return outcome_of(sender, report, err),
            };
            let upload = DeviceReport {
                tenant_id: report.tenant_id.clone(),
                device_id: report.device_id.clone(),
                device_name: report.device_name.clone(),
                user_id,
                os_version: report.os_version.clone(),
                managed: report.verdict.managed,
                compliant: report.verdict.compliant,
                last_check_in: crate::wire::timestamp(report.last_check_in),
                decided_at: crate::wire::timestamp(report.created_at),
                now: crate::wire::timestamp(store.now()),
            };
            match client.upload(&upload).await {
                Ok(message) => {
                    if let Err(err) = store.set_report_message(report.id, &message).await {
                        tracing::warn!(report = report.id, error = %err, "could not record the upload id");
                    }
                    message
                }
                Err(err) => return outcome_of(sender, report, err),
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
                    return ReportOutcome::Retry {
                        at: store.now()
                            + retry_delay(sender.first_backoff, report.attempts, None, jitter()),
                        error: "Microsoft is still processing the upload".into(),
                    }
                }
                Err(err) => return outcome_of(sender, report, err),
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::retry_delay;
    use std::time::Duration;

    #[test]
    fn retries_back_off_exponentially_with_jitter_and_honour_retry_after() {
        let first = Duration::from_secs(2);
        assert_eq!(retry_delay(first, 1, None, 0.0), 2);
        assert_eq!(retry_delay(first, 2, None, 0.0), 4);
        assert_eq!(retry_delay(first, 4, None, 0.0), 16);
        assert_eq!(retry_delay(first, 30, None, 0.0), 120);
        assert_eq!(retry_delay(first, 4, None, 1.0), 20);
        assert_eq!(retry_delay(first, 4, Some(Duration::from_secs(7)), 1.0), 7);
        assert_eq!(
            retry_delay(first, 1, Some(Duration::from_secs(3600)), 0.0),
            120
        );
    }
}
