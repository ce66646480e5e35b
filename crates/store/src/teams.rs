//! Teams and enroll secrets.

use crate::at_rest::{digest, open_sealed};
use crate::config::record_activity;
use crate::dirty::{Affected, DirtyKind};
use crate::error::conflict_on_unique;
use crate::records::{Activity, EnrollSecret, TeamRecord};
use crate::{now, settings, settings_text, Result, Store, StoreError, Tx};
use flotilla_core::settings::TeamSettings;
use flotilla_core::TeamId;
use flotilla_secrets::ServerKey;
use sqlx::any::AnyRow;
use sqlx::Row;

const TEAM_SELECT: &str = "SELECT t.id, t.name, t.description, t.document, t.created_at, \
     (SELECT COUNT(*) FROM hosts h WHERE h.team_id = t.id) AS host_count FROM teams t";

impl Store {
    /// Creates a team with its first enroll secret.
    pub async fn create_team(
        &self,
        name: &str,
        description: &str,
        settings: &TeamSettings,
        secret: &str,
        activity: Activity,
    ) -> Result<TeamRecord> {
        let mut tx = self.begin().await?;
        let id = insert_team(&mut tx, name, description, settings).await?;
        insert_secret(&mut tx, &self.server_key, secret, Some(id)).await?;
        record_activity(&mut tx, &activity).await?;
        tx.commit().await?;
        self.team(id).await
    }

    pub async fn team(&self, id: TeamId) -> Result<TeamRecord> {
        let row = sqlx::query(&format!("{TEAM_SELECT} WHERE t.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("team"))?;
        team_from_row(&row)
    }

    /// A team's settings alone: cheap enough for agent check-ins (the full
    /// record counts the team's hosts).
    pub async fn team_settings(&self, id: TeamId) -> Result<TeamSettings> {
        let row = sqlx::query("SELECT document FROM teams WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("team"))?;
        settings(&row)
    }

    pub async fn teams(&self) -> Result<Vec<TeamRecord>> {
        let rows = sqlx::query(&format!("{TEAM_SELECT} ORDER BY t.name"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(team_from_row).collect()
    }

    pub async fn update_team(
        &self,
        id: TeamId,
        name: &str,
        description: &str,
        settings: &TeamSettings,
        activity: Option<Activity>,
    ) -> Result<TeamRecord> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(
            "UPDATE teams SET name = $1, description = $2, document = $3 WHERE id = $4",
        )
        .bind(name)
        .bind(description)
        .bind(settings_text(settings)?)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, || format!("a team named \"{name}\" already exists")))?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound("team"));
        }
        if let Some(activity) = activity {
            record_activity(&mut tx, &activity).await?;
        }
        // Its settings decide whether its hosts are reported.
        crate::dirty::mark(&mut tx, DirtyKind::Compliance, Affected::Team(Some(id))).await?;
        self.commit_marked(tx).await?;
        self.team(id).await
    }

    /// Deletes a team with its policies, profiles and packages; its hosts move to "No team".
    pub async fn delete_team(&self, id: TeamId, activity: Activity) -> Result<()> {
        let mut tx = self.begin().await?;
        // Marked before they move: afterwards they are "No team"'s.
        crate::dirty::mark(&mut tx, DirtyKind::Compliance, Affected::Team(Some(id))).await?;
        delete_team_rows(&mut tx, id).await?;
        record_activity(&mut tx, &activity).await?;
        self.commit_marked(tx).await?;
        Ok(())
    }

    /// The enroll secrets of a team, or the global ones for `None`.
    pub async fn enroll_secrets(&self, team: Option<TeamId>) -> Result<Vec<EnrollSecret>> {
        let sql = format!(
            "SELECT sealed, team_id, created_at FROM enroll_secrets WHERE {}",
            secret_scope(team)
        );
        let rows = bind_scope(sqlx::query(&sql), team)
            .fetch_all(&self.pool)
            .await?;
        let mut secrets = rows
            .iter()
            .map(|row| self.secret_from_row(row))
            .collect::<Result<Vec<_>>>()?;
        // Digests order nothing a reader can see; secrets made together sort by their text.
        secrets.sort_by(|a, b| (a.created_at, &a.secret).cmp(&(b.created_at, &b.secret)));
        Ok(secrets)
    }

    /// Replaces the secrets of a team (or the global ones); secrets kept keep their age.
    pub async fn replace_enroll_secrets(
        &self,
        team: Option<TeamId>,
        secrets: &[String],
        activity: Activity,
    ) -> Result<Vec<EnrollSecret>> {
        let mut tx = self.begin().await?;
        replace_secrets(&mut tx, &self.server_key, team, secrets).await?;
        record_activity(&mut tx, &activity).await?;
        tx.commit().await?;
        self.enroll_secrets(team).await
    }

    /// Which scope an enroll secret enrolls into: `Some(team)`, `None` for "No
    /// team"; an error when the secret is unknown.
    pub async fn team_for_secret(&self, secret: &str) -> Result<Option<TeamId>> {
        let row = sqlx::query("SELECT team_id FROM enroll_secrets WHERE digest = $1")
            .bind(digest(secret))
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("enroll secret"))?;
        Ok(row.try_get::<Option<i64>, _>("team_id")?.map(TeamId))
    }

    fn secret_from_row(&self, row: &AnyRow) -> Result<EnrollSecret> {
        Ok(EnrollSecret {
            secret: open_sealed(&self.server_key, &row.try_get::<String, _>("sealed")?)?,
            team_id: row.try_get::<Option<i64>, _>("team_id")?.map(TeamId),
            created_at: row.try_get("created_at")?,
        })
    }
}

/// Rows of one scope's secrets: a team's (`$1`), or the global ones.
fn secret_scope(team: Option<TeamId>) -> &'static str {
    match team {
        Some(_) => "team_id = $1",
        None => "team_id IS NULL",
    }
}

fn bind_scope<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    team: Option<TeamId>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    match team {
        Some(team) => query.bind(team.0),
        None => query,
    }
}

/// Replaces the secrets of a team (or the global ones); secrets kept keep their age.
/// Tells whether anything changed.
pub(crate) async fn replace_secrets(
    tx: &mut Tx,
    key: &ServerKey,
    team: Option<TeamId>,
    secrets: &[String],
) -> Result<bool> {
    let mut changed = false;
    let sql = format!(
        "SELECT digest FROM enroll_secrets WHERE {}",
        secret_scope(team)
    );
    let current: Vec<String> = bind_scope(sqlx::query(&sql), team)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|row| row.try_get("digest"))
        .collect::<std::result::Result<_, _>>()?;
    let wanted: Vec<String> = secrets.iter().map(|s| digest(s)).collect();
    for stale in current.iter().filter(|d| !wanted.contains(d)) {
        changed = true;
        sqlx::query("DELETE FROM enroll_secrets WHERE digest = $1")
            .bind(stale.as_str())
            .execute(&mut **tx)
            .await?;
    }
    for (secret, wanted) in secrets.iter().zip(&wanted) {
        if !current.contains(wanted) {
            changed = true;
            insert_secret(tx, key, secret, team).await?;
        }
    }
    Ok(changed)
}

pub(crate) async fn insert_team(
    tx: &mut Tx,
    name: &str,
    description: &str,
    settings: &TeamSettings,
) -> Result<TeamId> {
    let row = sqlx::query(
        "INSERT INTO teams (name, description, document, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(name)
    .bind(description)
    .bind(settings_text(settings)?)
    .bind(now())
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| conflict_on_unique(e, || format!("a team named \"{name}\" already exists")))?;
    Ok(TeamId(row.try_get("id")?))
}

/// Deletes a team with its policies, queries, profiles and packages; its hosts move to "No team".
pub(crate) async fn delete_team_rows(tx: &mut Tx, id: TeamId) -> Result<()> {
    for statement in [
        "DELETE FROM policies WHERE team_id = $1",
        "DELETE FROM saved_queries WHERE team_id = $1",
        "DELETE FROM configuration_profiles WHERE team_id = $1",
        "DELETE FROM software_packages WHERE team_id = $1",
        "DELETE FROM enroll_secrets WHERE team_id = $1",
    ] {
        sqlx::query(statement).bind(id.0).execute(&mut **tx).await?;
    }
    sqlx::query("UPDATE hosts SET team_id = NULL, refetch_requested = 1 WHERE team_id = $1")
        .bind(id.0)
        .execute(&mut **tx)
        .await?;
    let deleted = sqlx::query("DELETE FROM teams WHERE id = $1")
        .bind(id.0)
        .execute(&mut **tx)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(StoreError::NotFound("team"));
    }
    Ok(())
}

pub(crate) async fn insert_secret(
    tx: &mut Tx,
    key: &ServerKey,
    secret: &str,
    team: Option<TeamId>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO enroll_secrets (digest, sealed, team_id, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(digest(secret))
    .bind(key.seal(secret.as_bytes()))
    .bind(team.map(|t| t.0))
    .bind(now())
    .execute(&mut **tx)
    .await
    .map_err(|e| conflict_on_unique(e, || "this enroll secret is already in use".to_string()))?;
    Ok(())
}

fn team_from_row(row: &AnyRow) -> Result<TeamRecord> {
    Ok(TeamRecord {
        id: TeamId(row.try_get("id")?),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        settings: settings(row)?,
        created_at: row.try_get("created_at")?,
        host_count: row.try_get("host_count")?,
    })
}
