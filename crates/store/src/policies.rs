//! Policies (global, "No team", per team) and their results per host.

use crate::config::record_activity;
use crate::dirty::{Affected, DirtyKind};
use crate::error::conflict_on_unique;
use crate::records::{
    scope_from_column, scope_to_column, Activity, HostPolicy, PolicyRecord, PolicySpec,
};
use crate::LabelTarget;
use crate::{as_flag, flag, now, opt_flag, platforms, Result, Store, StoreError, Tx};
use flotilla_core::access::Scope;
use flotilla_core::settings::{OrgSettings, TeamSettings};
use flotilla_core::targeting::{label_scope_applies, LabelScope};
use flotilla_core::{HostId, HostPlatform, PolicyId, PolicyResponse, TeamId, UserId};
use sqlx::any::AnyRow;
use sqlx::Row;

macro_rules! policy_columns {
    () => {
        "SELECT p.id, p.team_id, p.name, p.query, p.description, p.resolution, p.platform, \
         p.critical, p.calendar_events_enabled, p.conditional_access_enabled, p.author_id, p.created_at, \
         p.updated_at, COALESCE(u.name, '') AS author_name, COALESCE(u.email, '') AS author_email, \
         p.install_software_id, COALESCE(sp.title, '') AS install_software_title, "
    };
}
/// With passing and failing host counts, for the admin API.
const POLICY_SELECT: &str = concat!(
    policy_columns!(),
    "(SELECT COUNT(*) FROM policy_membership m WHERE m.policy_id = p.id AND m.passes = 1) AS passing_host_count, \
     (SELECT COUNT(*) FROM policy_membership m WHERE m.policy_id = p.id AND m.passes = 0) AS failing_host_count \
     FROM policies p LEFT JOIN users u ON u.id = p.author_id \
     LEFT JOIN software_packages sp ON sp.id = p.install_software_id"
);
/// Without host counts (reported as 0): counting costs a pass over every
/// host's result, too much for agent check-ins and verdicts.
pub(crate) const POLICY_SELECT_UNCOUNTED: &str = concat!(
    policy_columns!(),
    "0 AS passing_host_count, 0 AS failing_host_count FROM policies p LEFT JOIN users u ON u.id = p.author_id \
     LEFT JOIN software_packages sp ON sp.id = p.install_software_id"
);

/// Settings to replace: a team's, or the org's.
#[derive(Debug, Clone, Copy)]
pub enum ScopeSettings<'a> {
    Team {
        id: TeamId,
        settings: &'a TeamSettings,
    },
    Org(&'a OrgSettings),
}

/// The hosts a policy of this scope is checked on.
fn affected_by_scope(scope: Scope) -> Affected<'static> {
    match scope {
        Scope::Global => Affected::All,
        Scope::NoTeam => Affected::Team(None),
        Scope::Team(team) => Affected::Team(Some(team)),
    }
}

fn duplicate_name(name: &str) -> String {
    format!("a policy named \"{name}\" already exists in this team")
}

impl Store {
    pub async fn create_policy(
        &self,
        scope: Scope,
        spec: &PolicySpec,
        author: Option<UserId>,
        activity: Activity,
    ) -> Result<PolicyRecord> {
        let mut tx = self.begin().await?;
        let id = insert_policy(&mut tx, scope, spec, author).await?;
        record_activity(&mut tx, &activity).await?;
        crate::dirty::mark(&mut tx, DirtyKind::Compliance, affected_by_scope(scope)).await?;
        self.commit_marked(tx).await?;
        self.policy(id).await
    }

    pub async fn policy(&self, id: PolicyId) -> Result<PolicyRecord> {
        let row = sqlx::query(&format!("{POLICY_SELECT} WHERE p.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("policy"))?;
        let mut policies = vec![policy_from_row(&row)?];
        self.attach_labels(&mut policies).await?;
        Ok(policies.remove(0))
    }

    /// The policies of one scope, oldest first.
    pub async fn policies(&self, scope: Scope) -> Result<Vec<PolicyRecord>> {
        let rows = match scope_to_column(scope) {
            None => {
                sqlx::query(&format!(
                    "{POLICY_SELECT} WHERE p.team_id IS NULL ORDER BY p.id"
                ))
                .fetch_all(&self.pool)
                .await?
            }
            Some(team) => {
                sqlx::query(&format!(
                    "{POLICY_SELECT} WHERE p.team_id = $1 ORDER BY p.id"
                ))
                .bind(team)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut policies = rows
            .iter()
            .map(policy_from_row)
            .collect::<Result<Vec<_>>>()?;
        self.attach_labels(&mut policies).await?;
        Ok(policies)
    }

    /// Fills in each policy's label targeting (one query for all of them).
    async fn attach_labels(&self, policies: &mut [PolicyRecord]) -> Result<()> {
        if policies.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = policies.iter().map(|p| p.id.0).collect();
        let mut rows = Vec::new();
        for ids in ids.chunks(crate::agent::IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT x.policy_id, l.name, x.mode FROM policy_labels x JOIN labels l ON l.id = x.label_id \
                 WHERE x.policy_id IN ({}) ORDER BY l.name",
                crate::agent::placeholders(1, ids.len())
            );
            rows.extend(
                crate::agent::bind_ids(sqlx::query(&sql), ids)
                    .fetch_all(&self.pool)
                    .await?,
            );
        }
        for row in rows {
            let id = PolicyId(row.try_get("policy_id")?);
            let Some(policy) = policies.iter_mut().find(|p| p.id == id) else {
                continue;
            };
            let name: String = row.try_get("name")?;
            match LabelTarget::parse(&row.try_get::<String, _>("mode")?) {
                LabelTarget::IncludeAll => policy.labels.labels_include_all.push(name),
                LabelTarget::IncludeAny => policy.labels.labels_include_any.push(name),
                LabelTarget::ExcludeAny => policy.labels.labels_exclude_any.push(name),
            }
        }
        Ok(())
    }

    /// Replaces a policy's fields. A changed query or platform drops its old results.
    pub async fn update_policy(
        &self,
        id: PolicyId,
        spec: &PolicySpec,
        activity: Activity,
    ) -> Result<PolicyRecord> {
        let current = self.policy(id).await?;
        let mut tx = self.begin().await?;
        let drop_results =
            current.query != spec.query || current.platform.to_list_string() != spec.platform;
        update_policy_row(&mut tx, id, spec, drop_results).await?;
        record_activity(&mut tx, &activity).await?;
        crate::dirty::mark(
            &mut tx,
            DirtyKind::Compliance,
            affected_by_scope(current.scope),
        )
        .await?;
        self.commit_marked(tx).await?;
        self.policy(id).await
    }

    /// A team's (or "No team"'s) conditional access as one change: the new
    /// flags of its policies and its new settings document, each with its
    /// activity, in one transaction that marks the scope's hosts.
    pub async fn save_conditional_access(
        &self,
        policies: &[(PolicyId, PolicySpec, Activity)],
        settings: ScopeSettings<'_>,
        activity: Activity,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        for (id, spec, activity) in policies {
            update_policy_row(&mut tx, *id, spec, false).await?;
            record_activity(&mut tx, activity).await?;
        }
        let affected = match settings {
            ScopeSettings::Team { id, settings } => {
                let updated = sqlx::query("UPDATE teams SET document = $1 WHERE id = $2")
                    .bind(crate::settings_text(settings)?)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
                if updated.rows_affected() == 0 {
                    return Err(StoreError::NotFound("team"));
                }
                Affected::Team(Some(id))
            }
            ScopeSettings::Org(org) => {
                crate::config::upsert_org_settings(&mut tx, org).await?;
                Affected::Team(None)
            }
        };
        record_activity(&mut tx, &activity).await?;
        crate::dirty::mark(&mut tx, DirtyKind::Compliance, affected).await?;
        self.commit_marked(tx).await?;
        Ok(())
    }

    /// Deletes policies of one scope; every id must belong to it or nothing is deleted.
    pub async fn delete_policies(
        &self,
        scope: Scope,
        ids: &[PolicyId],
        activities: &[Activity],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        for id in ids {
            let deleted = match scope_to_column(scope) {
                None => {
                    sqlx::query("DELETE FROM policies WHERE id = $1 AND team_id IS NULL")
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await?
                }
                Some(team) => {
                    sqlx::query("DELETE FROM policies WHERE id = $1 AND team_id = $2")
                        .bind(id.0)
                        .bind(team)
                        .execute(&mut *tx)
                        .await?
                }
            };
            if deleted.rows_affected() == 0 {
                return Err(StoreError::NotFound("policy"));
            }
        }
        for activity in activities {
            record_activity(&mut tx, activity).await?;
        }
        crate::dirty::mark(&mut tx, DirtyKind::Compliance, affected_by_scope(scope)).await?;
        self.commit_marked(tx).await?;
        Ok(())
    }

    /// The policies a host of this team is checked against (global ones and its
    /// team's, or "No team"'s), before platform filtering; without host counts.
    pub async fn policies_for_team(&self, team: Option<TeamId>) -> Result<Vec<PolicyRecord>> {
        let rows = sqlx::query(&format!(
            "{POLICY_SELECT_UNCOUNTED} WHERE p.team_id IS NULL OR p.team_id = $1 ORDER BY p.id"
        ))
        .bind(team.map_or(0, |t| t.0))
        .fetch_all(&self.pool)
        .await?;
        let mut policies = rows
            .iter()
            .map(policy_from_row)
            .collect::<Result<Vec<_>>>()?;
        self.attach_labels(&mut policies).await?;
        Ok(policies)
    }

    /// The names of the labels a host is in, when any of `policies` is
    /// targeted by label (otherwise nothing is looked up).
    pub async fn label_names_for_targeting(
        &self,
        host: HostId,
        policies: &[PolicyRecord],
    ) -> Result<Vec<String>> {
        if policies.iter().all(|p| p.labels == LabelScope::default()) {
            return Ok(Vec::new());
        }
        Ok(self
            .host_labels(host)
            .await?
            .into_iter()
            .map(|l| l.name)
            .collect())
    }

    /// Each applicable policy with this host's stored result.
    pub async fn host_policies(
        &self,
        host: HostId,
        team: Option<TeamId>,
        platform: &HostPlatform,
    ) -> Result<Vec<HostPolicy>> {
        let results =
            sqlx::query("SELECT policy_id, passes FROM policy_membership WHERE host_id = $1")
                .bind(host.0)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|row| {
                    Ok((
                        PolicyId(row.try_get("policy_id")?),
                        opt_flag(row, "passes")?,
                    ))
                })
                .collect::<Result<std::collections::HashMap<_, _>>>()?;
        let policies = self.policies_for_team(team).await?;
        let labels = self.label_names_for_targeting(host, &policies).await?;
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        Ok(policies
            .into_iter()
            .filter(|p| targets(p, platform) && label_scope_applies(&p.labels, &labels))
            .map(|policy| {
                let response = results
                    .get(&policy.id)
                    .map_or(PolicyResponse::Unknown, |passes| {
                        PolicyResponse::from_stored(*passes)
                    });
                HostPolicy { policy, response }
            })
            .collect())
    }
}

pub(crate) async fn insert_policy(
    tx: &mut Tx,
    scope: Scope,
    spec: &PolicySpec,
    author: Option<UserId>,
) -> Result<PolicyId> {
    let row = sqlx::query(
        "INSERT INTO policies (team_id, name, query, description, resolution, platform, critical, \
         calendar_events_enabled, conditional_access_enabled, author_id, created_at, updated_at, install_software_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12) RETURNING id",
    )
    .bind(scope_to_column(scope))
    .bind(spec.name.as_str())
    .bind(spec.query.as_str())
    .bind(spec.description.as_str())
    .bind(spec.resolution.as_str())
    .bind(spec.platform.as_str())
    .bind(as_flag(spec.critical))
    .bind(as_flag(spec.calendar_events_enabled))
    .bind(as_flag(spec.conditional_access_enabled))
    .bind(author.map(|a| a.0))
    .bind(now())
    .bind(spec.install_software_id)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| conflict_on_unique(e, || duplicate_name(&spec.name)))?;
    Ok(PolicyId(row.try_get("id")?))
}

/// Replaces a policy's fields; `drop_results` when its old results no longer mean anything.
pub(crate) async fn update_policy_row(
    tx: &mut Tx,
    id: PolicyId,
    spec: &PolicySpec,
    drop_results: bool,
) -> Result<()> {
    sqlx::query(
        "UPDATE policies SET name = $1, query = $2, description = $3, resolution = $4, platform = $5, \
         critical = $6, calendar_events_enabled = $7, conditional_access_enabled = $8, updated_at = $9, \
         install_software_id = $11 WHERE id = $10",
    )
    .bind(spec.name.as_str())
    .bind(spec.query.as_str())
    .bind(spec.description.as_str())
    .bind(spec.resolution.as_str())
    .bind(spec.platform.as_str())
    .bind(as_flag(spec.critical))
    .bind(as_flag(spec.calendar_events_enabled))
    .bind(as_flag(spec.conditional_access_enabled))
    .bind(now())
    .bind(id.0)
    .bind(spec.install_software_id)
    .execute(&mut **tx)
    .await
    .map_err(|e| conflict_on_unique(e, || duplicate_name(&spec.name)))?;
    if drop_results {
        sqlx::query("DELETE FROM policy_membership WHERE policy_id = $1")
            .bind(id.0)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Whether a policy's platform list covers a host platform.
pub(crate) fn targets(policy: &PolicyRecord, host_platform: &HostPlatform) -> bool {
    policy.platform.targets_host(host_platform)
}

pub(crate) fn policy_from_row(row: &AnyRow) -> Result<PolicyRecord> {
    Ok(PolicyRecord {
        id: PolicyId(row.try_get("id")?),
        scope: scope_from_column(row.try_get("team_id")?),
        name: row.try_get("name")?,
        query: row.try_get("query")?,
        description: row.try_get("description")?,
        resolution: row.try_get("resolution")?,
        platform: platforms(row, "policy")?,
        critical: flag(row, "critical")?,
        calendar_events_enabled: flag(row, "calendar_events_enabled")?,
        conditional_access_enabled: flag(row, "conditional_access_enabled")?,
        author_id: row.try_get::<Option<i64>, _>("author_id")?.map(UserId),
        author_name: row.try_get("author_name")?,
        author_email: row.try_get("author_email")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        passing_host_count: row.try_get("passing_host_count")?,
        failing_host_count: row.try_get("failing_host_count")?,
        install_software: row
            .try_get::<Option<i64>, _>("install_software_id")?
            .map(|id| Ok::<_, StoreError>((id, row.try_get("install_software_title")?)))
            .transpose()?,
        labels: LabelScope::default(),
    })
}
