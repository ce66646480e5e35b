//! User management: global admins create, list, change and delete users.

use crate::auth::Session;
use crate::error::{ApiResult, JsonBody, PathParam};
use crate::service::teams;
use crate::service::users::{self, NewUserInput};
use crate::wire::requests::{CreateUserBody, ModifyUserBody, TeamRoleBody};
use crate::wire::{Empty, User, UserResponse, UsersResponse};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use flotilla_core::{TeamId, UserId};

fn team_roles(teams: Vec<TeamRoleBody>) -> Vec<users::TeamRole> {
    teams
        .into_iter()
        .map(|t| users::TeamRole {
            team: TeamId(t.id),
            role: t.role,
        })
        .collect()
}

pub async fn create(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<CreateUserBody>,
) -> ApiResult<Json<UserResponse>> {
    let input = NewUserInput {
        email: body.email,
        name: body.name,
        password: body.password,
        global_role: body.global_role,
        teams: team_roles(body.teams),
    };
    let created = users::create(&state, &session.caller(), input).await?;
    let names = teams::names(&state).await?;
    Ok(Json(UserResponse {
        user: User::of(&created, &names),
    }))
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
) -> ApiResult<Json<UsersResponse>> {
    let all = users::list(&state, &session.caller()).await?;
    let names = teams::names(&state).await?;
    Ok(Json(UsersResponse {
        users: all.iter().map(|u| User::of(u, &names)).collect(),
    }))
}

pub async fn get(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<UserResponse>> {
    let user = users::get(&state, &session.caller(), UserId(id)).await?;
    let names = teams::names(&state).await?;
    Ok(Json(UserResponse {
        user: User::of(&user, &names),
    }))
}

/// Changes a user's role: a global role, or roles on teams.
pub async fn modify(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
    JsonBody(body): JsonBody<ModifyUserBody>,
) -> ApiResult<Json<UserResponse>> {
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
    Ok(Json(UserResponse {
        user: User::of(&user, &names),
    }))
}

pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Empty>> {
    users::delete(&state, &session.caller(), UserId(id)).await?;
    Ok(Json(Empty {}))
}
