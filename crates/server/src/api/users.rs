//! User management: global admins create, list, change and delete users.

use super::team_names;
use crate::auth::Session;
use crate::error::{ApiError, ApiResult, JsonBody, PathParam};
use crate::secrets::hash_password;
use crate::{views, AppState};
use axum::extract::State;
use axum::Json;
use flotilla_core::access::Role;
use flotilla_core::validation::{validate_email, validate_password};
use flotilla_core::{TeamId, UserId, ValidationErrors};
use flotilla_store::NewUser;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct TeamRole {
    id: i64,
    role: String,
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
            Some(role) => team_roles.push((TeamId(team.id), role)),
            None => errors.add(
                "teams",
                format!("unknown role \"{}\" for team {}", team.role, team.id),
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

#[derive(Deserialize)]
pub struct CreateBody {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    global_role: Option<String>,
    #[serde(default)]
    teams: Vec<TeamRole>,
}

pub async fn create(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult<Json<Value>> {
    session.require_global_admin()?;
    let mut errors = ValidationErrors::default();
    if body.name.trim().is_empty() {
        errors.add("name", "name is required");
    }
    if let Err(e) = validate_email(body.email.trim()) {
        errors.0.extend(e.0);
    }
    if let Err(e) = validate_password(&body.password) {
        errors.0.extend(e.0);
    }
    let (global_role, teams) = parse_roles(body.global_role.as_deref(), &body.teams, &mut errors);
    errors.into_result()?;
    let user = NewUser {
        email: body.email.trim().to_string(),
        name: body.name.trim().to_string(),
        password_hash: hash_password(&body.password).map_err(|_| ApiError::Internal)?,
        global_role,
        teams,
    };
    let activity = session.activity("created_user", json!({ "user_email": user.email }));
    let created = state.store.create_user(&user, activity).await?;
    let names = team_names(&state).await?;
    Ok(Json(json!({ "user": views::user(&created, &names) })))
}

pub async fn list(State(state): State<AppState>, session: Session) -> ApiResult<Json<Value>> {
    session.require_global_admin()?;
    let names = team_names(&state).await?;
    let users: Vec<Value> = state
        .store
        .users()
        .await?
        .iter()
        .map(|u| views::user(u, &names))
        .collect();
    Ok(Json(json!({ "users": users })))
}

pub async fn get(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Value>> {
    if session.user.id != UserId(id) {
        session.require_global_admin()?;
    }
    let user = state.store.user(UserId(id)).await?;
    let names = team_names(&state).await?;
    Ok(Json(json!({ "user": views::user(&user, &names) })))
}

#[derive(Deserialize)]
pub struct ModifyBody {
    global_role: Option<String>,
    teams: Option<Vec<TeamRole>>,
}

/// Changes a user's role: a global role, or roles on teams.
pub async fn modify(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
    JsonBody(body): JsonBody<ModifyBody>,
) -> ApiResult<Json<Value>> {
    session.require_global_admin()?;
    let target = state.store.user(UserId(id)).await?;
    let mut errors = ValidationErrors::default();
    let teams = body.teams.unwrap_or_default();
    let (global_role, team_roles) = parse_roles(body.global_role.as_deref(), &teams, &mut errors);
    errors.into_result()?;
    if target.global_role == Some(Role::Admin)
        && global_role != Some(Role::Admin)
        && state.store.global_admin_count().await? <= 1
    {
        return Err(ApiError::invalid(
            "global_role",
            "the last global admin can't be demoted",
        ));
    }
    let activity = session.activity(
        "changed_user_role",
        json!({ "user_email": target.email, "global_role": global_role.map(Role::as_str) }),
    );
    let user = state
        .store
        .set_user_roles(target.id, global_role, &team_roles, activity)
        .await?;
    let names = team_names(&state).await?;
    Ok(Json(json!({ "user": views::user(&user, &names) })))
}

pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Value>> {
    session.require_global_admin()?;
    let target = state.store.user(UserId(id)).await?;
    if target.global_role == Some(Role::Admin) && state.store.global_admin_count().await? <= 1 {
        return Err(ApiError::invalid(
            "id",
            "the last global admin can't be deleted",
        ));
    }
    let activity = session.activity("deleted_user", json!({ "user_email": target.email }));
    state.store.delete_user(target.id, activity).await?;
    Ok(Json(json!({})))
}
