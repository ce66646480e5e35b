//! What osquery is sent as its configuration: the admin's agent options (with
//! the per-platform override Fleet allows) and the scheduled saved queries as
//! packs. Pure, so the rules are tested without a server.

use crate::access::Scope;
use crate::gitops::QueryDef;
use crate::ids::TeamId;
use crate::platform::{HostPlatform, PlatformSet};
use serde_json::{Map, Value};

/// The `config` part of agent options for a host: `overrides.platforms.<p>`
/// when the admin set one for the host's platform, else `config`, else `fallback`.
pub fn options_for_platform(
    agent_options: Option<&Value>,
    host_platform: &HostPlatform,
    fallback: Value,
) -> Value {
    let Some(options) = agent_options else {
        return fallback;
    };
    let overridden = options
        .pointer(&format!("/overrides/platforms/{}", host_platform.as_str()))
        .filter(|v| v.is_object());
    overridden
        .or_else(|| options.get("config").filter(|v| v.is_object()))
        .cloned()
        .unwrap_or(fallback)
}

/// The parts of agent options meant for orbit rather than osquery, as
/// Fleet's agent options name them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrbitOptions {
    /// osquery flags orbit starts osqueryd with (`command_line_flags`).
    pub command_line_flags: Option<Map<String, Value>>,
    /// osquery extensions orbit fetches and runs, by name.
    pub extensions: Option<Map<String, Value>>,
    /// The update channels of orbit, osqueryd and Fleet Desktop.
    pub update_channels: Option<Map<String, Value>>,
    /// Seconds a script may run before orbit stops it.
    pub script_execution_timeout: Option<i64>,
}

/// Reads orbit's parts of a host's agent options (its team's, else the org's).
pub fn orbit_options(agent_options: Option<&Value>) -> OrbitOptions {
    let Some(options) = agent_options else {
        return OrbitOptions::default();
    };
    let object = |key: &str| options.get(key).and_then(Value::as_object).cloned();
    OrbitOptions {
        command_line_flags: object("command_line_flags"),
        extensions: object("extensions"),
        update_channels: object("update_channels"),
        script_execution_timeout: options
            .get("script_execution_timeout")
            .and_then(Value::as_i64),
    }
}

/// The pack a scope's scheduled queries travel in, as Fleet names it.
pub fn pack_name(scope: Scope) -> String {
    match scope {
        Scope::Global => "Global".to_string(),
        Scope::NoTeam => "No team".to_string(),
        Scope::Team(team) => format!("team-{}", team.0),
    }
}

/// A scheduled query's results as osquery logs them (`pack/<pack>/<query>`
/// with Fleet's `/` pack delimiter): the scope of the pack and the query's name.
pub fn scheduled_query_of_log(name: &str) -> Option<(Scope, &str)> {
    let rest = name.strip_prefix("pack/")?;
    let (pack, query) = rest.split_once('/')?;
    let scope = match pack {
        "Global" => Scope::Global,
        "No team" => Scope::NoTeam,
        other => Scope::Team(TeamId(other.strip_prefix("team-")?.parse().ok()?)),
    };
    (!query.is_empty()).then_some((scope, query))
}

/// What one result-log entry does to a query's report for its host.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportChange {
    /// A snapshot: the host's rows are these now.
    Replace(Vec<Map<String, Value>>),
    /// A differential "added" event: one more row.
    Add(Map<String, Value>),
}

/// Reads a result-log entry (snapshot or differential event); `None` for
/// what doesn't change a report ("removed" events, batches osquery could not
/// fill).
pub fn report_change(entry: &Value) -> Option<ReportChange> {
    let rows = |value: &Value| -> Vec<Map<String, Value>> {
        value
            .as_array()
            .map(|rows| rows.iter().filter_map(|r| r.as_object().cloned()).collect())
            .unwrap_or_default()
    };
    match entry.get("action").and_then(Value::as_str) {
        Some("snapshot") => Some(ReportChange::Replace(rows(entry.get("snapshot")?))),
        Some("added") => entry
            .get("columns")
            .and_then(Value::as_object)
            .cloned()
            .map(ReportChange::Add),
        _ => None,
    }
}

/// The saved queries that run on a schedule on a host of this platform:
/// those with an interval whose platform list takes the host in.
pub fn scheduled_on<'a>(
    queries: &'a [QueryDef],
    host_platform: &'a HostPlatform,
) -> impl Iterator<Item = &'a QueryDef> + 'a {
    queries.iter().filter(move |q| {
        q.interval > 0
            && PlatformSet::parse(&q.platform).is_ok_and(|set| set.targets_host(host_platform))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gitops::QueryLogging;
    use serde_json::json;

    fn query(name: &str, interval: i64, platform: &str, logging: &str) -> QueryDef {
        QueryDef {
            name: name.into(),
            query: format!("SELECT '{name}';"),
            interval,
            platform: platform.into(),
            logging: QueryLogging::parse(logging).unwrap(),
            ..QueryDef::default()
        }
    }

    #[test]
    fn platform_overrides_win_over_the_general_config() {
        let options = json!({"config": {"options": {"distributed_interval": 10}}, "overrides": {"platforms": {"darwin": {"options": {"distributed_interval": 5}}}}});
        let fallback = json!({"options": {}});
        assert_eq!(
            options_for_platform(Some(&options), &"darwin".into(), fallback.clone())["options"]
                ["distributed_interval"],
            5
        );
        assert_eq!(
            options_for_platform(Some(&options), &"windows".into(), fallback.clone())["options"]
                ["distributed_interval"],
            10
        );
        assert_eq!(
            options_for_platform(None, &"darwin".into(), fallback.clone()),
            fallback
        );
        assert_eq!(
            options_for_platform(
                Some(&json!({"config": null})),
                &"darwin".into(),
                fallback.clone()
            ),
            fallback
        );
    }

    #[test]
    fn orbits_parts_of_the_agent_options_are_read_by_fleets_names() {
        let options = json!({
            "config": {"options": {}},
            "command_line_flags": {"verbose": true},
            "update_channels": {"orbit": "edge"},
            "script_execution_timeout": 900,
        });
        let orbit = orbit_options(Some(&options));
        assert_eq!(orbit.command_line_flags.unwrap()["verbose"], true);
        assert_eq!(orbit.update_channels.unwrap()["orbit"], "edge");
        assert_eq!(orbit.script_execution_timeout, Some(900));
        assert!(orbit.extensions.is_none());
        assert_eq!(orbit_options(None), OrbitOptions::default());
    }

    #[test]
    fn result_logs_name_their_pack_and_change_reports() {
        assert_eq!(
            scheduled_query_of_log("pack/Global/osquery_info"),
            Some((Scope::Global, "osquery_info"))
        );
        assert_eq!(
            scheduled_query_of_log("pack/team-3/usb devices"),
            Some((Scope::Team(TeamId(3)), "usb devices"))
        );
        assert_eq!(
            scheduled_query_of_log(&format!("pack/{}/x", pack_name(Scope::NoTeam))),
            Some((Scope::NoTeam, "x"))
        );
        assert_eq!(scheduled_query_of_log("pack/team-x/q"), None);
        assert_eq!(scheduled_query_of_log("osquery_info"), None);
        let snapshot = json!({"action": "snapshot", "snapshot": [{"a": "1"}, {"a": "2"}]});
        assert!(
            matches!(report_change(&snapshot), Some(ReportChange::Replace(rows)) if rows.len() == 2)
        );
        let added = json!({"action": "added", "columns": {"a": "3"}});
        assert!(matches!(report_change(&added), Some(ReportChange::Add(_))));
        assert_eq!(
            report_change(&json!({"action": "removed", "columns": {}})),
            None
        );
    }

    #[test]
    fn only_scheduled_queries_for_the_platform_run() {
        let queries = [
            query("usb", 360, "darwin,linux", "snapshot"),
            query("on demand", 0, "", "snapshot"),
            query("windows only", 60, "windows", "snapshot"),
            query("changes", 60, "", "differential"),
        ];
        let mac = "darwin".into();
        let names: Vec<&str> = scheduled_on(&queries, &mac)
            .map(|q| q.name.as_str())
            .collect();
        assert_eq!(names, ["usb", "changes"]);
        assert_eq!(scheduled_on(&queries[1..2], &mac).count(), 0);
    }
}
