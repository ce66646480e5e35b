//! Users, their roles, and API sessions.

use crate::config::{record_activity, upsert_org_settings};
use crate::error::conflict_on_unique;
use crate::records::{Activity, NewUser, UserRecord};
use crate::{now, Result, Store, StoreError};
use flotilla_core::access::{session_is_live, Role};
use flotilla_core::settings::OrgSettings;
use flotilla_core::{TeamId, UserId};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

const USER_COLUMNS: &str = "id, email, name, global_role, created_at, updated_at";

impl Store {
    /// First-run setup: the first admin, the org settings and their first
    /// session, all or nothing. Refused once any user exists.
    pub async fn complete_setup(
        &self,
        admin: &NewUser,
        org: &OrgSettings,
        token_hash: &str,
    ) -> Result<UserRecord> {
        let mut tx = self.begin().await?;
        let existing: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if existing > 0 {
            return Err(StoreError::Conflict(
                "setup has already been completed".into(),
            ));
        }
        let user = insert_user(&mut tx, admin).await?;
        upsert_org_settings(&mut tx, org).await?;
        insert_session(&mut tx, user.id, token_hash, self.now()).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn is_set_up(&self) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    pub async fn create_user(&self, user: &NewUser, activity: Activity) -> Result<UserRecord> {
        let mut tx = self.begin().await?;
        let created = insert_user(&mut tx, user).await?;
        record_activity(&mut tx, &activity).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// The user and their password hash, for login.
    pub async fn user_credentials(&self, email: &str) -> Result<Option<(UserRecord, String)>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE LOWER(email) = LOWER($1)"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let hash: String = row.try_get("password_hash")?;
        let user = self.with_teams(user_from_row(&row)?).await?;
        Ok(Some((user, hash)))
    }

    pub async fn user(&self, id: UserId) -> Result<UserRecord> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        self.with_teams(user_from_row(&row)?).await
    }

    pub async fn users(&self) -> Result<Vec<UserRecord>> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        let mut memberships = sqlx::query("SELECT user_id, team_id, role FROM user_teams")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| membership_from_row(&r))
            .collect::<Result<Vec<_>>>()?;
        let mut users = rows.iter().map(user_from_row).collect::<Result<Vec<_>>>()?;
        for user in &mut users {
            memberships.retain(|(uid, team, role)| {
                if *uid == user.id {
                    user.teams.push((*team, *role));
                    false
                } else {
                    true
                }
            });
        }
        Ok(users)
    }

    /// Replaces a user's roles: global, or per team.
    pub async fn set_user_roles(
        &self,
        id: UserId,
        global_role: Option<Role>,
        teams: &[(TeamId, Role)],
        activity: Activity,
    ) -> Result<UserRecord> {
        let mut tx = self.begin().await?;
        lock_global_admins(&mut tx).await?;
        let updated =
            sqlx::query("UPDATE users SET global_role = $1, updated_at = $2 WHERE id = $3")
                .bind(global_role.map(Role::as_str))
                .bind(self.now())
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        keep_a_global_admin(
            &mut tx,
            "global_role",
            "the last global admin can't be demoted",
        )
        .await?;
        sqlx::query("DELETE FROM user_teams WHERE user_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        insert_memberships(&mut tx, id, teams).await?;
        record_activity(&mut tx, &activity).await?;
        tx.commit().await?;
        self.user(id).await
    }

    pub async fn delete_user(&self, id: UserId, activity: Activity) -> Result<()> {
        let mut tx = self.begin().await?;
        lock_global_admins(&mut tx).await?;
        let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        keep_a_global_admin(&mut tx, "id", "the last global admin can't be deleted").await?;
        record_activity(&mut tx, &activity).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn global_admin_count(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE global_role = 'admin'")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    pub async fn create_session(&self, user: UserId, token_hash: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_session(&mut tx, user, token_hash, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user a session token belongs to; refreshes the session's last use.
    pub async fn session_user(&self, token_hash: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query(
            "SELECT user_id, created_at, last_used_at FROM api_sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let user_id = UserId(row.try_get("user_id")?);
        let created: i64 = row.try_get("created_at")?;
        let last_used: i64 = row.try_get("last_used_at")?;
        if !session_is_live(created, last_used, self.now()) {
            self.delete_session(token_hash).await?;
            return Ok(None);
        }
        // Refresh at most once a minute: sessions are read on every request.
        if self.now() - last_used > 60 {
            sqlx::query("UPDATE api_sessions SET last_used_at = $1 WHERE token_hash = $2")
                .bind(self.now())
                .bind(token_hash)
                .execute(&self.writer)
                .await?;
        }
        match self.user(user_id).await {
            Ok(user) => Ok(Some(user)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(err) => Err(err),
        }
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM api_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn with_teams(&self, mut user: UserRecord) -> Result<UserRecord> {
        let rows = sqlx::query(
            "SELECT user_id, team_id, role FROM user_teams WHERE user_id = $1 ORDER BY team_id",
        )
        .bind(user.id.0)
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let (_, team, role) = membership_from_row(row)?;
            user.teams.push((team, role));
        }
        Ok(user)
    }
}

async fn insert_user(tx: &mut Transaction<'_, Any>, user: &NewUser) -> Result<UserRecord> {
    let ts = now();
    // Sign-in finds users by email whatever its case, so two may not differ by case alone.
    let taken = sqlx::query("SELECT id FROM users WHERE LOWER(email) = LOWER($1)")
        .bind(user.email.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    if taken.is_some() {
        return Err(StoreError::Conflict(format!(
            "a user with email {} already exists",
            user.email
        )));
    }
    let row = sqlx::query(
        "INSERT INTO users (email, name, password_hash, global_role, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(user.email.as_str())
    .bind(user.name.as_str())
    .bind(user.password_hash.as_str())
    .bind(user.global_role.map(Role::as_str))
    .bind(ts)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!("a user with email {} already exists", user.email)
        })
    })?;
    let id = UserId(row.try_get("id")?);
    insert_memberships(tx, id, &user.teams).await?;
    Ok(UserRecord {
        id,
        email: user.email.clone(),
        name: user.name.clone(),
        global_role: user.global_role,
        teams: user.teams.clone(),
        created_at: ts,
        updated_at: ts,
    })
}

/// Takes the global admins' row locks first, so two changes that each
/// remove an admin run one after the other and the second sees the first.
/// (SQLite has one writer; this matters for PostgreSQL.)
async fn lock_global_admins(tx: &mut Transaction<'_, Any>) -> Result<()> {
    sqlx::query("UPDATE users SET updated_at = updated_at WHERE global_role = 'admin'")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Refuses, inside the change's transaction, a change that leaves no global admin.
async fn keep_a_global_admin(
    tx: &mut Transaction<'_, Any>,
    field: &str,
    reason: &str,
) -> Result<()> {
    let admins: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE global_role = 'admin'")
        .fetch_one(&mut **tx)
        .await?
        .try_get("n")?;
    if admins == 0 {
        return Err(StoreError::Rejected(
            flotilla_core::ValidationErrors::single(field, reason),
        ));
    }
    Ok(())
}

async fn insert_memberships(
    tx: &mut Transaction<'_, Any>,
    user: UserId,
    teams: &[(TeamId, Role)],
) -> Result<()> {
    for (team, role) in teams {
        sqlx::query("INSERT INTO user_teams (user_id, team_id, role) VALUES ($1, $2, $3)")
            .bind(user.0)
            .bind(team.0)
            .bind(role.as_str())
            .execute(&mut **tx)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                    StoreError::NotFound("team")
                }
                other => conflict_on_unique(other, || format!("team {team} is listed twice")),
            })?;
    }
    Ok(())
}

async fn insert_session(
    tx: &mut Transaction<'_, Any>,
    user: UserId,
    token_hash: &str,
    ts: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO api_sessions (token_hash, user_id, created_at, last_used_at) VALUES ($1, $2, $3, $3)")
        .bind(token_hash)
        .bind(user.0)
        .bind(ts)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn user_from_row(row: &AnyRow) -> Result<UserRecord> {
    Ok(UserRecord {
        id: UserId(row.try_get("id")?),
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        global_role: row
            .try_get::<Option<String>, _>("global_role")?
            .as_deref()
            .and_then(Role::parse),
        teams: Vec::new(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn membership_from_row(row: &AnyRow) -> Result<(UserId, TeamId, Role)> {
    let role: String = row.try_get("role")?;
    Ok((
        UserId(row.try_get("user_id")?),
        TeamId(row.try_get("team_id")?),
        Role::parse(&role).unwrap_or(Role::Observer),
    ))
}
