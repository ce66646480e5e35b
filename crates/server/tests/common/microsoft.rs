//! The Microsoft emulator in-process, and server settings that point at it.

use super::TestServer;
use flotilla_microsoft::{MicrosoftClient, MicrosoftConfig};
use flotilla_ms_emulator::{EmulatorConfig, Faults, TenantsFile};
use flotilla_server::conditional_access::MicrosoftSettings;
use flotilla_server::ServerSettings;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Starts an emulator with these tenants (YAML) and faults; returns its URL.
pub async fn start_emulator(tenants: &str, faults: Faults) -> String {
    start_emulator_processing(tenants, faults, Duration::from_millis(20)).await
}

/// An emulator that takes `processing_delay` to process each upload.
pub async fn start_emulator_processing(
    tenants: &str,
    faults: Faults,
    processing_delay: Duration,
) -> String {
    let tenants = TenantsFile::from_yaml(tenants).expect("tenants file");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let config = EmulatorConfig {
        client_id: "partner".into(),
        client_secret: "s3cret".into(),
        tenants,
        token_lifetime: Duration::from_secs(3600),
        processing_delay,
        faults,
    };
    let app = flotilla_ms_emulator::router(config, url.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.expect("emulator") });
    url
}

/// Server settings whose Microsoft partner app talks to the emulator.
pub fn settings(emulator: &str) -> ServerSettings {
    let client = MicrosoftClient::new(MicrosoftConfig {
        client_id: "partner".into(),
        client_secret: "s3cret".into(),
        authority_url: emulator.into(),
        graph_url: emulator.into(),
    })
    .expect("client");
    ServerSettings {
        microsoft: Some(MicrosoftSettings {
            client: Arc::new(client),
            group_name: "Flotilla conditional access".into(),
        }),
        ..ServerSettings::default()
    }
}

pub async fn emulator_state(emulator: &str) -> Value {
    reqwest::get(format!("{emulator}/_emulator/state"))
        .await
        .expect("state")
        .json()
        .await
        .expect("state JSON")
}

/// A team with one conditional-access policy, reported to the tenant through
/// a consent round trip that returns to `b` (another replica, or the same server); returns the
/// team's enroll secret and the policy's query name.
pub async fn connected_team(
    a: &TestServer,
    b: &TestServer,
    token: &str,
    tenant: &str,
) -> (String, String) {
    let (team, secret) = a.team(token, "Workstations").await;
    let (_, policy) = a
        .post(&format!("/api/v1/fleet/teams/{team}/policies"), token, json!({"name": "Firewall", "query": "SELECT 1 FROM alf;", "platform": "darwin", "conditional_access_enabled": true}))
        .await;
    let policy_query = format!("fleet_policy_query_{}", policy["policy"]["id"]);
    b.patch(
        &format!("/api/v1/fleet/teams/{team}"),
        token,
        json!({"integrations": {"conditional_access_enabled": true}}),
    )
    .await;
    let (_, connect) = a
        .post(
            "/api/latest/fleet/conditional-access/microsoft",
            token,
            json!({"microsoft_tenant_id": tenant}),
        )
        .await;
    let url = connect["microsoft_authentication_url"]
        .as_str()
        .unwrap()
        .replace(&a.url, &b.url);
    reqwest::get(&url).await.unwrap();
    let (_, confirm) = a
        .post(
            "/api/latest/fleet/conditional-access/microsoft/confirm",
            token,
            json!({}),
        )
        .await;
    assert_eq!(confirm["configuration_completed"], true, "{confirm}");
    (secret, policy_query)
}

/// A distributed write: the policy passes or fails, the Mac is under MDM and
/// registered in Entra as `device` for `upn`.
pub fn policy_write(
    node_key: &str,
    policy_query: &str,
    passes: bool,
    device: &str,
    upn: &str,
) -> Value {
    json!({
        "node_key": node_key,
        "queries": {
            policy_query: if passes { json!([{"1": "1"}]) } else { json!("") },
            "fleet_detail_query_mdm": [{"enrolled": "true", "server_url": "https://mdm.example.com", "installed_from_dep": "false"}],
            "fleet_detail_query_conditional_access_microsoft_device_id": [{"device_id": device, "user_principal_name": upn}]
        },
        "statuses": {}
    })
}

/// Sets the emulator's faults.
pub async fn set_faults(emulator: &str, faults: &flotilla_ms_emulator::Faults) {
    let answer = reqwest::Client::new()
        .post(format!("{emulator}/_emulator/faults"))
        .json(faults)
        .send()
        .await
        .expect("set faults");
    assert!(answer.status().is_success());
}

/// One device's state in the emulator (Null until it was uploaded).
pub async fn emulator_device(emulator: &str, device: &str) -> Value {
    emulator_state(emulator).await["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["device_id"] == device).cloned())
        .unwrap_or(Value::Null)
}
