//! Conditional access: the Entra tenant connection, hosts' Entra identities,
//! and the outbox of compliance reports.

use crate::config::{agent_activity, record_activity};
use crate::dirty::{Affected, DirtyKind};
use crate::{as_flag, flag, now, opt_flag, Result, Store, StoreError, Tx};
use flotilla_core::activity::ActivityType;
use flotilla_core::compliance::Verdict;
use flotilla_core::{HostId, HostPlatform, PolicyId, TeamId};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrationStatus {
    /// Waiting for the admin's consent.
    Pending,
    /// Consent was given; the setup in Microsoft is being retried after
    /// Microsoft was unavailable (`setup_error` says what it answered).
    Activating,
    Active,
    /// Setup failed; `setup_error` says why.
    Failed,
}

impl IntegrationStatus {
    fn as_str(self) -> &'static str {
        match self {
            IntegrationStatus::Pending => "pending",
            IntegrationStatus::Activating => "activating",
            IntegrationStatus::Active => "active",
            IntegrationStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> IntegrationStatus {
        match s {
            "active" => IntegrationStatus::Active,
            "activating" => IntegrationStatus::Activating,
            "failed" => IntegrationStatus::Failed,
            _ => IntegrationStatus::Pending,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsIntegration {
    pub tenant_id: String,
    pub status: IntegrationStatus,
    pub setup_error: String,
    pub compliance_policy_id: String,
}

/// A host's identity in Entra, from Platform SSO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraIdentity {
    pub device_id: String,
    pub upn: String,
}

/// Everything a host's verdict is decided from.
#[derive(Debug, Clone)]
pub struct ComplianceFacts {
    pub host: HostId,
    pub team_id: Option<TeamId>,
    pub platform: HostPlatform,
    pub hostname: String,
    pub os_version: String,
    pub seen_at: i64,
    pub mdm_enrolled: Option<bool>,
    pub identity: Option<EntraIdentity>,
    pub queued: Option<Verdict>,
    pub results: HashMap<PolicyId, Option<bool>>,
}

/// Where a report is in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStatus {
    /// Waiting to be sent (again).
    Pending,
    /// Claimed by a replica that is sending it.
    Sending,
    /// Microsoft processed it.
    Completed,
    /// Microsoft refused it for good.
    Failed,
    /// A newer verdict for the host replaced it before it was confirmed.
    Superseded,
}

impl ReportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Pending => "pending",
            ReportStatus::Sending => "sending",
            ReportStatus::Completed => "completed",
            ReportStatus::Failed => "failed",
            ReportStatus::Superseded => "superseded",
        }
    }

    fn parse(text: &str) -> Result<ReportStatus> {
        Ok(match text {
            "pending" => ReportStatus::Pending,
            "sending" => ReportStatus::Sending,
            "completed" => ReportStatus::Completed,
            "failed" => ReportStatus::Failed,
            "superseded" => ReportStatus::Superseded,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown compliance report status \"{other}\""
                )))
            }
        })
    }

    /// Whether the report may still be sent.
    pub fn is_open(self) -> bool {
        matches!(self, ReportStatus::Pending | ReportStatus::Sending)
    }
}

impl std::fmt::Display for ReportStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A compliance report in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceReport {
    pub id: i64,
    pub host_id: HostId,
    pub tenant_id: String,
    pub device_id: String,
    pub upn: String,
    pub device_name: String,
    pub os_version: String,
    pub last_check_in: i64,
    pub verdict: Verdict,
    pub status: ReportStatus,
    pub attempts: i64,
    pub message_id: String,
    pub error: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// When a waiting report is due to be tried (again).
    pub next_attempt_at: i64,
}

/// How sending a report ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportOutcome {
    Completed,
    /// Microsoft refused it for good (unknown user, for example).
    Failed(String),
    /// Try again at this time.
    Retry {
        at: i64,
        error: String,
    },
}

const REPORT_COLUMNS: &str =
    "id, host_id, tenant_id, device_id, upn, device_name, os_version, last_check_in, \
     managed, compliant, status, attempts, message_id, error, created_at, updated_at, next_attempt_at";

fn verdict_from(managed: Option<bool>, compliant: Option<bool>) -> Option<Verdict> {
    Some(Verdict {
        managed: managed?,
        compliant: compliant?,
    })
}

/// A host's report of an Entra device id another host holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraClaim {
    pub claimant: HostId,
    pub owner: HostId,
    pub device_id: String,
    pub upn: String,
    pub claimed_at: i64,
}

impl Store {
    /// Claims this host made or that were made on its device id.
    pub async fn entra_claims(&self, host: HostId) -> Result<Vec<EntraClaim>> {
        let rows = sqlx::query(
            "SELECT claimant_host_id, owner_host_id, device_id, upn, claimed_at FROM entra_claims \
             WHERE claimant_host_id = $1 OR owner_host_id = $1 ORDER BY claimed_at DESC",
        )
        .bind(host.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(EntraClaim {
                    claimant: HostId(row.try_get("claimant_host_id")?),
                    owner: HostId(row.try_get("owner_host_id")?),
                    device_id: row.try_get("device_id")?,
                    upn: row.try_get("upn")?,
                    claimed_at: row.try_get("claimed_at")?,
                })
            })
            .collect()
    }

    pub async fn ms_integration(&self) -> Result<Option<MsIntegration>> {
        let row = sqlx::query("SELECT tenant_id, status, setup_error, compliance_policy_id FROM ms_integration WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(MsIntegration {
                tenant_id: row.try_get("tenant_id")?,
                status: IntegrationStatus::parse(&row.try_get::<String, _>("status")?),
                setup_error: row.try_get("setup_error")?,
                compliance_policy_id: row.try_get("compliance_policy_id")?,
            })
        })
        .transpose()
    }

    /// Starts (or restarts) connecting a tenant: the integration waits for
    /// consent, and `state` is the single-use value the consent round trip
    /// must bring back.
    pub async fn start_ms_integration(
        &self,
        tenant: &str,
        state: &str,
        expires_at: i64,
    ) -> Result<()> {
        let ts = self.now();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO ms_integration (id, tenant_id, status, setup_error, compliance_policy_id, created_at, updated_at) \
             VALUES (1, $1, 'pending', '', '', $2, $2) \
             ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id, status = 'pending', setup_error = '', \
             compliance_policy_id = '', updated_at = excluded.updated_at",
        )
        .bind(tenant)
        .bind(ts)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM ms_consent_states WHERE expires_at < $1")
            .bind(ts)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO ms_consent_states (state, tenant_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(state)
        .bind(tenant)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Uses up a consent state; returns the tenant it was issued for, if it
    /// exists and has not expired.
    pub async fn take_consent_state(&self, state: &str) -> Result<Option<String>> {
        let mut tx = self.begin().await?;
        let row =
            sqlx::query("SELECT tenant_id, expires_at FROM ms_consent_states WHERE state = $1")
                .bind(state)
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM ms_consent_states WHERE state = $1")
            .bind(state)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: i64 = row.try_get("expires_at")?;
        Ok((expires_at >= self.now())
            .then(|| row.try_get("tenant_id"))
            .transpose()?)
    }

    pub async fn set_ms_integration_status(
        &self,
        status: IntegrationStatus,
        setup_error: &str,
        compliance_policy_id: &str,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(
            "UPDATE ms_integration SET status = $1, setup_error = $2, compliance_policy_id = $3, updated_at = $4 WHERE id = 1",
        )
        .bind(status.as_str())
        .bind(setup_error)
        .bind(compliance_policy_id)
        .bind(self.now())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound("conditional access integration"));
        }
        if status == IntegrationStatus::Active {
            // Every host with an identity is reported from now on.
            crate::dirty::mark(
                &mut tx,
                crate::DirtyKind::Compliance,
                crate::dirty::Affected::All,
            )
            .await?;
        }
        self.commit_marked(tx).await?;
        Ok(())
    }

    /// Takes the tenant whose setup is to be retried, at most once per
    /// `every_secs` across every replica; `None` when there is none due.
    pub async fn claim_activation(&self, every_secs: i64) -> Result<Option<String>> {
        let ts = self.now();
        let row = sqlx::query(
            "UPDATE ms_integration SET updated_at = $1 WHERE id = 1 AND status = 'activating' AND updated_at <= $2 \
             RETURNING tenant_id",
        )
        .bind(ts)
        .bind(ts - every_secs)
        .fetch_optional(&self.writer)
        .await?;
        row.map(|r| r.try_get("tenant_id").map_err(Into::into))
            .transpose()
    }

    /// Removes the connection and every host's reported state.
    pub async fn delete_ms_integration(&self) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM ms_integration")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM ms_consent_states")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE host_entra SET queued_managed = NULL, queued_compliant = NULL, reported_managed = NULL, \
             reported_compliant = NULL, reported_at = NULL",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE compliance_reports SET status = 'superseded', updated_at = $1 WHERE status IN ('pending', 'sending')")
            .bind(self.now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The facts a host's verdict is decided from.
    pub async fn compliance_facts(&self, host: HostId) -> Result<ComplianceFacts> {
        let row = sqlx::query(
            "SELECT h.id, h.team_id, h.platform, h.hostname, h.computer_name, h.os_version, h.seen_at, h.mdm_enrolled, \
             e.device_id, e.upn, e.queued_managed, e.queued_compliant \
             FROM hosts h LEFT JOIN host_entra e ON e.host_id = h.id WHERE h.id = $1",
        )
        .bind(host.0)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("host"))?;
        let results =
            sqlx::query("SELECT policy_id, passes FROM policy_membership WHERE host_id = $1")
                .bind(host.0)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| Ok((PolicyId(r.try_get("policy_id")?), opt_flag(r, "passes")?)))
                .collect::<Result<HashMap<_, _>>>()?;
        let device_id: Option<String> = row.try_get("device_id")?;
        let upn: Option<String> = row.try_get("upn")?;
        let computer_name: String = row.try_get("computer_name")?;
        let hostname: String = row.try_get("hostname")?;
        Ok(ComplianceFacts {
            host,
            team_id: row.try_get::<Option<i64>, _>("team_id")?.map(TeamId),
            platform: crate::host_platform(&row)?,
            hostname: if computer_name.is_empty() {
                hostname
            } else {
                computer_name
            },
            os_version: row.try_get("os_version")?,
            seen_at: row.try_get("seen_at")?,
            mdm_enrolled: opt_flag(&row, "mdm_enrolled")?,
            identity: device_id
                .zip(upn)
                .map(|(device_id, upn)| EntraIdentity { device_id, upn }),
            queued: verdict_from(
                opt_flag(&row, "queued_managed")?,
                opt_flag(&row, "queued_compliant")?,
            ),
            results,
        })
    }

    /// Hosts with an Entra identity (for re-evaluation after admin changes).
    pub async fn hosts_with_entra_identity(&self) -> Result<Vec<HostId>> {
        let rows = sqlx::query("SELECT host_id FROM host_entra ORDER BY host_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(HostId(r.try_get("host_id")?)))
            .collect()
    }

    /// Queues a verdict for sending unless the same one is already queued.
    /// Older unconfirmed reports for the host (waiting or being sent) are
    /// superseded: a report being sent no longer lands. Returns whether a
    /// report was queued.
    pub async fn queue_compliance_report(
        &self,
        facts: &ComplianceFacts,
        tenant: &str,
        verdict: Verdict,
    ) -> Result<bool> {
        let Some(identity) = &facts.identity else {
            return Ok(false);
        };
        let ts = self.now();
        let mut tx = self.begin().await?;
        // Mark the verdict queued first: under concurrent writes for one host
        // only the transaction that changes it goes on to queue a report.
        let changed = sqlx::query(
            "UPDATE host_entra SET queued_managed = $1, queued_compliant = $2 WHERE host_id = $3 AND device_id = $4 \
             AND upn = $5 AND (queued_managed IS NULL OR queued_compliant IS NULL OR queued_managed <> $1 OR queued_compliant <> $2)",
        )
        .bind(as_flag(verdict.managed))
        .bind(as_flag(verdict.compliant))
        .bind(facts.host.0)
        .bind(identity.device_id.as_str())
        .bind(identity.upn.as_str())
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE compliance_reports SET status = 'superseded', updated_at = $1 WHERE host_id = $2 AND status IN ('pending', 'sending')",
        )
        .bind(ts)
        .bind(facts.host.0)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO compliance_reports (host_id, tenant_id, device_id, upn, device_name, os_version, last_check_in, \
             managed, compliant, status, next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $10, $10)",
        )
        .bind(facts.host.0)
        .bind(tenant)
        .bind(identity.device_id.as_str())
        .bind(identity.upn.as_str())
        .bind(facts.hostname.as_str())
        .bind(facts.os_version.as_str())
        .bind(facts.seen_at)
        .bind(as_flag(verdict.managed))
        .bind(as_flag(verdict.compliant))
        .bind(ts)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Takes up to `limit` due reports for sending, leasing them for
    /// `lease_secs` so that no other replica sends them meanwhile.
    pub async fn claim_compliance_reports(
        &self,
        claimant: &str,
        limit: i64,
        lease_secs: i64,
    ) -> Result<Vec<ComplianceReport>> {
        let ts = self.now();
        // The due condition is repeated on the outer row so that a replica
        // that waited for another's lock re-checks it and skips the row.
        let due = |r: &str| {
            format!(
                "(({r}.status = 'pending' AND {r}.next_attempt_at <= $1) OR ({r}.status = 'sending' AND {r}.locked_until < $1))"
            )
        };
        // A device's reports go out in order: none while an older one of the
        // same host is still held by a sender (even one superseded meanwhile,
        // whose upload may be on its way).
        let sql = format!(
            "UPDATE compliance_reports SET status = 'sending', locked_until = $2, claimed_by = $4, \
             attempts = attempts + 1, updated_at = $1 \
             WHERE id IN (SELECT r.id FROM compliance_reports r WHERE {} AND NOT EXISTS \
             (SELECT 1 FROM compliance_reports o WHERE o.host_id = r.host_id AND o.id < r.id AND o.locked_until >= $1) \
             ORDER BY r.id LIMIT $3) AND {} RETURNING {REPORT_COLUMNS}",
            due("r"),
            due("compliance_reports"),
        );
        let mut tx = self.begin().await?;
        let rows = sqlx::query(&sql)
            .bind(ts)
            .bind(ts + lease_secs)
            .bind(limit)
            .bind(claimant)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter().map(report_from_row).collect()
    }

    /// Remembers an upload's message id, so a retry polls instead of re-sending.
    pub async fn set_report_message(&self, id: i64, message_id: &str) -> Result<()> {
        sqlx::query("UPDATE compliance_reports SET message_id = $1, updated_at = $2 WHERE id = $3")
            .bind(message_id)
            .bind(self.now())
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Extends the lease of a report `claimant` is sending; false when the
    /// claim is no longer its own (another replica took it over).
    pub async fn renew_report_lease(
        &self,
        id: i64,
        claimant: &str,
        lease_secs: i64,
    ) -> Result<bool> {
        let renewed = sqlx::query(
            "UPDATE compliance_reports SET locked_until = $1 WHERE id = $2 AND claimed_by = $3 AND locked_until > 0",
        )
        .bind(self.now() + lease_secs)
        .bind(id)
        .bind(claimant)
        .execute(&self.writer)
        .await?;
        Ok(renewed.rows_affected() == 1)
    }

    /// After a restart: the reports this replica held go back to the queue at
    /// once instead of waiting out their leases.
    pub async fn release_report_claims(&self, claimant: &str) -> Result<u64> {
        let ts = self.now();
        let mut tx = self.begin().await?;
        let released = sqlx::query(
            "UPDATE compliance_reports SET status = 'pending', next_attempt_at = $1, locked_until = 0, claimed_by = '' \
             WHERE status = 'sending' AND claimed_by = $2",
        )
        .bind(ts)
        .bind(claimant)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE compliance_reports SET locked_until = 0 WHERE claimed_by = $1")
            .bind(claimant)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(released.rows_affected())
    }

    /// Microsoft answered for a tenant again: its queued reports stop
    /// waiting out their backoffs.
    pub async fn reset_report_backoff(&self, tenant: &str) -> Result<()> {
        let ts = self.now();
        sqlx::query(
            "UPDATE compliance_reports SET next_attempt_at = $1 WHERE tenant_id = $2 AND status = 'pending' AND next_attempt_at > $1",
        )
        .bind(ts)
        .bind(tenant)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// During an outage every report of a tenant may be backing off for
    /// minutes: one per tenant (its oldest) is brought forward as a probe
    /// when none of the tenant's reports is being sent or due within
    /// `every_secs`. When the probe gets through, the tenant's backoff is
    /// reset ([`Store::reset_report_backoff`]). Returns how many were probed.
    pub async fn probe_backed_off_reports(&self, every_secs: i64) -> Result<u64> {
        let ts = self.now();
        let probed = sqlx::query(
            "UPDATE compliance_reports SET next_attempt_at = $1 WHERE id IN ( \
             SELECT MIN(r.id) FROM compliance_reports r WHERE r.status = 'pending' AND r.next_attempt_at > $2 \
             AND NOT EXISTS (SELECT 1 FROM compliance_reports s WHERE s.tenant_id = r.tenant_id \
               AND (s.status = 'sending' OR (s.status = 'pending' AND s.next_attempt_at <= $2))) \
             GROUP BY r.tenant_id)",
        )
        .bind(ts)
        .bind(ts + every_secs)
        .execute(&self.writer)
        .await?;
        Ok(probed.rows_affected())
    }

    /// Records a sent report's outcome, fenced: it lands only while the
    /// report is still `claimant`'s and still being sent (not superseded by
    /// a newer verdict, not taken over after its lease ran out). Returns
    /// whether it landed; either way the claim is let go.
    pub async fn finish_compliance_report(
        &self,
        report: &ComplianceReport,
        claimant: &str,
        outcome: &ReportOutcome,
    ) -> Result<bool> {
        let ts = self.now();
        let mut tx = self.begin().await?;
        let held = sqlx::query(
            "UPDATE compliance_reports SET locked_until = 0, updated_at = $1 WHERE id = $2 AND claimed_by = $3 AND status = 'sending'",
        )
        .bind(ts)
        .bind(report.id)
        .bind(claimant)
        .execute(&mut *tx)
        .await?;
        if held.rows_affected() == 0 {
            sqlx::query(
                "UPDATE compliance_reports SET locked_until = 0 WHERE id = $1 AND claimed_by = $2",
            )
            .bind(report.id)
            .bind(claimant)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(false);
        }
        match outcome {
            ReportOutcome::Completed => {
                sqlx::query("UPDATE compliance_reports SET status = 'completed', error = '', updated_at = $1 WHERE id = $2")
                    .bind(ts)
                    .bind(report.id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE host_entra SET reported_managed = $1, reported_compliant = $2, reported_at = $3 \
                     WHERE host_id = $4 AND device_id = $5 AND upn = $6",
                )
                .bind(as_flag(report.verdict.managed))
                .bind(as_flag(report.verdict.compliant))
                .bind(ts)
                .bind(report.host_id.0)
                .bind(report.device_id.as_str())
                .bind(report.upn.as_str())
                .execute(&mut *tx)
                .await?;
            }
            ReportOutcome::Failed(error) => {
                sqlx::query("UPDATE compliance_reports SET status = 'failed', error = $1, updated_at = $2 WHERE id = $3")
                    .bind(error.as_str())
                    .bind(ts)
                    .bind(report.id)
                    .execute(&mut *tx)
                    .await?;
                // Nothing was accepted: a later change must be able to queue again.
                sqlx::query("UPDATE host_entra SET queued_managed = NULL, queued_compliant = NULL WHERE host_id = $1")
                    .bind(report.host_id.0)
                    .execute(&mut *tx)
                    .await?;
            }
            ReportOutcome::Retry { at, error } => {
                sqlx::query(
                    "UPDATE compliance_reports SET status = 'pending', next_attempt_at = $1, error = $2, updated_at = $3 \
                     WHERE id = $4 AND status = 'sending'",
                )
                .bind(*at)
                .bind(error.as_str())
                .bind(ts)
                .bind(report.id)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// A host's reports, newest first.
    pub async fn compliance_reports(
        &self,
        host: HostId,
        limit: i64,
    ) -> Result<Vec<ComplianceReport>> {
        let rows = sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM compliance_reports WHERE host_id = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(host.0)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(report_from_row).collect()
    }

    /// Each host's newest compliance report, for a page of hosts.
    pub async fn latest_compliance_reports(
        &self,
        hosts: &[HostId],
    ) -> Result<HashMap<HostId, ComplianceReport>> {
        if hosts.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<i64> = hosts.iter().map(|h| h.0).collect();
        let mut reports = HashMap::new();
        for ids in ids.chunks(crate::agent::IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT {REPORT_COLUMNS} FROM compliance_reports WHERE id IN \
                 (SELECT MAX(id) FROM compliance_reports WHERE host_id IN ({}) GROUP BY host_id)",
                crate::agent::placeholders(1, ids.len())
            );
            for row in crate::agent::bind_ids(sqlx::query(&sql), ids)
                .fetch_all(&self.pool)
                .await?
            {
                let report = report_from_row(&row)?;
                reports.insert(report.host_id, report);
            }
        }
        Ok(reports)
    }
}

fn report_from_row(row: &AnyRow) -> Result<ComplianceReport> {
    Ok(ComplianceReport {
        id: row.try_get("id")?,
        host_id: HostId(row.try_get("host_id")?),
        tenant_id: row.try_get("tenant_id")?,
        device_id: row.try_get("device_id")?,
        upn: row.try_get("upn")?,
        device_name: row.try_get("device_name")?,
        os_version: row.try_get("os_version")?,
        last_check_in: row.try_get("last_check_in")?,
        verdict: Verdict {
            managed: flag(row, "managed")?,
            compliant: flag(row, "compliant")?,
        },
        status: ReportStatus::parse(&row.try_get::<String, _>("status")?)?,
        attempts: row.try_get("attempts")?,
        message_id: row.try_get("message_id")?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
    })
}

/// Records the identity a host reported (or its absence). A new device id
/// or UPN resets what was last reported for the host.
/// Records the Entra identity a host reported. A device id is one host's:
/// when another host already holds it, the claim is kept (and logged)
/// instead, the claimant has no identity, and the owner's verdict is sent
/// again in case the claimant's got through first. A changed identity on a
/// host is logged too.
pub(crate) async fn write_host_entra(
    tx: &mut Tx,
    host: HostId,
    identity: Option<&EntraIdentity>,
) -> Result<()> {
    let Some(identity) = identity else {
        sqlx::query("DELETE FROM host_entra WHERE host_id = $1")
            .bind(host.0)
            .execute(&mut **tx)
            .await?;
        return Ok(());
    };
    let owner =
        sqlx::query("SELECT host_id FROM host_entra WHERE device_id = $1 AND host_id <> $2")
            .bind(identity.device_id.as_str())
            .bind(host.0)
            .fetch_optional(&mut **tx)
            .await?
            .map(|row| row.try_get::<i64, _>("host_id"))
            .transpose()?;
    if let Some(owner) = owner {
        sqlx::query("DELETE FROM host_entra WHERE host_id = $1")
            .bind(host.0)
            .execute(&mut **tx)
            .await?;
        let known = sqlx::query(
            "SELECT 1 AS known FROM entra_claims \
             WHERE claimant_host_id = $1 AND owner_host_id = $2 AND device_id = $3",
        )
        .bind(host.0)
        .bind(owner)
        .bind(identity.device_id.as_str())
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
        sqlx::query(
            "INSERT INTO entra_claims (claimant_host_id, owner_host_id, device_id, upn, claimed_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (claimant_host_id, owner_host_id, device_id) \
             DO UPDATE SET upn = excluded.upn, claimed_at = excluded.claimed_at",
        )
        .bind(host.0)
        .bind(owner)
        .bind(identity.device_id.as_str())
        .bind(identity.upn.as_str())
        .bind(now())
        .execute(&mut **tx)
        .await?;
        if !known {
            let details = claim_details(host, HostId(owner), identity);
            record_activity(
                tx,
                &agent_activity(ActivityType::ClaimedEntraDevice, details),
            )
            .await?;
            tracing::warn!(claimant = %host, owner, "a host claims another host's Entra device id");
        }
        // The owner's verdict goes out again.
        sqlx::query(
            "UPDATE host_entra SET queued_managed = NULL, queued_compliant = NULL WHERE host_id = $1",
        )
        .bind(owner)
        .execute(&mut **tx)
        .await?;
        crate::dirty::mark(tx, DirtyKind::Compliance, Affected::Hosts(&[HostId(owner)])).await?;
        return Ok(());
    }
    let before = sqlx::query("SELECT device_id, upn FROM host_entra WHERE host_id = $1")
        .bind(host.0)
        .fetch_optional(&mut **tx)
        .await?
        .map(|row| {
            Ok::<_, StoreError>((
                row.try_get::<String, _>("device_id")?,
                row.try_get::<String, _>("upn")?,
            ))
        })
        .transpose()?;
    if let Some((device_id, upn)) = &before {
        if device_id != &identity.device_id || upn != &identity.upn {
            record_activity(
                tx,
                &agent_activity(
                    ActivityType::ChangedEntraIdentity,
                    json!({
                        "host_id": host.0,
                        "device_id": identity.device_id,
                        "user_principal_name": identity.upn,
                        "previous_device_id": device_id,
                        "previous_user_principal_name": upn,
                    }),
                ),
            )
            .await?;
        }
    }
    sqlx::query(
        "INSERT INTO host_entra (host_id, device_id, upn, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (host_id) DO UPDATE SET device_id = excluded.device_id, upn = excluded.upn, \
         updated_at = excluded.updated_at, \
         queued_managed = CASE WHEN host_entra.device_id = excluded.device_id AND host_entra.upn = excluded.upn THEN host_entra.queued_managed END, \
         queued_compliant = CASE WHEN host_entra.device_id = excluded.device_id AND host_entra.upn = excluded.upn THEN host_entra.queued_compliant END, \
         reported_managed = CASE WHEN host_entra.device_id = excluded.device_id AND host_entra.upn = excluded.upn THEN host_entra.reported_managed END, \
         reported_compliant = CASE WHEN host_entra.device_id = excluded.device_id AND host_entra.upn = excluded.upn THEN host_entra.reported_compliant END",
    )
    .bind(host.0)
    .bind(identity.device_id.as_str())
    .bind(identity.upn.as_str())
    .bind(now())
    .execute(&mut **tx)
    .await?;
    // Claims against this host's former identity are moot now.
    sqlx::query("DELETE FROM entra_claims WHERE claimant_host_id = $1")
        .bind(host.0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn claim_details(claimant: HostId, owner: HostId, identity: &EntraIdentity) -> Value {
    json!({
        "host_id": claimant.0,
        "owner_host_id": owner.0,
        "device_id": identity.device_id,
        "user_principal_name": identity.upn,
    })
}
