//! Saved queries: global ones or a team's. GitOps files are how they are written.

use super::{Caller, ServiceResult};
use crate::AppState;
use flotilla_core::access::Scope;
use flotilla_store::{QueryResultRow, SavedQuery};

pub async fn list(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
) -> ServiceResult<Vec<SavedQuery>> {
    caller.require_read(scope)?;
    Ok(state.store.saved_queries(scope).await?)
}

/// A saved query's report: the newest rows each host logged, and whether
/// it reached the cap.
pub async fn report(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> ServiceResult<(SavedQuery, Vec<QueryResultRow>, bool)> {
    let query = state.store.saved_query(id).await?;
    caller.require_read(query.scope)?;
    let (rows, clipped) = state.store.query_report(id).await?;
    Ok((query, rows, clipped))
}
