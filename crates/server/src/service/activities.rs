//! The audit log. It spans every team, so only users with a global role read it.

use super::{allow, Caller, ServiceResult};
use crate::AppState;
use flotilla_store::ActivityRecord;

pub async fn list(
    state: &AppState,
    caller: &Caller,
    page: i64,
    per_page: i64,
) -> ServiceResult<Vec<ActivityRecord>> {
    allow(
        caller.principal.global_role.is_some(),
        "Only users with a global role see the activity log.",
    )?;
    Ok(state.store.activities(page, per_page).await?)
}
