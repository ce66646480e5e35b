//! Saved queries (`GET /queries`): global ones, or a team's with `?team_id=`.
//! GitOps files are how they are written.

use super::TeamParams;
use crate::auth::Session;
use crate::error::{ApiResult, QueryParams};
use crate::service::{queries, teams};
use crate::{wire, AppState};
use axum::extract::State;
use axum::Json;
use flotilla_core::access::Scope;
use flotilla_store::SavedQuery;
use serde_json::{json, Value};

fn query_view(saved: &SavedQuery) -> Value {
    let q = &saved.def;
    json!({
        "id": saved.id,
        "team_id": wire::scope_team_id(saved.scope),
        "name": q.name,
        "description": q.description,
        "query": q.query,
        "platform": q.platform,
        "interval": q.interval,
        "observer_can_run": q.observer_can_run,
        "automations_enabled": q.automations_enabled,
        "logging": q.logging,
        "min_osquery_version": q.min_osquery_version,
        "created_at": wire::timestamp(saved.created_at),
        "updated_at": wire::timestamp(saved.updated_at),
    })
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    QueryParams(params): QueryParams<TeamParams>,
) -> ApiResult<Json<Value>> {
    let scope = match params.team_id {
        None => Scope::Global,
        Some(id) => teams::scope_of(&state, Some(id)).await?,
    };
    let queries = queries::list(&state, &session.caller(), scope).await?;
    Ok(Json(json!({
        "queries": queries.iter().map(query_view).collect::<Vec<_>>(),
    })))
}
