//! Saved queries (Fleet's "queries", newer "reports"), global or per team.

use crate::records::{scope_from_column, scope_to_column};
use crate::{flag, Result, Store, StoreError};
use flotilla_core::access::Scope;
use flotilla_core::agent_config::ReportChange;
use flotilla_core::gitops::{QueryDef, QueryLogging};
use flotilla_core::TeamId;
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedQuery {
    pub id: i64,
    pub scope: Scope,
    pub def: QueryDef,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) const QUERY_SELECT: &str = "SELECT id, team_id, name, description, query, platform, interval_secs, \
     observer_can_run, automations_enabled, logging, min_osquery_version, created_at, updated_at FROM saved_queries";

/// `team_id IS NULL` (global) or `team_id = N`, for one scope's rows.
pub(crate) fn scope_filter(scope: Scope) -> String {
    match scope_to_column(scope) {
        None => "team_id IS NULL".to_string(),
        Some(team) => format!("team_id = {team}"),
    }
}

impl Store {
    /// The saved queries a host of this team runs: global ones, and its
    /// team's (or "No team"'s), oldest first.
    pub async fn saved_queries_for_team(&self, team: Option<TeamId>) -> Result<Vec<SavedQuery>> {
        let rows = sqlx::query(&format!(
            "{QUERY_SELECT} WHERE team_id IS NULL OR team_id = $1 ORDER BY id"
        ))
        .bind(team.map_or(0, |t| t.0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(query_from_row).collect()
    }

    /// The saved queries of one scope, oldest first.
    pub async fn saved_queries(&self, scope: Scope) -> Result<Vec<SavedQuery>> {
        let rows = sqlx::query(&format!(
            "{QUERY_SELECT} WHERE {} ORDER BY id",
            scope_filter(scope)
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(query_from_row).collect()
    }
}

pub(crate) fn query_from_row(row: &AnyRow) -> Result<SavedQuery> {
    Ok(SavedQuery {
        id: row.try_get("id")?,
        scope: scope_from_column(row.try_get("team_id")?),
        def: QueryDef {
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            query: row.try_get("query")?,
            platform: row.try_get("platform")?,
            interval: row.try_get("interval_secs")?,
            observer_can_run: flag(row, "observer_can_run")?,
            automations_enabled: flag(row, "automations_enabled")?,
            logging: {
                let text: String = row.try_get("logging")?;
                QueryLogging::parse(&text)
                    .ok_or_else(|| StoreError::Corrupt(format!("query logging \"{text}\"")))?
            },
            min_osquery_version: row.try_get("min_osquery_version")?,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The most rows a query report keeps (Fleet's default `query_report_cap`);
/// past it, new rows are not saved and the report says it is clipped.
pub const QUERY_REPORT_CAP: i64 = 1000;

/// One row of a query report.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResultRow {
    pub host_id: flotilla_core::HostId,
    pub host_name: String,
    pub columns: serde_json::Map<String, serde_json::Value>,
    pub fetched_at: i64,
}

impl Store {
    pub async fn saved_query(&self, id: i64) -> Result<SavedQuery> {
        let row = sqlx::query(&format!("{QUERY_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("query"))?;
        query_from_row(&row)
    }

    /// Applies a host's logged results to its reports, in one transaction.
    pub async fn record_query_results(
        &self,
        host: flotilla_core::HostId,
        changes: &[(i64, ReportChange)],
    ) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let ts = self.now();
        let mut tx = self.begin().await?;
        for (query, change) in changes {
            let rows = match change {
                ReportChange::Replace(rows) => {
                    sqlx::query("DELETE FROM query_results WHERE query_id = $1 AND host_id = $2")
                        .bind(query)
                        .bind(host.0)
                        .execute(&mut *tx)
                        .await?;
                    rows.as_slice()
                }
                ReportChange::Add(row) => std::slice::from_ref(row),
            };
            let stored: i64 =
                sqlx::query("SELECT COUNT(*) AS n FROM query_results WHERE query_id = $1")
                    .bind(query)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("n")?;
            let room = (QUERY_REPORT_CAP - stored).max(0) as usize;
            for row in rows.iter().take(room) {
                sqlx::query(
                    "INSERT INTO query_results (query_id, host_id, columns, fetched_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(query)
                .bind(host.0)
                .bind(serde_json::to_string(row)?)
                .bind(ts)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// A query's report (newest first) and whether it reached the cap.
    pub async fn query_report(&self, query: i64) -> Result<(Vec<QueryResultRow>, bool)> {
        let rows = sqlx::query(
            "SELECT r.host_id, h.hostname, r.columns, r.fetched_at FROM query_results r \
             JOIN hosts h ON h.id = r.host_id WHERE r.query_id = $1 ORDER BY r.fetched_at DESC, r.id \
             LIMIT $2",
        )
        .bind(query)
        .bind(QUERY_REPORT_CAP)
        .fetch_all(&self.pool)
        .await?;
        let rows = rows
            .iter()
            .map(|row| {
                Ok(QueryResultRow {
                    host_id: flotilla_core::HostId(row.try_get("host_id")?),
                    host_name: row.try_get("hostname")?,
                    columns: serde_json::from_str(&row.try_get::<String, _>("columns")?)?,
                    fetched_at: row.try_get("fetched_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let clipped = rows.len() as i64 >= QUERY_REPORT_CAP;
        Ok((rows, clipped))
    }
}
