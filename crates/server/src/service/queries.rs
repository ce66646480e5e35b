//! Saved queries: global ones or a team's. GitOps files are how they are written.

use super::{Caller, ServiceResult};
use crate::AppState;
use flotilla_core::access::Scope;
use flotilla_store::SavedQuery;

pub async fn list(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
) -> ServiceResult<Vec<SavedQuery>> {
    caller.require_read(scope)?;
    Ok(state.store.saved_queries(scope).await?)
}
