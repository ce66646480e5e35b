//! First-run setup, login, logout, and who am I.

use crate::auth::Session;
use crate::error::{ApiError, ApiResult, JsonBody};
use crate::service::teams;
use crate::service::users::{self, SetupAdmin};
use crate::wire::requests::{LoginBody, SetupBody};
use crate::wire::{AvailableTeam, Empty, LoginResponse, MeResponse, SetupResponse, User};
use crate::AppState;
use axum::extract::ConnectInfo;
use axum::extract::State;
use axum::Json;
use flotilla_store::UserRecord;
use std::net::SocketAddr;

pub async fn setup(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SetupBody>,
) -> ApiResult<Json<SetupResponse>> {
    let Some(admin) = body.admin else {
        return Err(ApiError::invalid("admin", "admin is required"));
    };
    let admin = SetupAdmin {
        email: admin.email,
        password: admin.password,
        name: admin.name,
    };
    let done = users::setup(
        &state,
        &admin,
        &body.org_info.org_name,
        &body.org_info.org_logo_url,
        &body.server_url,
    )
    .await?;
    Ok(Json(SetupResponse {
        admin: User::of(&done.user, &[]),
        org_info: done.settings.org_info,
        server_url: body.server_url,
        token: done.token,
    }))
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    JsonBody(body): JsonBody<LoginBody>,
) -> ApiResult<Json<LoginResponse>> {
    let (user, token) = users::sign_in(&state, client.ip(), &body.email, &body.password).await?;
    let names = teams::names(&state).await?;
    Ok(Json(LoginResponse {
        user: User::of(&user, &names),
        available_teams: available_teams(&state, &user).await?,
        token,
    }))
}

async fn available_teams(state: &AppState, user: &UserRecord) -> ApiResult<Vec<AvailableTeam>> {
    Ok(users::available_teams(state, user)
        .await?
        .into_iter()
        .map(|t| AvailableTeam {
            id: t.id.0,
            name: t.name,
            description: t.description,
        })
        .collect())
}

pub async fn logout(State(state): State<AppState>, session: Session) -> ApiResult<Json<Empty>> {
    users::sign_out(&state, &session.token_hash).await?;
    Ok(Json(Empty {}))
}

pub async fn me(State(state): State<AppState>, session: Session) -> ApiResult<Json<MeResponse>> {
    let names = teams::names(&state).await?;
    Ok(Json(MeResponse {
        user: User::of(&session.user, &names),
        available_teams: available_teams(&state, &session.user).await?,
    }))
}
