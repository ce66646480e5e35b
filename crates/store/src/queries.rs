//! Saved queries (Fleet's "queries", newer "reports"), global or per team.

use crate::records::{scope_from_column, scope_to_column};
use crate::{flag, Result, Store, StoreError};
use flotilla_core::access::Scope;
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
