//! What osquery is sent as its configuration: the admin's agent options (with
//! the per-platform override Fleet allows) and the scheduled saved queries as
//! packs. Pure, so the rules are tested without a server.

use crate::gitops::{QueryDef, QueryLogging};
use crate::platform::{HostPlatform, PlatformSet};
use serde_json::{json, Map, Value};

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

/// One pack of scheduled queries: those with an interval that run on the
/// host's platform. `None` when nothing in it applies.
pub fn pack(queries: &[QueryDef], host_platform: &HostPlatform) -> Option<Value> {
    let mut entries = Map::new();
    for query in queries.iter().filter(|q| q.interval > 0) {
        let runs_here =
            PlatformSet::parse(&query.platform).is_ok_and(|set| set.targets_host(host_platform));
        if !runs_here {
            continue;
        }
        let mut entry = json!({
            "query": query.query,
            "interval": query.interval,
            "snapshot": query.logging == QueryLogging::Snapshot,
            "removed": query.logging == QueryLogging::Differential,
        });
        if !query.min_osquery_version.is_empty() {
            entry["version"] = json!(query.min_osquery_version);
        }
        entries.insert(query.name.clone(), entry);
    }
    (!entries.is_empty()).then(|| json!({ "queries": entries }))
}

/// The full config: options for the platform plus `packs` named as Fleet
/// names them (`Global`, `team-<id>`; `No team` for hosts without a team).
pub fn osquery_config(options: Value, packs: Vec<(String, Option<Value>)>) -> Value {
    let mut config = options;
    let packs: Map<String, Value> = packs
        .into_iter()
        .filter_map(|(name, pack)| pack.map(|p| (name, p)))
        .collect();
    if let (Some(object), false) = (config.as_object_mut(), packs.is_empty()) {
        object.insert("packs".into(), Value::Object(packs));
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn only_scheduled_queries_for_the_platform_are_packed() {
        let queries = [
            query("usb", 360, "darwin,linux", "snapshot"),
            query("on demand", 0, "", "snapshot"),
            query("windows only", 60, "windows", "snapshot"),
            query("changes", 60, "", "differential"),
        ];
        let pack = pack(&queries, &"darwin".into()).unwrap();
        let names: Vec<&String> = pack["queries"].as_object().unwrap().keys().collect();
        assert_eq!(names, ["changes", "usb"]);
        assert_eq!(pack["queries"]["usb"]["interval"], 360);
        assert_eq!(pack["queries"]["usb"]["snapshot"], true);
        assert_eq!(pack["queries"]["changes"]["snapshot"], false);
        assert_eq!(pack["queries"]["changes"]["removed"], true);
        assert!(super::pack(&queries[1..2], &"darwin".into()).is_none());
    }

    #[test]
    fn packs_are_added_only_when_there_are_some() {
        let options = json!({"options": {"a": 1}});
        assert_eq!(
            osquery_config(options.clone(), vec![("Global".into(), None)]),
            options
        );
        let config = osquery_config(
            options,
            vec![
                ("Global".into(), Some(json!({"queries": {}}))),
                ("team-3".into(), None),
            ],
        );
        assert!(config["packs"]["Global"].is_object());
        assert!(config["packs"].get("team-3").is_none());
    }
}
