//! Teams, their settings, and enroll secrets (per team and global).

use crate::auth::Session;
use crate::error::{ApiResult, JsonBody, PathParam};
use crate::service::teams::{self, TeamChange, TeamView};
use crate::wire::requests::{CreateTeamBody, GlobalSecretsBody, ModifyTeamBody, SecretsBody};
use crate::wire::{
    self, Empty, GlobalSecretsResponse, GlobalSecretsSpec, SecretsResponse, TeamResponse,
    TeamsResponse,
};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use flotilla_core::TeamId;
use serde_json::Value;

fn team_json(view: &TeamView) -> wire::Team {
    wire::Team::of(&view.team, &view.secrets)
}

pub async fn create(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<CreateTeamBody>,
) -> ApiResult<Json<TeamResponse>> {
    let team = teams::create(&state, &session.caller(), &body.name, &body.description).await?;
    Ok(Json(TeamResponse {
        team: team_json(&team),
    }))
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
) -> ApiResult<Json<TeamsResponse>> {
    let teams = teams::list(&state, &session.caller()).await?;
    Ok(Json(TeamsResponse {
        teams: teams.iter().map(team_json).collect(),
    }))
}

pub async fn get(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<TeamResponse>> {
    let team = teams::get(&state, &session.caller(), TeamId(id)).await?;
    Ok(Json(TeamResponse {
        team: team_json(&team),
    }))
}

pub async fn modify(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
    JsonBody(body): JsonBody<ModifyTeamBody>,
) -> ApiResult<Json<TeamResponse>> {
    let change = TeamChange {
        name: body.name,
        description: body.description,
        settings: body.settings,
    };
    let team = teams::modify(&state, &session.caller(), TeamId(id), change).await?;
    Ok(Json(TeamResponse {
        team: team_json(&team),
    }))
}

/// Fleet's `POST /teams/{id}/agent_options`: the body is the agent options.
pub async fn set_agent_options(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
    JsonBody(options): JsonBody<Value>,
) -> ApiResult<Json<TeamResponse>> {
    let team = teams::set_agent_options(&state, &session.caller(), TeamId(id), options).await?;
    Ok(Json(TeamResponse {
        team: team_json(&team),
    }))
}

pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Empty>> {
    teams::delete(&state, &session.caller(), TeamId(id)).await?;
    Ok(Json(Empty {}))
}

pub async fn secrets(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<SecretsResponse>> {
    let secrets = teams::secrets(&state, &session.caller(), Some(TeamId(id))).await?;
    Ok(Json(SecretsResponse {
        secrets: wire::secrets(&secrets),
    }))
}

impl SecretsBody {
    fn secrets(self) -> Vec<String> {
        self.secrets.into_iter().map(|s| s.secret).collect()
    }
}

pub async fn replace_secrets(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
    JsonBody(body): JsonBody<SecretsBody>,
) -> ApiResult<Json<SecretsResponse>> {
    let stored =
        teams::replace_secrets(&state, &session.caller(), Some(TeamId(id)), &body.secrets())
            .await?;
    Ok(Json(SecretsResponse {
        secrets: wire::secrets(&stored),
    }))
}

pub async fn global_secrets(
    State(state): State<AppState>,
    session: Session,
) -> ApiResult<Json<GlobalSecretsResponse>> {
    let secrets = teams::secrets(&state, &session.caller(), None).await?;
    Ok(Json(GlobalSecretsResponse {
        spec: GlobalSecretsSpec {
            secrets: wire::secrets(&secrets),
        },
    }))
}

pub async fn replace_global_secrets(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<GlobalSecretsBody>,
) -> ApiResult<Json<Empty>> {
    teams::replace_secrets(&state, &session.caller(), None, &body.spec.secrets()).await?;
    Ok(Json(Empty {}))
}
