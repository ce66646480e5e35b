//! Org settings (one JSON document) and the audit log.

use crate::dirty::{Affected, DirtyKind};
use crate::records::{Activity, ActivityRecord, Actor};
use crate::{Result, Store};
use flotilla_core::UserId;
use serde_json::Value;
use sqlx::{Any, Row, Transaction};

impl Store {
    /// The org settings document, or `None` before first-run setup.
    pub async fn app_config(&self) -> Result<Option<Value>> {
        let row = sqlx::query("SELECT document FROM app_config WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(serde_json::from_str(
                &row.try_get::<String, _>("document")?,
            )?)),
            None => Ok(None),
        }
    }

    pub async fn save_app_config(
        &self,
        document: &Value,
        activity: Option<Activity>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        upsert_app_config(&mut tx, document).await?;
        if let Some(activity) = activity {
            record_activity(&mut tx, &activity).await?;
        }
        // "No team"'s conditional access switch lives here.
        crate::dirty::mark(&mut tx, DirtyKind::Compliance, Affected::Team(None)).await?;
        self.commit_marked(tx).await?;
        Ok(())
    }

    /// Newest first.
    pub async fn activities(&self, page: i64, per_page: i64) -> Result<Vec<ActivityRecord>> {
        let rows = sqlx::query(
            "SELECT id, actor_id, actor_name, activity_type, details, created_at FROM activities \
             ORDER BY id DESC LIMIT $1 OFFSET $2",
        )
        .bind(per_page)
        .bind(page * per_page)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ActivityRecord {
                    id: row.try_get("id")?,
                    actor_id: row.try_get::<Option<i64>, _>("actor_id")?.map(UserId),
                    actor_name: row.try_get("actor_name")?,
                    activity_type: row.try_get("activity_type")?,
                    details: serde_json::from_str(&row.try_get::<String, _>("details")?)?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }
}

pub(crate) async fn upsert_app_config(
    tx: &mut Transaction<'_, Any>,
    document: &Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO app_config (id, document) VALUES (1, $1) \
         ON CONFLICT (id) DO UPDATE SET document = excluded.document",
    )
    .bind(document.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) async fn record_activity(
    tx: &mut Transaction<'_, Any>,
    activity: &Activity,
) -> Result<()> {
    let Actor { id, name } = &activity.actor;
    sqlx::query(
        "INSERT INTO activities (actor_id, actor_name, activity_type, details, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id.map(|u| u.0))
    .bind(name.as_str())
    .bind(activity.activity_type.as_str())
    .bind(activity.details.to_string())
    .bind(crate::now())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
