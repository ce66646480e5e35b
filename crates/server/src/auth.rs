//! Who is calling the admin API: a bearer token resolved to a user and their roles.

use crate::error::ApiError;
use crate::secrets::token_hash;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use flotilla_core::access::Principal;
use flotilla_store::{Actor, UserRecord};

/// A signed-in user. Extracting it fails with 401 when the token is missing or unknown.
pub struct Session {
    pub user: UserRecord,
    pub token_hash: String,
}

impl Session {
    /// The caller the service layer acts for.
    pub fn caller(&self) -> crate::service::Caller {
        crate::service::Caller::of(&self.user)
    }
}

/// A user as the audit log names them.
pub fn actor_of(user: &UserRecord) -> Actor {
    Actor {
        id: Some(user.id),
        name: user.name.clone(),
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
        let user = crate::service::users::session_user(state, &hash)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        Ok(Session {
            user,
            token_hash: hash,
        })
    }
}
