//! Org settings (`GET/PATCH /config`) and the audit log.

use super::PageParams;
use crate::auth::Session;
use crate::error::{ApiResult, JsonBody, QueryParams};
use crate::service::{activities as audit, config};
use crate::wire::{self, ActivitiesResponse};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{Map, Value};

pub async fn get(State(state): State<AppState>, session: Session) -> ApiResult<Json<Value>> {
    Ok(Json(config::get(&state, &session.caller()).await?))
}

pub async fn modify(
    State(state): State<AppState>,
    session: Session,
    JsonBody(patch): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        config::modify(&state, &session.caller(), patch).await?,
    ))
}

pub async fn activities(
    State(state): State<AppState>,
    session: Session,
    QueryParams(page): QueryParams<PageParams>,
) -> ApiResult<Json<ActivitiesResponse>> {
    let records = audit::list(&state, &session.caller(), page.page(), page.per_page()).await?;
    Ok(Json(ActivitiesResponse {
        activities: wire::all(&records),
    }))
}
