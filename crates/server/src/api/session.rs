//! First-run setup, login, logout, and who am I.

use super::team_names;
use crate::auth::{principal_of, Session};
use crate::error::{ApiError, ApiResult, JsonBody};
use crate::secrets::{hash_password, random_token, token_hash, verify_password};
use crate::{views, AppState};
use axum::extract::State;
use axum::Json;
use flotilla_core::access::{Role, Scope};
use flotilla_core::validation::{validate_email, validate_password};
use flotilla_core::ValidationErrors;
use flotilla_store::{NewUser, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct SetupAdmin {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Deserialize, Default)]
pub struct SetupOrg {
    #[serde(default)]
    org_name: String,
    #[serde(default)]
    org_logo_url: String,
}

#[derive(Deserialize)]
pub struct SetupBody {
    admin: Option<SetupAdmin>,
    #[serde(default)]
    org_info: SetupOrg,
    #[serde(default)]
    server_url: String,
}

/// The org settings a new installation starts with.
pub fn initial_config(org_name: &str, org_logo_url: &str, server_url: &str) -> Value {
    json!({
        "org_info": { "org_name": org_name, "org_logo_url": org_logo_url, "contact_url": "" },
        "server_settings": { "server_url": server_url },
        "integrations": {},
        "agent_options": { "config": crate::agent::default_agent_config_value() },
    })
}

/// Creates the first admin and the org settings; returns the admin, the
/// settings and a session token for the admin.
pub async fn complete_setup(
    state: &AppState,
    admin: &SetupAdmin,
    org_name: &str,
    org_logo_url: &str,
    server_url: &str,
) -> ApiResult<(flotilla_store::UserRecord, Value, String)> {
    if state.store.is_set_up().await? {
        return Err(ApiError::Conflict(
            "setup has already been completed".into(),
        ));
    }
    let mut errors = ValidationErrors::default();
    if admin.name.trim().is_empty() {
        errors.add("name", "name is required");
    }
    if let Err(e) = validate_email(admin.email.trim()) {
        errors.0.extend(e.0);
    }
    if let Err(e) = validate_password(&admin.password) {
        errors.0.extend(e.0);
    }
    if org_name.trim().is_empty() {
        errors.add("org_name", "organization name is required");
    }
    if let Err(reason) = super::config::check_server_url(server_url) {
        errors.add("server_url", reason);
    }
    errors.into_result()?;
    let new_user = NewUser {
        email: admin.email.trim().to_string(),
        name: admin.name.trim().to_string(),
        password_hash: hash_password(&admin.password).map_err(|_| ApiError::Internal)?,
        global_role: Some(Role::Admin),
        teams: Vec::new(),
    };
    let config = initial_config(org_name.trim(), org_logo_url, server_url);
    let token = random_token(32);
    let user = match state
        .store
        .complete_setup(&new_user, &config, &token_hash(&token))
        .await
    {
        Ok(user) => user,
        Err(StoreError::Conflict(msg)) => return Err(ApiError::Conflict(msg)),
        Err(err) => return Err(err.into()),
    };
    Ok((user, config, token))
}

pub async fn setup(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SetupBody>,
) -> ApiResult<Json<Value>> {
    let Some(admin) = body.admin else {
        return Err(ApiError::invalid("admin", "admin is required"));
    };
    let (user, config, token) = complete_setup(
        &state,
        &admin,
        &body.org_info.org_name,
        &body.org_info.org_logo_url,
        &body.server_url,
    )
    .await?;
    tracing::info!(user = %user.id, "first-run setup completed");
    Ok(Json(json!({
        "admin": views::user(&user, &[]),
        "org_info": config["org_info"],
        "server_url": body.server_url,
        "token": token,
    })))
}

/// Checks a password and opens a session; returns the user and the session
/// token. Unauthenticated, whichever part was wrong.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: &str,
) -> ApiResult<(flotilla_store::UserRecord, String)> {
    let found = state.store.user_credentials(email.trim()).await?;
    let Some((user, _)) = found.filter(|(_, hash)| verify_password(password, hash)) else {
        return Err(ApiError::Unauthenticated);
    };
    let token = random_token(32);
    state
        .store
        .create_session(user.id, &token_hash(&token))
        .await?;
    Ok((user, token))
}

#[derive(Deserialize)]
pub struct LoginBody {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn login(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<LoginBody>,
) -> ApiResult<Json<Value>> {
    let (user, token) = sign_in(&state, &body.email, &body.password).await?;
    let names = team_names(&state).await?;
    Ok(Json(json!({
        "user": views::user(&user, &names),
        "available_teams": available_teams(&state, &user).await?,
        "token": token,
    })))
}

async fn available_teams(
    state: &AppState,
    user: &flotilla_store::UserRecord,
) -> ApiResult<Vec<Value>> {
    let principal = principal_of(user);
    Ok(state
        .store
        .teams()
        .await?
        .into_iter()
        .filter(|t| principal.can_read(Scope::Team(t.id)))
        .map(|t| json!({ "id": t.id.0, "name": t.name, "description": t.description }))
        .collect())
}

pub async fn logout(State(state): State<AppState>, session: Session) -> ApiResult<Json<Value>> {
    state.store.delete_session(&session.token_hash).await?;
    Ok(Json(json!({})))
}

pub async fn me(State(state): State<AppState>, session: Session) -> ApiResult<Json<Value>> {
    let names = team_names(&state).await?;
    Ok(Json(json!({
        "user": views::user(&session.user, &names),
        "available_teams": available_teams(&state, &session.user).await?,
    })))
}
