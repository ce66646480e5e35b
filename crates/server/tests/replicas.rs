//! Several servers on one PostgreSQL database behave as one: sessions,
//! agent keys, refetches, device tokens and the compliance outbox are shared,
//! and no report is sent twice. Runs when FLOTILLA_TEST_DATABASE_URL is set.

mod common;

use common::microsoft::{
    connected_team, emulator_state, policy_write, set_faults, settings, start_emulator,
};
use common::{enroll_mac, Database, TestServer};
use flotilla_ms_emulator::Faults;
use flotilla_server::ServerSettings;
use flotilla_store::ReportStatus;
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

/// Polls the emulator until `devices` devices have each had `uploads`
/// uploads (or a deadline passes); returns the devices.
async fn wait_for_uploads(emulator: &str, devices: usize, uploads: i64) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let state = emulator_state(emulator).await;
        let found = state["devices"].as_array().cloned().unwrap_or_default();
        let settled =
            found.len() == devices && found.iter().all(|d| d["uploads"].as_i64() >= Some(uploads));
        if settled || std::time::Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Microsoft answering slower than a report's lease: the sender renews the
/// lease while it waits, so the other replica never takes the report over
/// and each report is uploaded once.
#[tokio::test]
async fn a_report_is_uploaded_once_when_microsoft_is_slower_than_the_lease() {
    let Some(database) = postgres().await else {
        return;
    };
    let tenants = format!(
        "tenants:\n  - id: {TENANT}\n    groups: [\"Flotilla conditional access\"]\n    users: \"user{{n}}@contoso.com\"\n    user_count: 10\n"
    );
    let emulator = start_emulator(&tenants, Faults::default()).await;
    let short_lease = |emulator: &str| ServerSettings {
        report_lease: Duration::from_secs(2),
        ..settings(emulator)
    };
    let a = TestServer::start_with(database.clone(), short_lease(&emulator)).await;
    let b = TestServer::start_with(database, short_lease(&emulator)).await;
    let token = a.setup().await;
    let (secret, policy_query) = connected_team(&a, &b, &token, TENANT).await;
    // Every Microsoft call now takes longer than the lease.
    let slow = Faults {
        slow: 1.0,
        slow_ms: 3000,
        ..Faults::default()
    };
    set_faults(&emulator, &slow).await;
    for i in 0..4 {
        let key = enroll_mac(&a, &secret, &format!("UUID-{i}"), &format!("mac-{i}")).await;
        let write = policy_write(
            &key,
            &policy_query,
            false,
            &format!("device-{i}"),
            &format!("user{}@contoso.com", i + 1),
        );
        let server = if i % 2 == 0 { &a } else { &b };
        assert_eq!(
            server
                .agent("/api/osquery/distributed/write", write)
                .await
                .0,
            StatusCode::OK
        );
    }
    let devices = wait_for_uploads(&emulator, 4, 1).await;
    assert_eq!(devices.len(), 4, "{devices:?}");
    // Once every report is completed nothing is left to send: the counts are final.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut settled = true;
        for i in 0..4 {
            let host = a
                .store
                .host_by_identifier(&format!("UUID-{i}"))
                .await
                .unwrap();
            let reports = a.store.compliance_reports(host.id, 10).await.unwrap();
            settled &=
                !reports.is_empty() && reports.iter().all(|r| r.status == ReportStatus::Completed);
        }
        if settled || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for device in emulator_state(&emulator).await["devices"]
        .as_array()
        .unwrap()
    {
        assert_eq!(device["uploads"], 1, "uploaded once: {device}");
        assert_eq!(device["compliance_status"], "notCompliant");
    }
    b.stop().await;
    a.finish().await;
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
    let (secret, policy_query) = connected_team(&a, &b, &token, TENANT).await;

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
            let write = policy_write(
                key,
                &policy_query,
                passes,
                &format!("device-{i}"),
                &format!("user{}@contoso.com", i + 1),
            );
            assert_eq!(
                server
                    .agent("/api/osquery/distributed/write", write)
                    .await
                    .0,
                StatusCode::OK
            );
        }
        // Each round's reports are all delivered before the next change.
        wait_for_uploads(&emulator, 20, (round + 1) as i64).await;
    }

    let devices = wait_for_uploads(&emulator, 20, 3).await;
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
