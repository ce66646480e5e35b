//! Configuration profiles and their label targeting.

use crate::config::record_activity;
use crate::error::conflict_on_unique;
use crate::records::{scope_from_column, scope_to_column, Activity};
use crate::{now, Result, Store, StoreError, Tx};
use flotilla_core::access::Scope;
use flotilla_core::LabelId;
use sqlx::any::AnyRow;
use sqlx::Row;

/// How a label targets a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelTarget {
    /// Hosts in every one of these labels.
    IncludeAll,
    /// Hosts in at least one of these labels.
    IncludeAny,
    /// Hosts in none of these labels.
    ExcludeAny,
}

impl LabelTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            LabelTarget::IncludeAll => "include_all",
            LabelTarget::IncludeAny => "include_any",
            LabelTarget::ExcludeAny => "exclude_any",
        }
    }

    pub(crate) fn parse(s: &str) -> LabelTarget {
        match s {
            "include_any" => LabelTarget::IncludeAny,
            "exclude_any" => LabelTarget::ExcludeAny,
            _ => LabelTarget::IncludeAll,
        }
    }
}

/// A profile as stored; `content` is left out of listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRecord {
    pub uuid: String,
    /// Global is not used: profiles belong to a team or to "No team".
    pub scope: Scope,
    pub identifier: String,
    pub name: String,
    pub checksum: String,
    pub created_at: i64,
    pub uploaded_at: i64,
    pub labels: Vec<(LabelId, String, LabelTarget)>,
}

/// A profile to store.
#[derive(Debug, Clone)]
pub struct NewProfile {
    pub uuid: String,
    pub scope: Scope,
    pub identifier: String,
    pub name: String,
    pub content: Vec<u8>,
    pub checksum: String,
    pub labels: Vec<(LabelId, LabelTarget)>,
}

fn team_column(scope: Scope) -> i64 {
    scope_to_column(scope).unwrap_or(0)
}

impl Store {
    pub async fn create_profile(
        &self,
        profile: &NewProfile,
        activity: Activity,
    ) -> Result<ProfileRecord> {
        let mut tx = self.begin().await?;
        insert_profile(&mut tx, profile).await?;
        record_activity(&mut tx, &activity).await?;
        tx.commit().await?;
        self.profile(&profile.uuid).await
    }

    pub async fn profile(&self, uuid: &str) -> Result<ProfileRecord> {
        let row = sqlx::query(
            "SELECT uuid, team_id, identifier, name, checksum, created_at, uploaded_at FROM configuration_profiles WHERE uuid = $1",
        )
        .bind(uuid)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("profile"))?;
        let mut profile = profile_from_row(&row)?;
        profile.labels = self.profile_labels(uuid).await?;
        Ok(profile)
    }

    /// The profile's .mobileconfig bytes.
    pub async fn profile_content(&self, uuid: &str) -> Result<Vec<u8>> {
        let row = sqlx::query("SELECT content FROM configuration_profiles WHERE uuid = $1")
            .bind(uuid)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("profile"))?;
        Ok(row.try_get("content")?)
    }

    /// The profiles of a team (or "No team"), by name.
    pub async fn profiles(&self, scope: Scope) -> Result<Vec<ProfileRecord>> {
        let rows = sqlx::query(
            "SELECT uuid, team_id, identifier, name, checksum, created_at, uploaded_at FROM configuration_profiles \
             WHERE team_id = $1 ORDER BY name",
        )
        .bind(team_column(scope))
        .fetch_all(&self.pool)
        .await?;
        let mut profiles = rows
            .iter()
            .map(profile_from_row)
            .collect::<Result<Vec<_>>>()?;
        for profile in &mut profiles {
            profile.labels = self.profile_labels(&profile.uuid).await?;
        }
        Ok(profiles)
    }

    pub async fn delete_profile(&self, uuid: &str, activity: Activity) -> Result<()> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM configuration_profiles WHERE uuid = $1")
            .bind(uuid)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound("profile"));
        }
        record_activity(&mut tx, &activity).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn profile_labels(&self, uuid: &str) -> Result<Vec<(LabelId, String, LabelTarget)>> {
        let rows = sqlx::query(
            "SELECT pl.label_id, l.name, pl.mode FROM configuration_profile_labels pl JOIN labels l ON l.id = pl.label_id \
             WHERE pl.profile_uuid = $1 ORDER BY l.name",
        )
        .bind(uuid)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    LabelId(r.try_get("label_id")?),
                    r.try_get("name")?,
                    LabelTarget::parse(&r.try_get::<String, _>("mode")?),
                ))
            })
            .collect()
    }
}

pub(crate) async fn insert_profile(tx: &mut Tx, profile: &NewProfile) -> Result<()> {
    let ts = now();
    sqlx::query(
        "INSERT INTO configuration_profiles (uuid, team_id, identifier, name, content, checksum, created_at, uploaded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(profile.uuid.as_str())
    .bind(team_column(profile.scope))
    .bind(profile.identifier.as_str())
    .bind(profile.name.as_str())
    .bind(profile.content.clone())
    .bind(profile.checksum.as_str())
    .bind(ts)
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!(
                "a profile with identifier \"{}\" or name \"{}\" already exists in this team",
                profile.identifier, profile.name
            )
        })
    })?;
    for (label, target) in &profile.labels {
        sqlx::query("INSERT INTO configuration_profile_labels (profile_uuid, label_id, mode) VALUES ($1, $2, $3)")
            .bind(profile.uuid.as_str())
            .bind(label.0)
            .bind(target.as_str())
            .execute(&mut **tx)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound("label"),
                other => conflict_on_unique(other, || "a label is listed twice".into()),
            })?;
    }
    Ok(())
}

fn profile_from_row(row: &AnyRow) -> Result<ProfileRecord> {
    Ok(ProfileRecord {
        uuid: row.try_get("uuid")?,
        scope: scope_from_column(Some(row.try_get("team_id")?)),
        identifier: row.try_get("identifier")?,
        name: row.try_get("name")?,
        checksum: row.try_get("checksum")?,
        created_at: row.try_get("created_at")?,
        uploaded_at: row.try_get("uploaded_at")?,
        labels: Vec::new(),
    })
}
