//! Hosts as the admin API sees them: listing, filtering, moving, deleting.

use crate::conditional_access::EntraIdentity;
use crate::config::record_activity;
use crate::dirty::{Affected, DirtyKind};
use crate::records::{Activity, FleetdFacts, HostRecord};
use crate::{flag, host_platform, opt_flag, Result, Store, StoreError};
use flotilla_core::{HostId, LabelId, PolicyId, TeamId};
use sqlx::any::AnyRow;
use sqlx::Row;

pub(crate) const HOST_COLUMNS_PUBLIC: &str = HOST_COLUMNS;
const HOST_COLUMNS: &str = "h.id, h.uuid, h.osquery_host_id, h.team_id, t.name AS team_name, h.hostname, \
     h.computer_name, h.hardware_serial, h.hardware_model, h.platform, h.os_version, h.osquery_version, \
     h.uptime_secs, h.mdm_enrolled, h.mdm_server_url, h.mdm_installed_from_dep, h.detail_updated_at, \
     h.label_updated_at, h.policy_updated_at, h.refetch_requested, h.seen_at, h.last_enrolled_at, \
     h.created_at, h.updated_at, h.orbit_capabilities, h.orbit_version, h.fleet_desktop_version, \
     h.scripts_enabled, h.device_mapping_email, h.duplicate_of, \
     (SELECT e.device_id FROM host_entra e WHERE e.host_id = h.id) AS entra_device_id, \
     (SELECT e.upn FROM host_entra e WHERE e.host_id = h.id) AS entra_upn, \
     (SELECT COUNT(*) FROM policy_membership pm WHERE pm.host_id = h.id AND pm.passes = 0) AS failing_policies";
const HOST_FROM: &str = "FROM hosts h LEFT JOIN teams t ON t.id = h.team_id";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyResponseFilter {
    Passing,
    Failing,
}

/// Which hosts a listing returns. Every condition narrows the result.
#[derive(Debug, Clone, Default)]
pub struct HostFilter {
    /// The teams the caller may see; `None` for all hosts.
    pub visible_teams: Option<Vec<TeamId>>,
    pub team: TeamFilter,
    pub label: Option<LabelId>,
    pub policy: Option<(PolicyId, Option<PolicyResponseFilter>)>,
    /// Substring of hostname, computer name, serial or UUID, any case.
    pub query: Option<String>,
    /// The platform the host reports (`darwin`, `windows`, …).
    pub platform: Option<String>,
    /// By the verdict last reported to Entra: compliant or not.
    pub compliant: Option<bool>,
}

/// Which team's hosts a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TeamFilter {
    #[default]
    Any,
    /// Hosts without a team.
    NoTeam,
    Team(TeamId),
}

impl TeamFilter {
    /// A team id or none ("No team").
    pub fn of(team: Option<TeamId>) -> TeamFilter {
        team.map_or(TeamFilter::NoTeam, TeamFilter::Team)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostOrder {
    #[default]
    Id,
    Hostname,
    SeenTime,
    FailingPolicies,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: i64,
    pub per_page: i64,
    pub order: HostOrder,
    pub descending: bool,
}

enum Bind {
    Int(i64),
    Text(String),
}

/// A WHERE clause with its parameters, numbered as they are added.
#[derive(Default)]
struct Conditions {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Conditions {
    fn param(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        format!("${}", self.binds.len())
    }

    fn from_filter(filter: &HostFilter) -> Conditions {
        let mut c = Conditions::default();
        if let Some(visible) = &filter.visible_teams {
            if visible.is_empty() {
                c.clauses.push("1 = 0".into());
            } else {
                let params: Vec<String> = visible.iter().map(|t| c.param(Bind::Int(t.0))).collect();
                c.clauses
                    .push(format!("h.team_id IN ({})", params.join(", ")));
            }
        }
        match filter.team {
            TeamFilter::Team(team) => {
                let p = c.param(Bind::Int(team.0));
                c.clauses.push(format!("h.team_id = {p}"));
            }
            TeamFilter::NoTeam => c.clauses.push("h.team_id IS NULL".into()),
            TeamFilter::Any => {}
        }
        if let Some(label) = filter.label {
            let p = c.param(Bind::Int(label.0));
            c.clauses.push(format!(
                "h.id IN (SELECT lm.host_id FROM label_membership lm WHERE lm.label_id = {p})"
            ));
        }
        if let Some((policy, response)) = filter.policy {
            let p = c.param(Bind::Int(policy.0));
            let passes = match response {
                Some(PolicyResponseFilter::Passing) => " AND pf.passes = 1",
                Some(PolicyResponseFilter::Failing) => " AND pf.passes = 0",
                None => "",
            };
            c.clauses.push(format!(
                "h.id IN (SELECT pf.host_id FROM policy_membership pf WHERE pf.policy_id = {p}{passes})"
            ));
        }
        if let Some(platform) = filter.platform.as_deref().filter(|p| !p.is_empty()) {
            let p = c.param(Bind::Text(platform.to_string()));
            c.clauses.push(format!("h.platform = {p}"));
        }
        if let Some(compliant) = filter.compliant {
            let p = c.param(Bind::Int(i64::from(compliant)));
            c.clauses.push(format!(
                "h.id IN (SELECT r.host_id FROM compliance_reports r WHERE r.compliant = {p} AND r.id = \
                 (SELECT MAX(r2.id) FROM compliance_reports r2 WHERE r2.host_id = r.host_id))"
            ));
        }
        if let Some(query) = filter
            .query
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
        {
            let escaped = query
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let p = c.param(Bind::Text(format!("%{escaped}%")));
            c.clauses.push(format!(
                "(LOWER(h.hostname) LIKE {p} ESCAPE '\\' OR LOWER(h.computer_name) LIKE {p} ESCAPE '\\' \
                 OR LOWER(h.hardware_serial) LIKE {p} ESCAPE '\\' OR LOWER(h.uuid) LIKE {p} ESCAPE '\\')"
            ));
        }
        c
    }

    fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    fn bind<'q>(
        &'q self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for bind in &self.binds {
            query = match bind {
                Bind::Int(v) => query.bind(*v),
                Bind::Text(v) => query.bind(v.as_str()),
            };
        }
        query
    }
}

impl Store {
    pub async fn list_hosts(&self, filter: &HostFilter, page: Page) -> Result<Vec<HostRecord>> {
        let mut conditions = Conditions::from_filter(filter);
        let order = match page.order {
            HostOrder::Id => "h.id",
            HostOrder::Hostname => "h.hostname",
            HostOrder::SeenTime => "h.seen_at",
            HostOrder::FailingPolicies => "failing_policies",
        };
        let direction = if page.descending { "DESC" } else { "ASC" };
        let limit = conditions.param(Bind::Int(page.per_page));
        let offset = conditions.param(Bind::Int(page.page * page.per_page));
        let sql = format!(
            "SELECT {HOST_COLUMNS} {HOST_FROM} {} ORDER BY {order} {direction}, h.id {direction} LIMIT {limit} OFFSET {offset}",
            conditions.where_sql()
        );
        let rows = conditions
            .bind(sqlx::query(&sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(host_from_row).collect()
    }

    pub async fn count_hosts(&self, filter: &HostFilter) -> Result<i64> {
        let conditions = Conditions::from_filter(filter);
        let sql = format!(
            "SELECT COUNT(*) AS n {HOST_FROM} {}",
            conditions.where_sql()
        );
        let row = conditions
            .bind(sqlx::query(&sql))
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    pub async fn host(&self, id: HostId) -> Result<HostRecord> {
        let row = sqlx::query(&format!(
            "SELECT {HOST_COLUMNS} {HOST_FROM} WHERE h.id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("host"))?;
        host_from_row(&row)
    }

    /// Finds a host by UUID, hostname, serial or osquery host identifier.
    pub async fn host_by_identifier(&self, identifier: &str) -> Result<HostRecord> {
        let row = sqlx::query(&format!(
            "SELECT {HOST_COLUMNS} {HOST_FROM} WHERE h.uuid = $1 OR h.hostname = $1 OR h.hardware_serial = $1 \
             OR h.osquery_host_id = $1 ORDER BY h.id LIMIT 1"
        ))
        .bind(identifier)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("host"))?;
        host_from_row(&row)
    }

    pub async fn delete_host(&self, id: HostId, activity: Activity) -> Result<()> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM hosts WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound("host"));
        }
        record_activity(&mut tx, &activity).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Moves hosts to a team (or "No team"). Their team's policies differ, so
    /// old results are dropped and everything is asked again.
    pub async fn transfer_hosts(
        &self,
        hosts: &[HostId],
        team: Option<TeamId>,
        activity: Activity,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        for host in hosts {
            let moved = sqlx::query("UPDATE hosts SET team_id = $1, refetch_requested = 1, updated_at = $2 WHERE id = $3")
                .bind(team.map(|t| t.0))
                .bind(self.now())
                .bind(host.0)
                .execute(&mut *tx)
                .await
                .map_err(|e| match e {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound("team"),
                    other => other.into(),
                })?;
            if moved.rows_affected() == 0 {
                return Err(StoreError::NotFound("host"));
            }
            sqlx::query(
                "DELETE FROM policy_membership WHERE host_id = $1 AND policy_id IN \
                 (SELECT id FROM policies WHERE team_id IS NOT NULL)",
            )
            .bind(host.0)
            .execute(&mut *tx)
            .await?;
        }
        record_activity(&mut tx, &activity).await?;
        crate::dirty::mark(&mut tx, DirtyKind::Compliance, Affected::Hosts(hosts)).await?;
        self.commit_marked(tx).await?;
        Ok(())
    }

    /// Asks the host for everything on its next check-in.
    pub async fn request_refetch(&self, id: HostId) -> Result<()> {
        let updated = sqlx::query("UPDATE hosts SET refetch_requested = 1 WHERE id = $1")
            .bind(id.0)
            .execute(&self.writer)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound("host"));
        }
        Ok(())
    }

    /// Resolves hostnames (or other identifiers) to host ids; the error names
    /// the first one that matches no host.
    pub async fn resolve_hosts(&self, identifiers: &[String]) -> Result<Vec<HostId>> {
        let mut ids = Vec::with_capacity(identifiers.len());
        for identifier in identifiers {
            match self.host_by_identifier(identifier).await {
                Ok(host) => ids.push(host.id),
                Err(StoreError::NotFound(_)) => {
                    return Err(StoreError::Conflict(format!(
                        "no host matches \"{identifier}\""
                    )))
                }
                Err(err) => return Err(err),
            }
        }
        Ok(ids)
    }
}

pub(crate) fn host_from_row(row: &AnyRow) -> Result<HostRecord> {
    Ok(HostRecord {
        id: HostId(row.try_get("id")?),
        uuid: row.try_get("uuid")?,
        osquery_host_id: row.try_get("osquery_host_id")?,
        team_id: row.try_get::<Option<i64>, _>("team_id")?.map(TeamId),
        team_name: row.try_get("team_name")?,
        hostname: row.try_get("hostname")?,
        computer_name: row.try_get("computer_name")?,
        hardware_serial: row.try_get("hardware_serial")?,
        hardware_model: row.try_get("hardware_model")?,
        platform: host_platform(row)?,
        os_version: row.try_get("os_version")?,
        osquery_version: row.try_get("osquery_version")?,
        uptime_secs: row.try_get("uptime_secs")?,
        mdm_enrolled: opt_flag(row, "mdm_enrolled")?,
        mdm_server_url: row.try_get("mdm_server_url")?,
        mdm_installed_from_dep: flag(row, "mdm_installed_from_dep")?,
        detail_updated_at: row.try_get("detail_updated_at")?,
        label_updated_at: row.try_get("label_updated_at")?,
        policy_updated_at: row.try_get("policy_updated_at")?,
        refetch_requested: flag(row, "refetch_requested")?,
        seen_at: row.try_get("seen_at")?,
        last_enrolled_at: row.try_get("last_enrolled_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        failing_policies: row.try_get("failing_policies")?,
        duplicate_of: row.try_get::<Option<i64>, _>("duplicate_of")?.map(HostId),
        entra: match (
            row.try_get::<Option<String>, _>("entra_device_id")?,
            row.try_get::<Option<String>, _>("entra_upn")?,
        ) {
            (Some(device_id), Some(upn)) => Some(EntraIdentity { device_id, upn }),
            _ => None,
        },
        fleetd: FleetdFacts {
            capabilities: row
                .try_get::<String, _>("orbit_capabilities")?
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
            orbit_version: row.try_get("orbit_version")?,
            fleet_desktop_version: row.try_get("fleet_desktop_version")?,
            scripts_enabled: opt_flag(row, "scripts_enabled")?,
            end_user_email: row.try_get("device_mapping_email")?,
        },
    })
}
