//! Who is calling the admin API: a bearer token resolved to a user and their roles.

use crate::error::ApiError;
use crate::secrets::token_hash;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use flotilla_core::access::{Principal, Scope};
use flotilla_store::{Activity, Actor, UserRecord};
use serde_json::Value;

/// A signed-in user. Extracting it fails with 401 when the token is missing or unknown.
pub struct Session {
    pub user: UserRecord,
    pub principal: Principal,
    pub token_hash: String,
}

impl Session {
    pub fn require_read(&self, scope: Scope) -> Result<(), ApiError> {
        allow(self.principal.can_read(scope))
    }

    pub fn require_write(&self, scope: Scope) -> Result<(), ApiError> {
        allow(self.principal.can_write(scope))
    }

    pub fn require_global_admin(&self) -> Result<(), ApiError> {
        allow(self.principal.is_global_admin())
    }

    /// This user, as the audit log names who did something.
    pub fn actor(&self) -> Actor {
        actor_of(&self.user)
    }

    /// An audit-log entry by this user.
    pub fn activity(&self, activity_type: &'static str, details: Value) -> Activity {
        Activity {
            actor: self.actor(),
            activity_type,
            details,
        }
    }
}

pub fn actor_of(user: &UserRecord) -> Actor {
    Actor {
        id: Some(user.id),
        name: user.name.clone(),
    }
}

pub fn allow(allowed: bool) -> Result<(), ApiError> {
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

pub fn principal_of(user: &UserRecord) -> Principal {
    Principal {
        user_id: user.id,
        global_role: user.global_role,
        team_roles: user.teams.clone(),
    }
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))?
        .trim();
    (!token.is_empty()).then_some(token)
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or(ApiError::Unauthenticated)?;
        let hash = token_hash(token);
        let user = state
            .store
            .session_user(&hash)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        Ok(Session {
            principal: principal_of(&user),
            user,
            token_hash: hash,
        })
    }
}
