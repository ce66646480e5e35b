//! Org settings (one JSON document) and the audit log.

use crate::dirty::{Affected, DirtyKind};
use crate::records::{Activity, ActivityRecord, Actor};
use crate::{settings, settings_text, Result, Store};
use flotilla_core::settings::OrgSettings;
use flotilla_core::UserId;
use sqlx::{Any, Row, Transaction};

impl Store {
    /// The org settings, or `None` before first-run setup.
    pub async fn org_settings(&self) -> Result<Option<OrgSettings>> {
        let row = sqlx::query("SELECT document FROM app_config WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(settings).transpose()
    }

    pub async fn save_org_settings(
        &self,
        org: &OrgSettings,
        activity: Option<Activity>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        upsert_org_settings(&mut tx, org).await?;
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

pub(crate) async fn upsert_org_settings(
    tx: &mut Transaction<'_, Any>,
    org: &OrgSettings,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO app_config (id, document) VALUES (1, $1) \
         ON CONFLICT (id) DO UPDATE SET document = excluded.document",
    )
    .bind(settings_text(org)?)
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

/// An activity an agent's report causes: no user did it.
pub(crate) fn agent_activity(
    activity_type: flotilla_core::activity::ActivityType,
    details: serde_json::Value,
) -> Activity {
    Activity {
        actor: Actor {
            id: None,
            name: "Flotilla".into(),
        },
        activity_type,
        details,
    }
}
