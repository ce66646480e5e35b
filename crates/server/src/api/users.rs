//! User management: global admins create, list, change and delete users.

use crate::auth::Session;
use crate::error::{ApiResult, JsonBody, PathParam};
use crate::service::teams;
use crate::service::users::{self, NewUserInput};
use crate::{views, AppState};
use axum::extract::State;
use axum::Json;
use flotilla_core::{TeamId, UserId};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct TeamRole {
    id: i64,
    role: String,
}

fn team_roles(teams: Vec<TeamRole>) -> Vec<users::TeamRole> {
    teams
        .into_iter()
        .map(|t| users::TeamRole {
            team: TeamId(t.id),
            role: t.role,
        })
        .collect()
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
    let input = NewUserInput {
        email: body.email,
        name: body.name,
        password: body.password,
        global_role: body.global_role,
        teams: team_roles(body.teams),
    };
    let created = users::create(&state, &session.caller(), input).await?;
    let names = teams::names(&state).await?;
    Ok(Json(json!({ "user": views::user(&created, &names) })))
}

pub async fn list(State(state): State<AppState>, session: Session) -> ApiResult<Json<Value>> {
    let all = users::list(&state, &session.caller()).await?;
    let names = teams::names(&state).await?;
    let users: Vec<Value> = all.iter().map(|u| views::user(u, &names)).collect();
    Ok(Json(json!({ "users": users })))
}

pub async fn get(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Value>> {
    let user = users::get(&state, &session.caller(), UserId(id)).await?;
    let names = teams::names(&state).await?;
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
    let roles = team_roles(body.teams.unwrap_or_default());
    let user = users::set_roles(
        &state,
        &session.caller(),
        UserId(id),
        body.global_role.as_deref(),
        &roles,
    )
    .await?;
    let names = teams::names(&state).await?;
    Ok(Json(json!({ "user": views::user(&user, &names) })))
}

pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Value>> {
    users::delete(&state, &session.caller(), UserId(id)).await?;
    Ok(Json(json!({})))
}
