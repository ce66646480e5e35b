//! File carves, as Fleet's carve API lists them.

use crate::auth::Session;
use crate::error::{ApiResult, PathParam};
use crate::service::carves;
use crate::wire::{self, CarveBlockResponse, CarveResponse, CarvesResponse};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use base64::Engine;

pub async fn list(
    State(state): State<AppState>,
    session: Session,
) -> ApiResult<Json<CarvesResponse>> {
    let records = carves::list(&state, &session.caller()).await?;
    Ok(Json(CarvesResponse {
        carves: wire::all(&records),
    }))
}

pub async fn get(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<CarveResponse>> {
    let record = carves::get(&state, &session.caller(), id).await?;
    Ok(Json(CarveResponse {
        carve: (&record).into(),
    }))
}

pub async fn block(
    State(state): State<AppState>,
    session: Session,
    PathParam((id, block_id)): PathParam<(i64, i64)>,
) -> ApiResult<Json<CarveBlockResponse>> {
    let bytes = carves::block_data(&state, &session.caller(), id, block_id).await?;
    Ok(Json(CarveBlockResponse {
        data: base64::engine::general_purpose::STANDARD.encode(bytes),
    }))
}
