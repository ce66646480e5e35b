//! What a run prints: per scope, its counts and each change.

use flotilla_core::gitops::{Action, ApplyOutcome, ScopeOutcome};
use std::fmt::Write;

fn scope_lines(title: &str, scope: &ScopeOutcome, out: &mut String) {
    let _ = writeln!(
        out,
        "{title}: {} created, {} updated, {} deleted",
        scope.created, scope.updated, scope.deleted
    );
    for change in &scope.changes {
        let sign = match change.action {
            Action::Create => '+',
            Action::Update => '~',
            Action::Delete => '-',
        };
        let _ = writeln!(out, "  {sign} {} {}", change.kind.as_str(), change.name);
    }
}

/// The plan (dry run) or result, for people.
pub fn text(outcome: &ApplyOutcome) -> String {
    let mut out = String::new();
    if outcome.dry_run {
        out.push_str("Dry run: nothing was changed. The plan:\n");
    }
    scope_lines("Org settings and labels", &outcome.global, &mut out);
    for team in &outcome.teams {
        scope_lines(&format!("Team \"{}\"", team.name), team, &mut out);
    }
    let all = std::iter::once(&outcome.global).chain(&outcome.teams);
    if all.clone().all(ScopeOutcome::is_empty) {
        out.push_str(if outcome.dry_run {
            "Nothing would change.\n"
        } else {
            "No changes.\n"
        });
    }
    out
}

/// `--json`: `{"dry_run", "global": {...}, "teams": [{"name", "created", "updated", "deleted", "changes"}]}`.
pub fn json(outcome: &ApplyOutcome) -> String {
    serde_json::to_string_pretty(outcome).unwrap_or_else(|_| "{}".into())
}
