//! osquery's file carves: `carve/begin` announces a file and its blocks,
//! `carve/block` sends each block (base64) with the session id it was given.

use super::{AgentError, AgentJson, AgentResult};
use crate::service::{agent, carves};
use crate::wire::osquery::{
    CarveBeginBody, CarveBeginResponse, CarveBlockBody, CarveBlockResponse,
};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use flotilla_store::AgentKind;

pub async fn begin(
    State(state): State<AppState>,
    AgentJson(body): AgentJson<CarveBeginBody>,
) -> AgentResult<Json<CarveBeginResponse>> {
    let host = agent::authenticate(&state, AgentKind::Osquery, &body.node_key).await?;
    let session_id = carves::begin(&state, &host, body).await?;
    Ok(Json(CarveBeginResponse {
        session_id,
        success: true,
    }))
}

pub async fn block(
    State(state): State<AppState>,
    AgentJson(body): AgentJson<CarveBlockBody>,
) -> AgentResult<Json<CarveBlockResponse>> {
    if body.session_id.is_empty() {
        return Err(AgentError::NodeInvalid("missing carve session id"));
    }
    carves::block(&state, body).await?;
    Ok(Json(CarveBlockResponse { success: true }))
}
