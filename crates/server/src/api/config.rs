//! Org settings (`GET/PATCH /config`) and the audit log.

use super::PageParams;
use crate::auth::Session;
use crate::error::{ApiResult, JsonBody, QueryParams};
use crate::service::{activities as audit, config};
use crate::{views, AppState};
use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};

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
) -> ApiResult<Json<Value>> {
    let records = audit::list(&state, &session.caller(), page.page(), page.per_page()).await?;
    let activities: Vec<Value> = records
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "created_at": views::timestamp(a.created_at),
                "actor_id": a.actor_id.map(|u| u.0),
                "actor_full_name": a.actor_name,
                "type": a.activity_type,
                "details": a.details,
            })
        })
        .collect();
    Ok(Json(json!({ "activities": activities })))
}
