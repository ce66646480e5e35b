//! Org settings (`GET/PATCH /config`) and the audit log.

use super::PageParams;
use crate::auth::Session;
use crate::error::{ApiResult, JsonBody, QueryParams};
use crate::service::{activities as audit, config};
use crate::wire::{self, ActivitiesResponse, ConditionalAccessSettings, ConfigResponse};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{Map, Value};

pub async fn get(
    State(state): State<AppState>,
    session: Session,
) -> ApiResult<Json<ConfigResponse>> {
    let view = config::get(&state, &session.caller()).await?;
    Ok(Json(rendered(view)))
}

/// The patch stays a JSON object: its keys are checked (and named in errors)
/// by the service, which knows which settings exist.
pub async fn modify(
    State(state): State<AppState>,
    session: Session,
    JsonBody(patch): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<ConfigResponse>> {
    let view = config::modify(&state, &session.caller(), patch).await?;
    Ok(Json(rendered(view)))
}

fn rendered(view: config::OrgView) -> ConfigResponse {
    ConfigResponse {
        conditional_access: ConditionalAccessSettings::of(view.integration.as_ref()),
        settings: view.settings,
    }
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
