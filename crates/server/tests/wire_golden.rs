//! The Fleet wire contract against Fleet's documented examples: every key
//! Flotilla serves in the main responses (host, host list, host details,
//! policy, label, team, user, activities, device, orbit config, osquery's
//! distributed read) appears in Fleet's example with the same JSON type.
//! The examples are in `tests/fleet_examples/`.

use flotilla_core::access::{Role, Scope};
use flotilla_core::agent_config::orbit_options;
use flotilla_core::settings::OrgSettings;
use flotilla_core::targeting::LabelScope;
use flotilla_core::{HostId, LabelId, PlatformSet, PolicyId, PolicyResponse, TeamId, UserId};
use flotilla_server::wire::device::{DeviceHost, DeviceResponse};
use flotilla_server::wire::orbit::OrbitConfig;
use flotilla_server::wire::osquery::DistributedReadResponse;
use flotilla_server::wire::{
    self, ActivitiesResponse, Activity, ConditionalAccessSettings, ConfigResponse, Host,
    HostDetail, HostExtras, HostResponse, HostsResponse, Label, Policy, Team, User,
};
use flotilla_store::{
    ActivityRecord, EnrollSecret, HostPolicy, HostRecord, IntegrationStatus, LabelMembership,
    LabelRecord, LabelType, MsIntegration, PolicyRecord, TeamRecord, UserRecord,
};
use serde::Serialize;
use serde_json::{json, Value};

fn example(name: &str) -> Value {
    let path = format!(
        "{}/tests/fleet_examples/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of `ours` is in `fleet` with the same type (a null on either
/// side stands for an optional value); objects and the first element of
/// arrays are compared the same way. Returns the mismatches by path.
fn mismatches(path: &str, ours: &Value, fleet: &Value, found: &mut Vec<String>) {
    match (ours, fleet) {
        (Value::Object(ours), Value::Object(fleet)) => {
            for (key, value) in ours {
                let at = format!("{path}.{key}");
                match fleet.get(key) {
                    None => found.push(format!("{at}: not in Fleet's example")),
                    Some(theirs) => mismatches(&at, value, theirs, found),
                }
            }
        }
        (Value::Array(ours), Value::Array(fleet)) => {
            if let (Some(ours), Some(fleet)) = (ours.first(), fleet.first()) {
                mismatches(&format!("{path}[0]"), ours, fleet, found);
            }
        }
        (Value::Null, _) | (_, Value::Null) => {}
        (ours, fleet) if kind(ours) != kind(fleet) => found.push(format!(
            "{path}: Flotilla sends {}, Fleet's example has {}",
            kind(ours),
            kind(fleet)
        )),
        _ => {}
    }
}

fn assert_matches(name: &str, ours: &impl Serialize, fleet: &Value) {
    let ours = serde_json::to_value(ours).unwrap();
    let mut found = Vec::new();
    mismatches(name, &ours, fleet, &mut found);
    assert!(found.is_empty(), "{name}:\n{}", found.join("\n"));
}

fn host_record() -> HostRecord {
    HostRecord {
        id: HostId(7),
        uuid: "5E0C2A7B-0000-4000-8000-000000000007".into(),
        osquery_host_id: "5E0C2A7B-0000-4000-8000-000000000007".into(),
        team_id: Some(TeamId(2)),
        team_name: Some("Workstations".into()),
        hostname: "anna-mbp.local".into(),
        computer_name: "Anna's MacBook Pro".into(),
        hardware_serial: "C02XK0AAJGH6".into(),
        hardware_model: "Mac15,3".into(),
        platform: "darwin".into(),
        os_version: "macOS 15.1".into(),
        osquery_version: "5.14.1".into(),
        uptime_secs: 3600,
        mdm_enrolled: Some(true),
        mdm_server_url: "https://mdm.example.com".into(),
        mdm_installed_from_dep: true,
        detail_updated_at: Some(1_800_000_000),
        label_updated_at: Some(1_800_000_000),
        policy_updated_at: None,
        refetch_requested: false,
        seen_at: 1_800_000_100,
        last_enrolled_at: 1_799_000_000,
        created_at: 1_799_000_000,
        updated_at: 1_800_000_000,
        failing_policies: 1,
        duplicate_of: None,
        entra: Some(flotilla_store::EntraIdentity {
            device_id: "0b8c7e6a-1d2f-4c3b-9a8e-7f6d5c4b3a21".into(),
            upn: "anna@contoso.com".into(),
        }),
        fleetd: flotilla_store::FleetdFacts {
            capabilities: vec!["escrow_buddy".into()],
            orbit_version: Some("1.22.0".into()),
            fleet_desktop_version: Some("1.22.0".into()),
            scripts_enabled: Some(true),
            end_user_email: "anna@contoso.com".into(),
        },
    }
}

fn policy_record() -> PolicyRecord {
    PolicyRecord {
        id: PolicyId(3),
        scope: Scope::Team(TeamId(2)),
        name: "Firewall enabled".into(),
        query: "SELECT 1 FROM alf WHERE global_state >= 1;".into(),
        description: "".into(),
        resolution: "Turn on the firewall".into(),
        platform: PlatformSet::parse("darwin").unwrap(),
        critical: true,
        calendar_events_enabled: false,
        conditional_access_enabled: true,
        author_id: Some(UserId(1)),
        author_name: "Admin".into(),
        author_email: "admin@example.com".into(),
        created_at: 1_800_000_000,
        updated_at: 1_800_000_000,
        passing_host_count: 4,
        failing_host_count: 1,
        install_software: Some((9, "Company Portal".into())),
        labels: LabelScope {
            labels_include_all: Vec::new(),
            labels_include_any: vec!["Macs".into()],
            labels_exclude_any: vec!["Contractors".into()],
        },
    }
}

fn label_record() -> LabelRecord {
    LabelRecord {
        id: LabelId(12),
        name: "Has Company Portal".into(),
        description: "".into(),
        query: "SELECT 1 FROM apps WHERE bundle_identifier = 'com.microsoft.CompanyPortalMac';"
            .into(),
        platform: PlatformSet::single(flotilla_core::Platform::Darwin),
        label_type: LabelType::Regular,
        membership: LabelMembership::Dynamic,
        created_at: 1_800_000_000,
        updated_at: 1_800_000_000,
        host_count: 3,
    }
}

#[test]
fn a_host_and_a_host_list_match_fleets_example() {
    let fleet = example("host");
    assert_matches("host", &Host::of(&host_record(), 1_800_000_110), &fleet);
    let list = HostsResponse {
        hosts: vec![Host::of(&host_record(), 1_800_000_110)],
    };
    assert_matches("hosts", &list, &json!({ "hosts": [fleet] }));
}

#[test]
fn host_details_with_labels_and_policies_match_fleets_example() {
    let entry = HostPolicy {
        policy: policy_record(),
        response: PolicyResponse::Fail,
    };
    let detail = HostResponse {
        host: HostDetail {
            host: Host::of(&host_record(), 1_800_000_110),
            labels: wire::all(&[label_record()]),
            policies: wire::all(&[entry]),
            flotilla: HostExtras::of(&host_record(), &[]),
        },
    };
    let mut fleet = example("host");
    // Fleet's host-details policies carry every policy field and `response`.
    fleet["policies"] = json!([example("policy")]);
    let mut ours = serde_json::to_value(&detail).unwrap();
    // Flotilla's own additions live under one key Fleet doesn't have.
    let extras = ours["host"]
        .as_object_mut()
        .unwrap()
        .remove("flotilla")
        .unwrap();
    assert_eq!(extras["orbit_capabilities"], json!(["escrow_buddy"]));
    assert_eq!(extras["entra_identity"]["status"], "registered");
    assert_matches("host details", &ours, &json!({ "host": fleet }));
}

#[test]
fn policies_labels_teams_and_users_match_fleets_examples() {
    assert_matches(
        "policy",
        &Policy::from(&policy_record()),
        &example("policy"),
    );
    assert_matches("label", &Label::from(&label_record()), &example("label"));
    let team = TeamRecord {
        id: TeamId(2),
        name: "Workstations".into(),
        description: "".into(),
        settings: serde_json::from_value(json!({"agent_options": {"config": {"options": {"logger_plugin": "tls"}}}, "integrations": {"conditional_access_enabled": true}})).unwrap(),
        created_at: 1_800_000_000,
        host_count: 5,
    };
    let secret = EnrollSecret {
        secret: "s3cret-enroll-0001".into(),
        team_id: Some(TeamId(2)),
        created_at: 1_800_000_000,
    };
    assert_matches("team", &Team::of(&team, &[secret]), &example("team"));
    let user = UserRecord {
        id: UserId(1),
        email: "admin@example.com".into(),
        name: "Admin".into(),
        global_role: None,
        teams: vec![(TeamId(2), Role::Maintainer)],
        created_at: 1_800_000_000,
        updated_at: 1_800_000_000,
    };
    assert_matches(
        "user",
        &User::of(&user, &[(2, "Workstations".into())]),
        &example("user"),
    );
}

#[test]
fn the_org_settings_match_fleets_config_example() {
    // What a new installation stores, with the Entra connection made.
    let mut settings = OrgSettings::initial(
        "Contoso",
        "",
        "https://flotilla.contoso.com",
        json!({"options": {"distributed_interval": 10}}),
    );
    settings.integrations.conditional_access_enabled = Some(true);
    let integration = MsIntegration {
        tenant_id: "6f1c3a52-0c1e-4b8e-9a61-3f0d2b7c9e10".into(),
        status: IntegrationStatus::Active,
        setup_error: String::new(),
        compliance_policy_id: "a1b2".into(),
    };
    let response = ConfigResponse {
        settings,
        conditional_access: ConditionalAccessSettings::of(Some(&integration)),
    };
    assert_matches("config", &response, &example("config"));
}

#[test]
fn activities_match_fleets_example() {
    let record = ActivityRecord {
        id: 25,
        actor_id: Some(UserId(1)),
        actor_name: "Admin".into(),
        activity_type: "deleted_label".into(),
        details: json!({"label_id": 4, "label_name": "Pilot"}),
        created_at: 1_800_000_000,
    };
    let list = ActivitiesResponse {
        activities: vec![Activity::from(&record)],
    };
    // Details differ per activity type; their keys are checked by the door tests.
    let mut fleet = example("activity");
    fleet["details"] = Value::Null;
    assert_matches("activities", &list, &json!({ "activities": [fleet] }));
}

#[test]
fn the_device_response_matches_fleets_host_and_policy_examples() {
    let entry = HostPolicy {
        policy: policy_record(),
        response: PolicyResponse::Pass,
    };
    let device = DeviceResponse {
        host: DeviceHost {
            host: Host::of(&host_record(), 1_800_000_110),
            policies: wire::all(&[entry]),
        },
        org_logo_url: "https://example.com/logo.png".into(),
        org_contact_url: "https://example.com/help".into(),
        self_service: false,
    };
    let mut host = example("host");
    host["policies"] = json!([example("policy")]);
    let fleet = json!({
        "host": host,
        "org_logo_url": "https://example.com/logo.png",
        "org_contact_url": "https://fleetdm.com/company/contact",
        "self_service": true,
    });
    assert_matches("device", &device, &fleet);
}

#[test]
fn the_orbit_config_and_osquery_read_match_fleets_shapes() {
    let options = json!({
        "command_line_flags": {"verbose": true},
        "extensions": {"hello_world": {"channel": "stable", "platform": "macos"}},
        "update_channels": {"orbit": "edge"},
        "script_execution_timeout": 900,
    });
    let config = OrbitConfig::of(orbit_options(Some(&options)));
    assert_matches("orbit config", &config, &example("orbit_config"));
    assert_matches(
        "orbit config without options",
        &OrbitConfig::of(orbit_options(None)),
        &example("orbit_config"),
    );
    let mut read = DistributedReadResponse::default();
    read.queries.insert(
        "fleet_detail_query_uptime".into(),
        "SELECT * FROM uptime LIMIT 1;".into(),
    );
    read.discovery
        .insert("fleet_detail_query_uptime".into(), "SELECT 1;".into());
    let mut fleet = example("osquery_read");
    // Query names are data, not keys of the contract: compare their values' type.
    fleet["queries"] = json!({ "fleet_detail_query_uptime": "SELECT 1;" });
    fleet["discovery"] = json!({ "fleet_detail_query_uptime": "SELECT 1;" });
    assert_matches("distributed read", &read, &fleet);
}

#[test]
fn the_comparison_finds_unknown_keys_and_wrong_types() {
    let mut found = Vec::new();
    mismatches(
        "x",
        &json!({"a": 1, "b": "s", "c": {"d": true}}),
        &json!({"a": "1", "c": {"d": false}}),
        &mut found,
    );
    assert_eq!(
        found,
        [
            "x.a: Flotilla sends number, Fleet's example has string",
            "x.b: not in Fleet's example"
        ]
    );
}
