//! Conditional access end to end: the consent round trip through the Microsoft
//! emulator, simulated Macs, and every registered Mac's state in "Entra".

mod common;

use common::microsoft::{emulator_state, settings, start_emulator};
use common::{databases, TestServer};
use flotilla_ms_emulator::Faults;
use flotilla_simulator::{Answer, Scenario, SimulatorConfig};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

const TENANT: &str = "6f1c3a52-0c1e-4b8e-9a61-3f0d2b7c9e10";
const REFUSING: &str = "0b5c1d2e-3f40-4a51-8b62-7c8d9e0f1a2b";

/// Starts the consent round trip and follows Microsoft's redirect back.
async fn consent(server: &TestServer, token: &str, tenant: &str) -> (String, StatusCode) {
    let (status, body) = server
        .post(
            "/api/latest/fleet/conditional-access/microsoft",
            token,
            json!({"microsoft_tenant_id": tenant}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["microsoft_authentication_url"]
        .as_str()
        .unwrap()
        .to_string();
    let returned = reqwest::get(&url).await.unwrap().status();
    (url, returned)
}

const SCENARIO: &str = r#"
policies:
  - name: "Firewall enabled"
    pass: 0.7
    fail: 0.3
flips:
  - at: 3s
    policy: "Firewall enabled"
    fraction: 0.3
    to: fail
entra:
  upn_pattern: "user{n}@contoso.com"
  registered: 0.8
mdm:
  enrolled: 0.8
"#;

#[tokio::test]
async fn macs_compliance_reaches_entra() {
    for database in databases().await {
        let tenants = format!(
            "tenants:\n  - id: {TENANT}\n    groups: [\"Flotilla conditional access\"]\n    users: \"user{{n}}@contoso.com\"\n    user_count: 100\n  - id: {REFUSING}\n    consent: refuse\n"
        );
        let faults = Faults {
            throttle: 0.05,
            retry_after_secs: 1,
            ..Faults::default()
        };
        let emulator = start_emulator(&tenants, faults).await;
        let server = TestServer::start_with(database, settings(&emulator)).await;
        let admin = server.setup().await;
        let (team, secret) = server.team(&admin, "Workstations").await;
        let (_, policy) = server
            .post(&format!("/api/v1/fleet/teams/{team}/policies"), &admin, json!({"name": "Firewall enabled", "query": "SELECT 1 FROM alf WHERE global_state >= 1;", "platform": "darwin", "conditional_access_enabled": true}))
            .await;
        let policy = policy["policy"]["id"].as_i64().unwrap();
        let (status, body) = server
            .patch(
                &format!("/api/v1/fleet/teams/{team}"),
                &admin,
                json!({"integrations": {"conditional_access_enabled": "yes"}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body["errors"][0]["name"],
            "integrations.conditional_access_enabled"
        );
        server
            .patch(
                &format!("/api/v1/fleet/teams/{team}"),
                &admin,
                json!({"integrations": {"conditional_access_enabled": true}}),
            )
            .await;

        let (status, body) = server
            .post(
                "/api/latest/fleet/conditional-access/microsoft",
                &admin,
                json!({"microsoft_tenant_id": "contoso.com"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["errors"][0]["name"], "microsoft_tenant_id");

        // A tenant whose admin refuses: the setup error says so.
        let (url, returned) = consent(&server, &admin, REFUSING).await;
        assert_eq!(
            returned,
            StatusCode::OK,
            "back on the console's settings page (which asks this cookie-less client to log in)"
        );
        let (_, confirm) = server
            .post(
                "/api/latest/fleet/conditional-access/microsoft/confirm",
                &admin,
                json!({}),
            )
            .await;
        assert_eq!(confirm["configuration_completed"], false);
        assert!(
            confirm["setup_error"].as_str().unwrap().contains("refused"),
            "{confirm}"
        );
        assert_eq!(
            reqwest::get(&url).await.unwrap().status(),
            StatusCode::BAD_REQUEST,
            "a consent state is single use"
        );

        let (_, returned) = consent(&server, &admin, TENANT).await;
        assert_ne!(returned, StatusCode::BAD_REQUEST);
        // Microsoft throttles here: the setup may finish on a retry.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let confirm = loop {
            let (_, confirm) = server
                .post(
                    "/api/latest/fleet/conditional-access/microsoft/confirm",
                    &admin,
                    json!({}),
                )
                .await;
            if confirm["configuration_completed"] == true || std::time::Instant::now() > deadline {
                break confirm;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(confirm["configuration_completed"], true, "{confirm}");
        let (_, config) = server.get("/api/latest/fleet/config", &admin).await;
        assert_eq!(
            config["conditional_access"]["microsoft_entra_tenant_id"],
            TENANT
        );
        assert_eq!(
            config["conditional_access"]["microsoft_entra_connection_configured"],
            true
        );
        let tenant_state = emulator_state(&emulator).await["tenants"][0].clone();
        assert_eq!(tenant_state["provisioned"], 1);
        assert_eq!(
            tenant_state["assigned_groups"],
            json!(["Flotilla conditional access"])
        );
        assert!(tenant_state["remediation_url"]
            .as_str()
            .unwrap()
            .ends_with("/microsoft-compliance-partner/remediate"));

        let config = SimulatorConfig {
            server: server.url.clone(),
            enroll_secret: secret.clone(),
            hosts: 30,
            scenario: Scenario::from_yaml(SCENARIO).unwrap(),
            interval: Duration::from_millis(500),
            seed: 5,
            insecure: false,
            progress: false,
            max_in_flight: 64,
            agent: flotilla_simulator::Agent::Fleetd,
        };
        let report =
            flotilla_simulator::run(config, Some(Duration::from_secs(6)), std::future::pending())
                .await
                .unwrap();
        let expected: Vec<(String, &'static str, &'static str)> = report
            .hosts
            .iter()
            .filter_map(|h| {
                let entra = h.entra.as_ref()?;
                let compliant = h.mdm_enrolled && h.policies[&policy.to_string()] == Answer::Pass;
                Some((
                    entra.device_id.clone(),
                    if h.mdm_enrolled {
                        "managed"
                    } else {
                        "notManaged"
                    },
                    if compliant {
                        "compliant"
                    } else {
                        "notCompliant"
                    },
                ))
            })
            .collect();
        assert!(
            expected.len() >= 15 && expected.len() < 30,
            "some hosts are unregistered: {}",
            expected.len()
        );
        let mut mismatched = Vec::new();
        for _ in 0..40 {
            let state = emulator_state(&emulator).await;
            let devices = state["devices"].as_array().unwrap();
            mismatched = expected
                .iter()
                .filter(|(id, managed, compliant)| {
                    !devices.iter().any(|d| {
                        d["device_id"] == id.as_str()
                            && d["management_state"] == *managed
                            && d["compliance_status"] == *compliant
                    })
                })
                .cloned()
                .collect();
            if mismatched.is_empty() && devices.len() == expected.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(
            mismatched.is_empty(),
            "devices whose Entra state is wrong: {mismatched:?}"
        );
        assert_eq!(
            emulator_state(&emulator).await["devices"]
                .as_array()
                .unwrap()
                .len(),
            expected.len(),
            "unregistered Macs are not reported"
        );

        let registered = report.hosts.iter().find(|h| h.entra.is_some()).unwrap();
        let host = server
            .store
            .host_by_identifier(&registered.uuid)
            .await
            .unwrap();
        let history = server.store.compliance_reports(host.id, 10).await.unwrap();
        assert_eq!(history[0].status.as_str(), "completed");

        assert_eq!(
            server
                .delete("/api/latest/fleet/conditional-access/microsoft", &admin)
                .await
                .0,
            StatusCode::OK
        );
        assert_eq!(
            emulator_state(&emulator).await["tenants"][0]["provisioned"],
            2
        );
        let (_, config) = server.get("/api/latest/fleet/config", &admin).await;
        assert_eq!(
            config["conditional_access"]["microsoft_entra_connection_configured"],
            false
        );
        server.finish().await;
    }
}
