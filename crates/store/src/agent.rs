//! What agents change: enrollment, check-ins, and the results they report.

use crate::at_rest::digest;
use crate::conditional_access::{write_host_entra, EntraIdentity};
use crate::hosts::host_from_row;
use crate::labels::set_membership;
use crate::records::HostRecord;
use crate::{as_flag, flag, host_platform, platforms, Result, Store, StoreError};
use flotilla_core::activity::ActivityType;
use flotilla_core::detail::VitalsUpdate;
use flotilla_core::schedule::HostFreshness;
use flotilla_core::{
    HostId, HostPlatform, LabelId, LabelOutcome, PolicyId, PolicyResponse, TeamId,
};
use sqlx::Row;

/// A host enrolling (osquery or fleetd). The hardware UUID identifies it: the
/// same machine enrolling again keeps its record.
#[derive(Debug, Clone, Default)]
pub struct EnrollRequest {
    pub uuid: String,
    pub osquery_host_id: String,
    pub team: Option<TeamId>,
    pub hostname: String,
    pub computer_name: String,
    pub hardware_serial: String,
    pub hardware_model: String,
    pub platform: String,
    pub os_version: String,
    pub osquery_version: String,
}

/// What an enrollment made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enrolled {
    pub id: HostId,
    /// Set when the newcomer gave no proof of being the host that already
    /// has its hardware UUID: it is a host of its own, a duplicate of that one.
    pub duplicate_of: Option<HostId>,
}

/// Which agent key an enrollment issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentKind {
    Osquery,
    Orbit,
}

impl AgentKind {
    /// Where the digest of this agent's key is kept.
    fn digest_column(self) -> &'static str {
        match self {
            AgentKind::Osquery => "node_key_digest",
            AgentKind::Orbit => "orbit_node_key_digest",
        }
    }
}

/// The host as the agent API needs it on every check-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentHost {
    pub id: HostId,
    pub team_id: Option<TeamId>,
    pub platform: HostPlatform,
    pub freshness: HostFreshness,
    /// What orbit last announced in `X-Fleet-Capabilities` (comma-separated).
    pub orbit_capabilities: String,
}

/// Everything one distributed write changes, applied in one transaction.
#[derive(Debug, Clone, Default)]
pub struct AgentWrite {
    pub vitals: Option<VitalsUpdate>,
    pub details_answered: bool,
    pub labels: Vec<(LabelId, LabelOutcome)>,
    pub labels_answered: bool,
    pub policies: Vec<(PolicyId, PolicyResponse)>,
    pub policies_answered: bool,
}

impl AgentWrite {
    /// A refetch sends every query in one read, so the write that carries the
    /// vitals is the one that answers it.
    pub fn completes_refetch(&self) -> bool {
        self.details_answered
    }
}

/// The most ids bound to one statement: far below SQLite's 32,766
/// variables, so no input can make a statement fail for its size.
pub(crate) const IDS_PER_STATEMENT: usize = 500;

/// `$first, $first+1, ...` for `count` parameters.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn bind_ids<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ids: &[i64],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for id in ids {
        query = query.bind(*id);
    }
    query
}

/// Binds an enrollment's values as `$1`..`$12` in the order the enroll statements use.
fn bind_enroll<'q>(
    sql: &'q str,
    request: &'q EnrollRequest,
    key: &'q str,
    ts: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(sql)
        .bind(request.uuid.as_str())
        .bind(request.osquery_host_id.as_str())
        .bind(key)
        .bind(request.team.map(|t| t.0))
        .bind(request.hostname.as_str())
        .bind(request.computer_name.as_str())
        .bind(request.hardware_serial.as_str())
        .bind(request.hardware_model.as_str())
        .bind(request.platform.as_str())
        .bind(request.os_version.as_str())
        .bind(request.osquery_version.as_str())
        .bind(ts)
}

impl Store {
    /// Enrolls an agent. A hardware UUID no host has makes a new host. A
    /// host with that UUID gets this agent's key only when it has none of
    /// this kind yet and the enroll secret is of its team (fleetd's orbit
    /// then its osquery, enrolling one after the other); anything else is
    /// not proof of being that host, so the newcomer becomes a host of its
    /// own, a duplicate of the first, and the first keeps its keys, team
    /// and compliance.
    pub async fn enroll_host(
        &self,
        kind: AgentKind,
        request: &EnrollRequest,
        key: &str,
    ) -> Result<Enrolled> {
        let key_column = kind.digest_column();
        let key = &digest(key);
        let ts = self.now();
        let mut tx = self.begin().await?;
        // The original, or one of its duplicates, still waiting for this agent.
        let open = sqlx::query(&format!(
            "SELECT id FROM hosts WHERE (uuid = $1 OR substr(uuid, 1, length($1) + 4) = $1 || '#dup') \
             AND {key_column} IS NULL AND team_id IS NOT DISTINCT FROM $2 ORDER BY id DESC LIMIT 1"
        ))
        .bind(request.uuid.as_str())
        .bind(request.team.map(|t| t.0))
        .fetch_optional(&mut *tx)
        .await?;
        let original = sqlx::query("SELECT id FROM hosts WHERE uuid = $1")
            .bind(request.uuid.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.try_get::<i64, _>("id"))
            .transpose()?;
        let (row, duplicate_of) = match (open, original) {
            (Some(open), _) => {
                // Fields the agent did not send keep their stored value.
                let keep = |column: &str, param: usize| {
                    format!(
                        "{column} = CASE WHEN ${param} = '' THEN hosts.{column} ELSE ${param} END"
                    )
                };
                // Numbered as `bind_enroll` binds them; the row was found by
                // its UUID (or a duplicate's) and team, which the WHERE repeats.
                let assignments = [
                    format!("{key_column} = $3"),
                    keep("osquery_host_id", 2),
                    keep("hostname", 5),
                    keep("computer_name", 6),
                    keep("hardware_serial", 7),
                    keep("hardware_model", 8),
                    keep("platform", 9),
                    keep("os_version", 10),
                    keep("osquery_version", 11),
                    "seen_at = $12, last_enrolled_at = $12, updated_at = $12".to_string(),
                ]
                .join(", ");
                let id: i64 = open.try_get("id")?;
                let update = format!(
                    "UPDATE hosts SET {assignments} WHERE id = $13 \
                     AND (uuid = $1 OR substr(uuid, 1, length($1) + 4) = $1 || '#dup') \
                     AND team_id IS NOT DISTINCT FROM $4 RETURNING id"
                );
                let row = bind_enroll(&update, request, key, ts)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                (row, None)
            }
            (None, original) => {
                let uuid = match original {
                    None => request.uuid.clone(),
                    Some(_) => format!("{}#dup{}", request.uuid, crate::random_suffix()),
                };
                let insert = format!(
                    "INSERT INTO hosts (uuid, osquery_host_id, {key_column}, team_id, hostname, computer_name, \
                     hardware_serial, hardware_model, platform, os_version, osquery_version, seen_at, last_enrolled_at, \
                     created_at, updated_at, duplicate_of) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $12, $12, $13) RETURNING id"
                );
                let request = EnrollRequest {
                    uuid,
                    ..request.clone()
                };
                let row = bind_enroll(&insert, &request, key, ts)
                    .bind(original)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| {
                        crate::error::conflict_on_unique(e, || {
                            "another enrollment of this host is under way".into()
                        })
                    })?;
                if let Some(original) = original {
                    let details = serde_json::json!({
                        "host_id": row.try_get::<i64, _>("id")?,
                        "duplicate_of": original,
                        "hardware_uuid": request.uuid,
                        "team_id": request.team.map(|t| t.0),
                    });
                    crate::config::record_activity(
                        &mut tx,
                        &crate::config::agent_activity(
                            ActivityType::EnrolledDuplicateHost,
                            details,
                        ),
                    )
                    .await?;
                }
                (row, original.map(HostId))
            }
        };
        tx.commit().await?;
        let id = HostId(row.try_get("id")?);
        if !request.platform.is_empty() {
            let mut tx = self.begin().await?;
            self.sync_builtin_labels(
                &mut tx,
                id,
                &HostPlatform::new(request.platform.as_str()),
                ts,
            )
            .await?;
            tx.commit().await?;
        }
        Ok(Enrolled { id, duplicate_of })
    }

    /// The host an osquery node key or fleetd orbit node key belongs to.
    pub async fn agent_host(&self, kind: AgentKind, key: &str) -> Result<Option<AgentHost>> {
        let key_column = kind.digest_column();
        let key = &digest(key);
        let row = sqlx::query(&format!(
            "SELECT id, team_id, platform, detail_updated_at, label_updated_at, policy_updated_at, \
             refetch_requested, orbit_capabilities FROM hosts WHERE {key_column} = $1"
        ))
        .bind(key.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(AgentHost {
            id: HostId(row.try_get("id")?),
            team_id: row.try_get::<Option<i64>, _>("team_id")?.map(TeamId),
            platform: host_platform(&row)?,
            freshness: HostFreshness {
                detail_updated_at: row.try_get("detail_updated_at")?,
                label_updated_at: row.try_get("label_updated_at")?,
                policy_updated_at: row.try_get("policy_updated_at")?,
                refetch_requested: flag(&row, "refetch_requested")?,
            },
            orbit_capabilities: row.try_get("orbit_capabilities")?,
        }))
    }

    /// Records when hosts were last heard from, in one statement per batch.
    pub async fn mark_seen(&self, hosts: &[HostId], ts: i64) -> Result<()> {
        for chunk in hosts.chunks(IDS_PER_STATEMENT) {
            let ids: Vec<i64> = chunk.iter().map(|h| h.0).collect();
            let sql = format!(
                "UPDATE hosts SET seen_at = $1 WHERE id IN ({})",
                placeholders(2, ids.len())
            );
            bind_ids(sqlx::query(&sql).bind(ts), &ids)
                .execute(&self.writer)
                .await?;
        }
        Ok(())
    }

    /// Applies one distributed write.
    pub async fn apply_agent_write(&self, host: HostId, write: &AgentWrite) -> Result<()> {
        let ts = self.now();
        let mut tx = self.begin().await?;
        if let Some(vitals) = write.vitals.as_ref().filter(|v| !v.is_empty()) {
            let mdm = vitals.mdm.as_ref();
            let platform_before: Option<String> = match &vitals.platform {
                Some(_) => sqlx::query("SELECT platform FROM hosts WHERE id = $1")
                    .bind(host.0)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|row| row.try_get("platform"))
                    .transpose()?,
                None => None,
            };
            sqlx::query(
                "UPDATE hosts SET hostname = COALESCE($1, hostname), computer_name = COALESCE($2, computer_name), \
                 hardware_serial = COALESCE($3, hardware_serial), hardware_model = COALESCE($4, hardware_model), \
                 platform = COALESCE($5, platform), os_version = COALESCE($6, os_version), \
                 osquery_version = COALESCE($7, osquery_version), uptime_secs = COALESCE($8, uptime_secs), \
                 mdm_enrolled = COALESCE($9, mdm_enrolled), mdm_server_url = COALESCE($10, mdm_server_url), \
                 mdm_installed_from_dep = COALESCE($11, mdm_installed_from_dep), updated_at = $12, \
                 orbit_version = COALESCE($14, orbit_version), \
                 fleet_desktop_version = COALESCE($15, fleet_desktop_version), \
                 scripts_enabled = COALESCE($16, scripts_enabled) WHERE id = $13",
            )
            .bind(vitals.hostname.as_deref())
            .bind(vitals.computer_name.as_deref())
            .bind(vitals.hardware_serial.as_deref())
            .bind(vitals.hardware_model.as_deref())
            .bind(vitals.platform.as_deref())
            .bind(vitals.os_version.as_deref())
            .bind(vitals.osquery_version.as_deref())
            .bind(vitals.uptime_secs)
            .bind(mdm.map(|m| as_flag(m.enrolled)))
            .bind(mdm.map(|m| m.server_url.as_str()))
            .bind(mdm.map(|m| as_flag(m.installed_from_dep)))
            .bind(ts)
            .bind(host.0)
            .bind(vitals.orbit.as_ref().map(|o| o.orbit_version.as_str()))
            .bind(vitals.orbit.as_ref().map(|o| o.fleet_desktop_version.as_str()))
            .bind(vitals.orbit.as_ref().map(|o| as_flag(o.scripts_enabled)))
            .execute(&mut *tx)
            .await?;
            if let Some(platform) = vitals
                .platform
                .as_ref()
                .filter(|p| platform_before.as_ref() != Some(*p))
            {
                self.sync_builtin_labels(&mut tx, host, &HostPlatform::new(platform.as_str()), ts)
                    .await?;
            }
        }
        // One statement per kind of change; ids of labels or policies deleted
        // since the queries went out are skipped by the joins.
        let labels_with = |wanted: LabelOutcome| -> Vec<i64> {
            write
                .labels
                .iter()
                .filter(|(_, o)| *o == wanted)
                .map(|(l, _)| l.0)
                .collect()
        };
        let members = labels_with(LabelOutcome::Member);
        for members in members.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO label_membership (label_id, host_id, updated_at) SELECT l.id, $1, $2 FROM labels l \
                 WHERE l.id IN ({}) ON CONFLICT (label_id, host_id) DO UPDATE SET updated_at = excluded.updated_at",
                placeholders(3, members.len())
            );
            bind_ids(sqlx::query(&sql).bind(host.0).bind(ts), members)
                .execute(&mut *tx)
                .await?;
        }
        let left = labels_with(LabelOutcome::NotMember);
        for left in left.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "DELETE FROM label_membership WHERE host_id = $1 AND label_id IN ({})",
                placeholders(2, left.len())
            );
            bind_ids(sqlx::query(&sql).bind(host.0), left)
                .execute(&mut *tx)
                .await?;
        }
        for stored in [Some(true), Some(false), None] {
            let ids: Vec<i64> = write
                .policies
                .iter()
                .filter(|(_, r)| r.as_stored() == stored)
                .map(|(p, _)| p.0)
                .collect();
            for ids in ids.chunks(IDS_PER_STATEMENT) {
                let sql = format!(
                "INSERT INTO policy_membership (policy_id, host_id, passes, updated_at) SELECT p.id, $1, $2, $3 \
                 FROM policies p WHERE p.id IN ({}) \
                 ON CONFLICT (policy_id, host_id) DO UPDATE SET passes = excluded.passes, updated_at = excluded.updated_at",
                placeholders(4, ids.len())
            );
                bind_ids(
                    sqlx::query(&sql)
                        .bind(host.0)
                        .bind(stored.map(as_flag))
                        .bind(ts),
                    ids,
                )
                .execute(&mut *tx)
                .await?;
            }
        }
        let stamp = |answered: bool| answered.then_some(ts);
        sqlx::query(
            "UPDATE hosts SET detail_updated_at = COALESCE($1, detail_updated_at), \
             label_updated_at = COALESCE($2, label_updated_at), policy_updated_at = COALESCE($3, policy_updated_at), \
             refetch_requested = CASE WHEN $4 = 1 THEN 0 ELSE refetch_requested END, seen_at = $5 WHERE id = $6",
        )
        .bind(stamp(write.details_answered))
        .bind(stamp(write.labels_answered))
        .bind(stamp(write.policies_answered))
        .bind(as_flag(write.completes_refetch()))
        .bind(ts)
        .bind(host.0)
        .execute(&mut *tx)
        .await?;
        if let Some(identity) = write
            .vitals
            .as_ref()
            .and_then(|v| v.entra_identity.as_ref())
        {
            let identity = identity.registration().map(|r| EntraIdentity {
                device_id: r.device_id.clone(),
                upn: r.user_principal_name.clone(),
            });
            write_host_entra(&mut tx, host, identity.as_ref()).await?;
        }
        // The verdict follows from these results (labels decide which
        // label-targeted policies count): decided by the worker, and not lost
        // if this process stops before it runs.
        if write.details_answered || write.policies_answered || !write.labels.is_empty() {
            crate::dirty::mark(
                &mut tx,
                crate::DirtyKind::Compliance,
                crate::dirty::Affected::Hosts(&[host]),
            )
            .await?;
            self.commit_marked(tx).await?;
        } else {
            tx.commit().await?;
        }
        Ok(())
    }

    /// Built-in labels follow the host's platform rather than a query.
    async fn sync_builtin_labels(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        host: HostId,
        platform: &HostPlatform,
        ts: i64,
    ) -> Result<()> {
        // Read inside the transaction: asking the pool for a second connection
        // while holding the write lock could wait for ever.
        let builtin = sqlx::query("SELECT id, platform FROM labels WHERE label_type = 'builtin'")
            .fetch_all(&mut **tx)
            .await?;
        for row in &builtin {
            let label = LabelId(row.try_get("id")?);
            let member = platforms(row, "built-in label")?.targets_host(platform);
            set_membership(tx, label, host, member, ts).await?;
        }
        Ok(())
    }

    /// Registers the token a host's fleetd uses for Fleet Desktop and the
    /// "My device" page. A new token replaces the host's current one, which
    /// stays valid as the previous token for the grace period
    /// [`Store::host_by_device_token`] is given; the same token again only
    /// refreshes it.
    pub async fn set_device_token(&self, host: HostId, token: &str) -> Result<()> {
        let now = self.now();
        let token = digest(token);
        let mut tx = self.begin().await?;
        let owner = sqlx::query(
            "SELECT host_id FROM host_device_tokens WHERE digest = $1 OR previous_digest = $1",
        )
        .bind(token.as_str())
        .fetch_all(&mut *tx)
        .await?;
        for row in &owner {
            if row.try_get::<i64, _>("host_id")? != host.0 {
                return Err(StoreError::Conflict(
                    "device token belongs to another host".into(),
                ));
            }
        }
        let current = sqlx::query("SELECT digest FROM host_device_tokens WHERE host_id = $1")
            .bind(host.0)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.try_get::<String, _>("digest"))
            .transpose()?;
        let statement = match current {
            Some(current) if current == token => {
                "UPDATE host_device_tokens SET refreshed_at = $1 WHERE host_id = $2 AND digest = $3"
            }
            Some(_) => {
                "UPDATE host_device_tokens SET previous_digest = digest, rotated_at = $1, digest = $3, \
                 refreshed_at = $1 WHERE host_id = $2"
            }
            None => {
                "INSERT INTO host_device_tokens (refreshed_at, host_id, digest) VALUES ($1, $2, $3)"
            }
        };
        sqlx::query(statement)
            .bind(now)
            .bind(host.0)
            .bind(token.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records the capabilities orbit announced.
    pub async fn set_orbit_capabilities(&self, host: HostId, capabilities: &str) -> Result<()> {
        sqlx::query("UPDATE hosts SET orbit_capabilities = $1 WHERE id = $2")
            .bind(capabilities)
            .bind(host.0)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Records the end user's email orbit reported for its host.
    pub async fn set_end_user_email(&self, host: HostId, email: &str) -> Result<()> {
        sqlx::query("UPDATE hosts SET device_mapping_email = $1 WHERE id = $2")
            .bind(email)
            .bind(host.0)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The host of a device token refreshed at or after `fresh_since`, or of
    /// a token replaced at or after `rotated_since`.
    pub async fn host_by_device_token(
        &self,
        token: &str,
        fresh_since: i64,
        rotated_since: i64,
    ) -> Result<Option<HostRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM hosts h LEFT JOIN teams t ON t.id = h.team_id \
             JOIN host_device_tokens d ON d.host_id = h.id \
             WHERE (d.digest = $1 AND d.refreshed_at >= $2) \
                OR (d.previous_digest = $1 AND d.rotated_at >= $3)",
            crate::hosts::HOST_COLUMNS_PUBLIC
        ))
        .bind(digest(token))
        .bind(fresh_since)
        .bind(rotated_since)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(host_from_row).transpose()
    }
}
