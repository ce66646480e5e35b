//! Users and sessions: first-run setup, sign-in and sign-out, and user
//! management by global admins. Password hashing (Argon2, deliberately slow)
//! runs on the blocking pool so it never holds up an async worker.

use super::{config, teams, Caller, ServiceError, ServiceResult};
use crate::secrets::{random_token, token_hash};
use crate::AppState;
use flotilla_core::access::Role;
use flotilla_core::activity::ActivityType;
use flotilla_core::settings::OrgSettings;
use flotilla_core::validation::{validate_email, validate_password};
use flotilla_core::{TeamId, UserId, ValidationErrors};
use flotilla_store::{NewUser, TeamRecord, UserRecord};
use serde_json::json;
use std::net::IpAddr;

/// The first admin, as the setup form or `POST /setup` gives them.
pub struct SetupAdmin {
    pub email: String,
    pub password: String,
    pub name: String,
}

/// What setup makes: the admin, the org settings, and a session for the admin.
pub struct SetupOutcome {
    pub user: UserRecord,
    pub settings: OrgSettings,
    pub token: String,
}

async fn hash_password(password: &str) -> ServiceResult<String> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || crate::secrets::hash_password(&password))
        .await
        .map_err(|_| ServiceError::Internal)?
        .map_err(|_| ServiceError::Internal)
}

/// A hash no password matches, made once, for logins with unknown emails.
async fn dummy_hash() -> ServiceResult<String> {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_try_init(|| async { hash_password(&random_token(24)).await })
        .await
        .cloned()
}

async fn verify_password(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_string(), hash.to_string());
    tokio::task::spawn_blocking(move || crate::secrets::verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

pub async fn is_set_up(state: &AppState) -> ServiceResult<bool> {
    Ok(state.store.is_set_up().await?)
}

fn check_new_user(name: &str, email: &str, password: &str, errors: &mut ValidationErrors) {
    if name.trim().is_empty() {
        errors.add("name", "name is required");
    }
    flotilla_core::validation::check_name_length("name", name.trim(), errors);
    if email.len() > 320 {
        errors.add("email", "an email address is at most 320 characters");
    }
    if let Err(e) = validate_email(email.trim()) {
        errors.0.extend(e.0);
    }
    if let Err(e) = validate_password(password) {
        errors.0.extend(e.0);
    }
}

/// Creates the first admin and the org settings.
pub async fn setup(
    state: &AppState,
    admin: &SetupAdmin,
    org_name: &str,
    org_logo_url: &str,
    server_url: &str,
) -> ServiceResult<SetupOutcome> {
    if state.store.is_set_up().await? {
        return Err(ServiceError::Conflict(
            "setup has already been completed".into(),
        ));
    }
    let mut errors = ValidationErrors::default();
    check_new_user(&admin.name, &admin.email, &admin.password, &mut errors);
    if org_name.trim().is_empty() {
        errors.add("org_name", "organization name is required");
    }
    if let Err(reason) = config::check_server_url(server_url) {
        errors.add("server_url", reason);
    }
    errors.into_result()?;
    let new_user = NewUser {
        email: admin.email.trim().to_string(),
        name: admin.name.trim().to_string(),
        password_hash: hash_password(&admin.password).await?,
        global_role: Some(Role::Admin),
        teams: Vec::new(),
    };
    let settings = config::initial_settings(org_name.trim(), org_logo_url, server_url);
    let token = random_token(32);
    let user = state
        .store
        .complete_setup(&new_user, &settings, &token_hash(&token))
        .await?;
    tracing::info!(user = %user.id, "first-run setup completed");
    Ok(SetupOutcome {
        user,
        settings,
        token,
    })
}

/// Checks a password and opens a session; returns the user and the session
/// token. Unauthenticated, whichever part was wrong.
///
/// Bad attempts are limited per account and address (and per address), with
/// a backoff that ends on its own; an unknown email is checked against a
/// dummy hash so that it takes as long as a real one.
pub async fn sign_in(
    state: &AppState,
    client: IpAddr,
    email: &str,
    password: &str,
) -> ServiceResult<(UserRecord, String)> {
    let email = email.trim();
    let now = state.now();
    if state.login_limiter.blocked(client, email, now) {
        return Err(ServiceError::Throttled);
    }
    let found = state.store.user_credentials(email).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, dummy_hash().await?),
    };
    let verified = verify_password(password, &hash).await;
    let Some(user) = user.filter(|_| verified) else {
        state.login_limiter.record_failure(client, email, now);
        return Err(ServiceError::Unauthenticated);
    };
    state.login_limiter.record_success(client, email);
    let token = random_token(32);
    state
        .store
        .create_session(user.id, &token_hash(&token))
        .await?;
    Ok((user, token))
}

/// The user a session token's hash belongs to.
pub async fn session_user(state: &AppState, token_hash: &str) -> ServiceResult<Option<UserRecord>> {
    Ok(state.store.session_user(token_hash).await?)
}

pub async fn sign_out(state: &AppState, token_hash: &str) -> ServiceResult<()> {
    Ok(state.store.delete_session(token_hash).await?)
}

/// The teams a user may switch to.
pub async fn available_teams(
    state: &AppState,
    user: &UserRecord,
) -> ServiceResult<Vec<TeamRecord>> {
    teams::visible(state, &Caller::of(user)).await
}

/// A role on a team as submitted.
pub struct TeamRole {
    pub team: TeamId,
    pub role: String,
}

fn parse_roles(
    global_role: Option<&str>,
    teams: &[TeamRole],
    errors: &mut ValidationErrors,
) -> (Option<Role>, Vec<(TeamId, Role)>) {
    let global = match global_role {
        None => None,
        Some(name) => match Role::parse(name) {
            Some(role) => Some(role),
            None => {
                errors.add(
                    "global_role",
                    format!("unknown role \"{name}\"; use admin, maintainer or observer"),
                );
                None
            }
        },
    };
    let mut team_roles = Vec::new();
    for team in teams {
        match Role::parse(&team.role) {
            Some(role) => team_roles.push((team.team, role)),
            None => errors.add(
                "teams",
                format!("unknown role \"{}\" for team {}", team.role, team.team.0),
            ),
        }
    }
    if global.is_some() && !team_roles.is_empty() {
        errors.add(
            "teams",
            "a user has either a global role or team roles, not both",
        );
    }
    if global.is_none() && team_roles.is_empty() && errors.0.is_empty() {
        errors.add(
            "global_role",
            "a user needs a global role or at least one team role",
        );
    }
    (global, team_roles)
}

/// A user as an admin creates them.
pub struct NewUserInput {
    pub email: String,
    pub name: String,
    pub password: String,
    pub global_role: Option<String>,
    pub teams: Vec<TeamRole>,
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    input: NewUserInput,
) -> ServiceResult<UserRecord> {
    caller.require_global_admin()?;
    let mut errors = ValidationErrors::default();
    check_new_user(&input.name, &input.email, &input.password, &mut errors);
    let (global_role, teams) = parse_roles(input.global_role.as_deref(), &input.teams, &mut errors);
    errors.into_result()?;
    let user = NewUser {
        email: input.email.trim().to_string(),
        name: input.name.trim().to_string(),
        password_hash: hash_password(&input.password).await?,
        global_role,
        teams,
    };
    let activity = caller.activity(
        ActivityType::CreatedUser,
        json!({ "user_email": user.email }),
    );
    Ok(state.store.create_user(&user, activity).await?)
}

pub async fn list(state: &AppState, caller: &Caller) -> ServiceResult<Vec<UserRecord>> {
    caller.require_global_admin()?;
    Ok(state.store.users().await?)
}

/// A user: themselves, or anyone for a global admin.
pub async fn get(state: &AppState, caller: &Caller, id: UserId) -> ServiceResult<UserRecord> {
    if caller.actor.id != Some(id) {
        caller.require_global_admin()?;
    }
    Ok(state.store.user(id).await?)
}

/// Changes a user's role: a global role, or roles on teams.
pub async fn set_roles(
    state: &AppState,
    caller: &Caller,
    id: UserId,
    global_role: Option<&str>,
    teams: &[TeamRole],
) -> ServiceResult<UserRecord> {
    caller.require_global_admin()?;
    let target = state.store.user(id).await?;
    let mut errors = ValidationErrors::default();
    let (global_role, team_roles) = parse_roles(global_role, teams, &mut errors);
    errors.into_result()?;
    let activity = caller.activity(
        ActivityType::ChangedUserRole,
        json!({ "user_email": target.email, "global_role": global_role.map(Role::as_str) }),
    );
    Ok(state
        .store
        .set_user_roles(target.id, global_role, &team_roles, activity)
        .await?)
}

pub async fn delete(state: &AppState, caller: &Caller, id: UserId) -> ServiceResult<()> {
    caller.require_global_admin()?;
    let target = state.store.user(id).await?;
    let activity = caller.activity(
        ActivityType::DeletedUser,
        json!({ "user_email": target.email }),
    );
    state.store.delete_user(target.id, activity).await?;
    Ok(())
}
