//! The audit log, newest first.

use super::{page, time, PageError, PageResult, Viewer};
use crate::AppState;
use axum::extract::{Query, State};
use maud::html;
use std::collections::HashMap;

pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    if viewer.principal.global_role.is_none() {
        return Err(PageError::Forbidden(
            "The audit log spans every team: global users only.".into(),
        ));
    }
    let page_number: i64 = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
        .max(0);
    let entries = state.store.activities(page_number, 50).await?;
    let content = html! {
        h1 { "Activities" }
        @if entries.is_empty() { p.empty { "Nothing has happened yet." } } @else {
            table {
                thead { tr { th { "When" } th { "Who" } th { "What" } th { "Details" } } }
                tbody {
                    @for a in &entries {
                        tr { td { (time(a.created_at)) } td { (a.actor_name) } td { (a.activity_type.replace('_', " ")) } td { code { (a.details.to_string()) } } }
                    }
                }
            }
            div.pager {
                @if page_number > 0 { a href=(format!("/activities?page={}", page_number - 1)) { "← Newer" } }
                @if entries.len() == 50 { a href=(format!("/activities?page={}", page_number + 1)) { "Older →" } }
            }
        }
    };
    Ok(page(&viewer, "Activities", "/activities", content))
}
