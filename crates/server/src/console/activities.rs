//! The audit log, newest first.

use super::{page, time, PageResult, Viewer};
use crate::service::activities;
use crate::AppState;
use axum::extract::{Query, State};
use maud::html;
use std::collections::HashMap;

pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let page_number: i64 = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
        .max(0);
    let entries = activities::list(&state, &viewer.caller(), page_number, 50).await?;
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
