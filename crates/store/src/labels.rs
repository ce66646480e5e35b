//! Labels: built-in, dynamic and manual, and which hosts are in them.

use crate::config::record_activity;
use crate::dirty::{Affected, DirtyKind};
use crate::error::conflict_on_unique;
use crate::records::{Activity, LabelMembership, LabelRecord, LabelSpec, LabelType};
use crate::{now, platforms, Result, Store, StoreError, Tx};
use flotilla_core::{HostId, LabelId, TeamId};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

macro_rules! label_columns {
    () => {
        "SELECT l.id, l.name, l.description, l.query, l.platform, l.label_type, \
         l.membership_type, l.created_at, l.updated_at, "
    };
}
/// With each label's host count, for the admin API.
const LABEL_SELECT: &str = concat!(
    label_columns!(),
    "(SELECT COUNT(*) FROM label_membership m WHERE m.label_id = l.id) AS host_count FROM labels l"
);

/// Labels with host counts of the hosts in `teams` only (`None`: all hosts),
/// so a team user's counts say nothing of other teams. Team ids are
/// integers, written into the statement.
fn label_select_for(teams: Option<&[TeamId]>) -> String {
    let Some(teams) = teams else {
        return LABEL_SELECT.to_string();
    };
    let teams = if teams.is_empty() {
        "NULL".to_string()
    } else {
        teams
            .iter()
            .map(|t| t.0.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{}(SELECT COUNT(*) FROM label_membership m JOIN hosts h ON h.id = m.host_id \
         WHERE m.label_id = l.id AND h.team_id IN ({teams})) AS host_count FROM labels l",
        label_columns!()
    )
}
/// Without host counts (reported as 0): counting costs a pass over every
/// member, too much for agent check-ins and host pages.
pub(crate) const LABEL_SELECT_UNCOUNTED: &str =
    concat!(label_columns!(), "0 AS host_count FROM labels l");

impl Store {
    pub async fn create_label(&self, spec: &LabelSpec, activity: Activity) -> Result<LabelRecord> {
        let mut tx = self.begin().await?;
        let id = insert_label(&mut tx, spec).await?;
        record_activity(&mut tx, &activity).await?;
        crate::dirty::mark(&mut tx, DirtyKind::Compliance, Affected::LabelMembers(id)).await?;
        self.commit_marked(tx).await?;
        self.label(id).await
    }

    pub async fn label(&self, id: LabelId) -> Result<LabelRecord> {
        let row = sqlx::query(&format!("{LABEL_SELECT} WHERE l.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("label"))?;
        label_from_row(&row)
    }

    pub async fn labels(&self) -> Result<Vec<LabelRecord>> {
        self.labels_counted_in(None).await
    }

    /// Every label, its host count taken over the hosts of `teams` (`None`: all).
    pub async fn labels_counted_in(&self, teams: Option<&[TeamId]>) -> Result<Vec<LabelRecord>> {
        let rows = sqlx::query(&format!("{} ORDER BY l.id", label_select_for(teams)))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(label_from_row).collect()
    }

    /// One label, its host count taken over the hosts of `teams` (`None`: all).
    pub async fn label_counted_in(
        &self,
        id: LabelId,
        teams: Option<&[TeamId]>,
    ) -> Result<LabelRecord> {
        let row = sqlx::query(&format!("{} WHERE l.id = $1", label_select_for(teams)))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("label"))?;
        label_from_row(&row)
    }

    /// Renames or re-describes a label; a manual label's hosts are replaced
    /// when `hosts` is given. Built-in labels can't be changed.
    pub async fn update_label(
        &self,
        id: LabelId,
        name: &str,
        description: &str,
        hosts: Option<&[HostId]>,
        activity: Activity,
    ) -> Result<LabelRecord> {
        let current = self.label(id).await?;
        if current.label_type == LabelType::Builtin {
            return Err(StoreError::Conflict(
                "built-in labels can't be changed".into(),
            ));
        }
        if hosts.is_some() && current.membership != LabelMembership::Manual {
            return Err(StoreError::Conflict(
                "only a manual label's hosts can be set".into(),
            ));
        }
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE labels SET name = $1, description = $2, updated_at = $3 WHERE id = $4")
            .bind(name)
            .bind(description)
            .bind(self.now())
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                conflict_on_unique(e, || format!("a label named \"{name}\" already exists"))
            })?;
        if let Some(hosts) = hosts {
            // Label targeting can count a policy for old and new members alike.
            crate::dirty::mark(&mut tx, DirtyKind::Compliance, Affected::LabelMembers(id)).await?;
            replace_members(&mut tx, id, hosts).await?;
            crate::dirty::mark(&mut tx, DirtyKind::Compliance, Affected::LabelMembers(id)).await?;
        }
        record_activity(&mut tx, &activity).await?;
        self.commit_marked(tx).await?;
        self.label(id).await
    }

    pub async fn delete_label(&self, id: LabelId, activity: Activity) -> Result<()> {
        let current = self.label(id).await?;
        if current.label_type == LabelType::Builtin {
            return Err(StoreError::Conflict(
                "built-in labels can't be deleted".into(),
            ));
        }
        let mut tx = self.begin().await?;
        ensure_label_unused(&mut tx, id, &current.name).await?;
        crate::dirty::mark(&mut tx, DirtyKind::Compliance, Affected::LabelMembers(id)).await?;
        sqlx::query("DELETE FROM labels WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        record_activity(&mut tx, &activity).await?;
        self.commit_marked(tx).await?;
        Ok(())
    }

    /// The labels a host is in (without host counts).
    pub async fn host_labels(&self, host: HostId) -> Result<Vec<LabelRecord>> {
        let rows = sqlx::query(&format!(
            "{LABEL_SELECT_UNCOUNTED} WHERE l.id IN (SELECT label_id FROM label_membership WHERE host_id = $1) ORDER BY l.id"
        ))
        .bind(host.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(label_from_row).collect()
    }

    /// The labels whose queries agents answer (dynamic, not built-in), without host counts.
    pub async fn dynamic_labels(&self) -> Result<Vec<LabelRecord>> {
        let rows = sqlx::query(&format!(
            "{LABEL_SELECT_UNCOUNTED} WHERE l.label_type = 'regular' AND l.membership_type = 'dynamic' ORDER BY l.id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(label_from_row).collect()
    }
}

/// A label that still targets a profile, policy or package can't go.
pub(crate) async fn ensure_label_unused(tx: &mut Tx, id: LabelId, name: &str) -> Result<()> {
    let users = [
        ("profile", "SELECT p.name FROM configuration_profile_labels x JOIN configuration_profiles p ON p.uuid = x.profile_uuid WHERE x.label_id = $1"),
        ("policy", "SELECT p.name FROM policy_labels x JOIN policies p ON p.id = x.policy_id WHERE x.label_id = $1"),
        ("software", "SELECT p.title AS name FROM software_package_labels x JOIN software_packages p ON p.id = x.package_id WHERE x.label_id = $1"),
    ];
    for (kind, sql) in users {
        if let Some(row) = sqlx::query(sql)
            .bind(id.0)
            .fetch_optional(&mut **tx)
            .await?
        {
            let user: String = row.try_get("name")?;
            return Err(StoreError::Conflict(format!("label \"{name}\" can't be deleted: {kind} \"{user}\" still targets it; keep the label or change the {kind}")));
        }
    }
    Ok(())
}

pub(crate) async fn insert_label(tx: &mut Tx, spec: &LabelSpec) -> Result<LabelId> {
    let row = sqlx::query(
        "INSERT INTO labels (name, description, query, platform, label_type, membership_type, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'regular', $5, $6, $6) RETURNING id",
    )
    .bind(spec.name.as_str())
    .bind(spec.description.as_str())
    .bind(spec.query.as_str())
    .bind(spec.platform.to_list_string())
    .bind(membership_column(spec.membership))
    .bind(now())
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| conflict_on_unique(e, || format!("a label named \"{}\" already exists", spec.name)))?;
    let id = LabelId(row.try_get("id")?);
    if spec.membership == LabelMembership::Manual {
        replace_members(tx, id, &spec.hosts).await?;
    }
    Ok(id)
}

pub(crate) async fn replace_members(
    tx: &mut Transaction<'_, Any>,
    label: LabelId,
    hosts: &[HostId],
) -> Result<()> {
    sqlx::query("DELETE FROM label_membership WHERE label_id = $1")
        .bind(label.0)
        .execute(&mut **tx)
        .await?;
    let ts = now();
    for host in hosts {
        sqlx::query(
            "INSERT INTO label_membership (label_id, host_id, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (label_id, host_id) DO NOTHING",
        )
        .bind(label.0)
        .bind(host.0)
        .bind(ts)
        .execute(&mut **tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::NotFound("host")
            }
            other => other.into(),
        })?;
    }
    Ok(())
}

pub(crate) async fn set_membership(
    tx: &mut Transaction<'_, Any>,
    label: LabelId,
    host: HostId,
    member: bool,
    ts: i64,
) -> Result<()> {
    if member {
        sqlx::query(
            "INSERT INTO label_membership (label_id, host_id, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (label_id, host_id) DO UPDATE SET updated_at = excluded.updated_at",
        )
        .bind(label.0)
        .bind(host.0)
        .bind(ts)
        .execute(&mut **tx)
        .await?;
    } else {
        sqlx::query("DELETE FROM label_membership WHERE label_id = $1 AND host_id = $2")
            .bind(label.0)
            .bind(host.0)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(crate) fn membership_column(membership: LabelMembership) -> &'static str {
    match membership {
        LabelMembership::Dynamic => "dynamic",
        LabelMembership::Manual => "manual",
    }
}

pub(crate) fn label_from_row(row: &AnyRow) -> Result<LabelRecord> {
    let label_type: String = row.try_get("label_type")?;
    let membership: String = row.try_get("membership_type")?;
    Ok(LabelRecord {
        id: LabelId(row.try_get("id")?),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        query: row.try_get("query")?,
        platform: platforms(row, "label")?,
        label_type: match label_type.as_str() {
            "builtin" => LabelType::Builtin,
            "regular" => LabelType::Regular,
            other => return Err(StoreError::Corrupt(format!("label type \"{other}\""))),
        },
        membership: match membership.as_str() {
            "dynamic" => LabelMembership::Dynamic,
            "manual" => LabelMembership::Manual,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "label membership type \"{other}\""
                )))
            }
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        host_count: row.try_get("host_count")?,
    })
}
