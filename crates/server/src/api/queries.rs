//! Saved queries (`GET /queries`): global ones, or a team's with `?team_id=`.
//! GitOps files are how they are written.

use super::TeamParams;
use crate::auth::Session;
use crate::error::{ApiResult, PathParam, QueryParams};
use crate::service::{queries, teams};
use crate::wire::library::{QueriesResponse, QueryReportResponse};
use crate::{wire, AppState};
use axum::extract::State;
use axum::Json;
use flotilla_core::access::Scope;

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    QueryParams(params): QueryParams<TeamParams>,
) -> ApiResult<Json<QueriesResponse>> {
    let scope = match params.team_id {
        None => Scope::Global,
        Some(id) => teams::scope_of(&state, Some(id)).await?,
    };
    let queries = queries::list(&state, &session.caller(), scope).await?;
    Ok(Json(QueriesResponse {
        queries: wire::all(&queries),
    }))
}

/// `GET /queries/{id}/report`: the newest rows each host logged.
pub async fn report(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<QueryReportResponse>> {
    let (query, rows, clipped) = queries::report(&state, &session.caller(), id).await?;
    Ok(Json(QueryReportResponse {
        query_id: query.id,
        results: wire::all(&rows),
        report_clipped: clipped,
    }))
}
