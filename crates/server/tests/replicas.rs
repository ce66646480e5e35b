//! Several servers on one PostgreSQL database behave as one: sessions,
//! agent keys, refetches, device tokens and the compliance outbox are shared,
//! and no report is sent twice. Runs when FLOTILLA_TEST_DATABASE_URL is set.

mod common;

use common::microsoft::{emulator_state, settings, start_emulator};
use common::{enroll_mac, Database, TestServer};
use flotilla_ms_emulator::Faults;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const TENANT: &str = "6f1c3a52-0c1e-4b8e-9a61-3f0d2b7c9e10";

async fn postgres() -> Option<Database> {
    let admin_url = common::postgres_admin_url()?;
    let name = format!("flotilla_test_{}", uuid::Uuid::new_v4().simple());
    Some(Database::Postgres(
        flotilla_store::create_postgres_database(&admin_url, &name)
            .await
            .unwrap(),
    ))
}

fn query_names(read: &Value) -> Vec<String> {
    read["queries"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn replicas_share_everything_through_postgres() {
    let Some(database) = postgres().await else {
        return;
    };
    let tenants = format!(
        "tenants:\n  - id: {TENANT}\n    groups: [\"Flotilla conditional access\"]\n    users: \"user{{n}}@contoso.com\"\n    user_count: 100\n"
    );
    let emulator = start_emulator(&tenants, Faults::default()).await;
    let a = TestServer::start_with(database.clone(), settings(&emulator)).await;
    let b = TestServer::start_with(database, settings(&emulator)).await;

    let token = a.setup().await;
    assert_eq!(
        b.get("/api/v1/fleet/me", &token).await.0,
        StatusCode::OK,
        "a session made on one replica works on another"
    );
    let (team, secret) = a.team(&token, "Workstations").await;
    let (_, policy) = a
        .post(&format!("/api/v1/fleet/teams/{team}/policies"), &token, json!({"name": "Firewall", "query": "SELECT 1 FROM alf;", "platform": "darwin", "conditional_access_enabled": true}))
        .await;
    let policy_query = format!("fleet_policy_query_{}", policy["policy"]["id"]);
    b.patch(
        &format!("/api/v1/fleet/teams/{team}"),
        &token,
        json!({"integrations": {"conditional_access_enabled": true}}),
    )
    .await;
    let (_, connect) = a
        .post(
            "/api/latest/fleet/conditional-access/microsoft",
            &token,
            json!({"microsoft_tenant_id": TENANT}),
        )
        .await;
    // The consent round trip returns to the other replica.
    let url = connect["microsoft_authentication_url"]
        .as_str()
        .unwrap()
        .replace(&a.url, &b.url);
    reqwest::get(&url).await.unwrap();
    let (_, confirm) = a
        .post(
            "/api/latest/fleet/conditional-access/microsoft/confirm",
            &token,
            json!({}),
        )
        .await;
    assert_eq!(confirm["configuration_completed"], true, "{confirm}");

    // Enrolled through A, checking in through B.
    let mut node_keys = Vec::new();
    for i in 0..20 {
        node_keys.push(enroll_mac(&a, &secret, &format!("UUID-{i}"), &format!("mac-{i}")).await);
    }
    let (status, read) = b
        .agent(
            "/api/osquery/distributed/read",
            json!({"node_key": node_keys[0]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(query_names(&read).contains(&policy_query));
    assert!(query_names(&read)
        .iter()
        .any(|n| n.ends_with("conditional_access_microsoft_device_id")));

    // Every host answers, alternating replicas, flipping its result three times.
    for round in 0..3 {
        for (i, key) in node_keys.iter().enumerate() {
            let server = if (i + round) % 2 == 0 { &a } else { &b };
            let passes = (i + round) % 2 == 0;
            let write = json!({
                "node_key": key,
                "queries": {
                    policy_query.clone(): if passes { json!([{"1": "1"}]) } else { json!("") },
                    "fleet_detail_query_mdm": [{"enrolled": "true", "server_url": "https://mdm.example.com", "installed_from_dep": "false"}],
                    "fleet_detail_query_conditional_access_microsoft_device_id": [{"device_id": format!("device-{i}"), "user_principal_name": format!("user{}@contoso.com", i + 1)}]
                },
                "statuses": {}
            });
            assert_eq!(
                server
                    .agent("/api/osquery/distributed/write", write)
                    .await
                    .0,
                StatusCode::OK
            );
        }
        // Let both reporters drain the outbox before the next change.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }

    let mut devices = Vec::new();
    for _ in 0..40 {
        let state = emulator_state(&emulator).await;
        devices = state["devices"].as_array().unwrap().clone();
        let settled = devices.len() == 20 && devices.iter().all(|d| d["uploads"] == 3);
        if settled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(devices.len(), 20);
    for device in &devices {
        assert_eq!(
            device["uploads"], 3,
            "each change is sent exactly once, whichever replica sends it: {device}"
        );
    }
    for i in 0..20 {
        let device = devices
            .iter()
            .find(|d| d["device_id"] == format!("device-{i}"))
            .unwrap();
        let last_round_passes = (i + 2) % 2 == 0;
        assert_eq!(
            device["compliance_status"],
            if last_round_passes {
                "compliant"
            } else {
                "notCompliant"
            }
        );
    }

    // A refetch asked on A is answered through B.
    let host = a.store.host_by_identifier("UUID-3").await.unwrap();
    a.post(
        &format!("/api/v1/fleet/hosts/{}/refetch", host.id.0),
        &token,
        json!({}),
    )
    .await;
    let (_, read) = b
        .agent(
            "/api/osquery/distributed/read",
            json!({"node_key": node_keys[3]}),
        )
        .await;
    assert!(
        query_names(&read).contains(&policy_query),
        "the refetch is seen by every replica"
    );

    // A device token registered through one replica opens My device on the other.
    let (_, orbit) = a
        .agent(
            "/api/fleet/orbit/enroll",
            json!({"enroll_secret": secret, "hardware_uuid": "UUID-3", "platform": "darwin"}),
        )
        .await;
    let orbit_key = orbit["orbit_node_key"].as_str().unwrap();
    a.agent(
        "/api/fleet/orbit/device_token",
        json!({"orbit_node_key": orbit_key, "device_auth_token": "replica-device-token-0001"}),
    )
    .await;
    let (status, device) = b
        .request(
            Method::GET,
            "/api/latest/fleet/device/replica-device-token-0001",
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{device}");
    assert_eq!(device["host"]["hostname"], "mac-3");

    b.stop().await;
    a.finish().await;
}
