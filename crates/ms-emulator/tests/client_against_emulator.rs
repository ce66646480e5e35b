//! Flotilla's Microsoft client against the emulator, over HTTP: every call of
//! the partner flow, its error cases, and recovery from injected faults.

use flotilla_microsoft::{
    DeviceReport, MicrosoftClient, MicrosoftConfig, MicrosoftError, UploadStatus,
};
use flotilla_ms_emulator::{EmulatorConfig, Faults, TenantsFile};
use serde_json::Value;
use std::time::Duration;

const TENANT: &str = "6f1c3a52-0c1e-4b8e-9a61-3f0d2b7c9e10";
const REFUSING: &str = "0b5c1d2e-3f40-4a51-8b62-7c8d9e0f1a2b";
const NO_GROUP: &str = "1a2b3c4d-5e6f-4a70-8b81-92a3b4c5d6e7";

struct Emulator {
    url: String,
    http: reqwest::Client,
}

impl Emulator {
    async fn start(faults: Faults) -> Emulator {
        let tenants = TenantsFile::from_yaml(&format!(
            r#"
tenants:
  - id: {TENANT}
    groups: ["Flotilla conditional access"]
    users: "user{{n}}@contoso.com"
    user_count: 10
    consent: grant
  - id: {REFUSING}
    groups: ["Flotilla conditional access"]
    consent: refuse
  - id: {NO_GROUP}
    groups: []
"#
        ))
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let config = EmulatorConfig {
            client_id: "partner".into(),
            client_secret: "s3cret".into(),
            tenants,
            token_lifetime: Duration::from_secs(3600),
            processing_delay: Duration::from_millis(50),
            faults,
        };
        let app = flotilla_ms_emulator::router(config, url.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Emulator {
            url,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    fn client(&self, secret: &str) -> MicrosoftClient {
        MicrosoftClient::new(MicrosoftConfig {
            client_id: "partner".into(),
            client_secret: secret.into(),
            authority_url: self.url.clone(),
            graph_url: self.url.clone(),
        })
        .unwrap()
    }

    async fn state(&self) -> Value {
        self.http
            .get(format!("{}/_emulator/state", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn report(device: &str, user_id: &str, managed: bool, compliant: bool) -> DeviceReport {
    DeviceReport {
        tenant_id: TENANT.into(),
        device_id: device.into(),
        device_name: "Alex's Mac".into(),
        user_id: user_id.into(),
        os_version: "15.1".into(),
        managed,
        compliant,
        last_check_in: "2026-11-27T10:00:00Z".into(),
        decided_at: "2026-11-27T10:00:01Z".into(),
        now: "2026-11-27T10:00:02Z".into(),
    }
}

async fn wait_for(client: &MicrosoftClient, message: &str) -> UploadStatus {
    for _ in 0..50 {
        let status = client.upload_status(TENANT, message).await.unwrap();
        if status != UploadStatus::Pending {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    UploadStatus::Pending
}

#[tokio::test]
async fn consent_redirects_back_with_tenant_and_state_or_the_refusal() {
    let emulator = Emulator::start(Faults::default()).await;
    let client = emulator.client("s3cret");
    let url = client.admin_consent_url(TENANT, "st8", "https://flotilla.example/back");
    assert!(url.starts_with(&format!(
        "{}/{TENANT}/adminconsent?client_id=partner&state=st8&redirect_uri=",
        emulator.url
    )));
    let granted = emulator.http.get(&url).send().await.unwrap();
    assert_eq!(granted.status(), reqwest::StatusCode::SEE_OTHER);
    let location = granted.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("https://flotilla.example/back?"),
        "{location}"
    );
    assert!(location.contains(&format!("tenant={TENANT}")) && location.contains("state=st8"));
    let refused = emulator
        .http
        .get(client.admin_consent_url(REFUSING, "st9", "https://flotilla.example/back"))
        .send()
        .await
        .unwrap();
    let location = refused.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.contains("error=access_denied")
            && location.contains("error_description=")
            && location.contains("state=st9")
    );
}

#[tokio::test]
async fn partner_activation_policy_and_device_reports() {
    let emulator = Emulator::start(Faults::default()).await;
    let wrong = emulator.client("wrong");
    assert!(matches!(
        wrong.provision(TENANT, "e", "r").await,
        Err(MicrosoftError::Credentials(_))
    ));

    let client = emulator.client("s3cret");
    let user = client.user_id(TENANT, "user3@contoso.com").await.unwrap();
    // Reports before activation fail, as Intune's would.
    let early = client
        .upload(&report("dev-0", &user, true, true))
        .await
        .unwrap();
    assert!(
        matches!(wait_for(&client, &early).await, UploadStatus::Failed(detail) if detail.contains("not provisioned"))
    );

    client
        .provision(
            TENANT,
            "https://f.example/enroll",
            "https://f.example/remediate",
        )
        .await
        .unwrap();
    let policy = client
        .ensure_compliance_policy(TENANT, "Flotilla conditional access")
        .await
        .unwrap();
    let again = client
        .ensure_compliance_policy(TENANT, "Flotilla conditional access")
        .await
        .unwrap();
    assert_eq!(policy, again, "a second setup reuses the policy (409)");
    let state = emulator.state().await;
    let tenant = state["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == TENANT)
        .unwrap()
        .clone();
    assert_eq!(tenant["provisioned"], 1);
    assert_eq!(tenant["enrollment_url"], "https://f.example/enroll");
    assert_eq!(
        tenant["assigned_groups"],
        serde_json::json!(["Flotilla conditional access"])
    );
    match client
        .ensure_compliance_policy(NO_GROUP, "Flotilla conditional access")
        .await
    {
        Err(MicrosoftError::GroupMissing(name)) => assert_eq!(name, "Flotilla conditional access"),
        other => panic!("expected a missing group, got {other:?}"),
    }
    assert!(matches!(
        client.user_id(TENANT, "user11@contoso.com").await,
        Err(MicrosoftError::UserMissing(_))
    ));

    let sent = client
        .upload(&report("dev-1", &user, true, false))
        .await
        .unwrap();
    assert_eq!(wait_for(&client, &sent).await, UploadStatus::Completed);
    let sent = client
        .upload(&report("dev-1", &user, true, true))
        .await
        .unwrap();
    assert_eq!(wait_for(&client, &sent).await, UploadStatus::Completed);
    let device = emulator.state().await["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == "dev-1")
        .unwrap()
        .clone();
    assert_eq!(device["management_state"], "managed");
    assert_eq!(device["compliance_status"], "compliant");
    assert_eq!(device["user_id"], user.as_str());
    assert_eq!(device["uploads"], 2);

    let other_user = client.user_id(TENANT, "user4@contoso.com").await.unwrap();
    let stolen = client
        .upload(&report("dev-1", &other_user, true, true))
        .await
        .unwrap();
    assert!(
        matches!(wait_for(&client, &stolen).await, UploadStatus::Failed(detail) if detail.contains("another user"))
    );
    let unknown_user = client
        .upload(&report("dev-2", "not-a-user", true, true))
        .await
        .unwrap();
    assert!(
        matches!(wait_for(&client, &unknown_user).await, UploadStatus::Failed(detail) if detail.contains("unknown user"))
    );

    client
        .deprovision(
            TENANT,
            "https://f.example/enroll",
            "https://f.example/remediate",
        )
        .await
        .unwrap();
    let state = emulator.state().await;
    assert_eq!(state["tenants"][0]["provisioned"], 2);
}

#[tokio::test]
async fn malformed_uploads_fail_with_a_reason() {
    let emulator = Emulator::start(Faults::default()).await;
    let client = emulator.client("s3cret");
    client.provision(TENANT, "e", "r").await.unwrap();
    // Straight to the device sync service, bypassing the client's well-formed body.
    let token: Value = emulator
        .http
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", emulator.url))
        .form(&[
            ("client_id", "partner"),
            ("client_secret", "s3cret"),
            ("grant_type", "client_credentials"),
            ("scope", "https://api.manage.microsoft.com//.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let user = client.user_id(TENANT, "user1@contoso.com").await.unwrap();
    let cases = [
        (
            "11111111-1111-4111-8111-111111111111",
            serde_json::json!({"TenantId": TENANT, "Content": [{"EntityType": 1}]}),
            "JSON string",
        ),
        (
            "22222222-2222-4222-8222-222222222222",
            serde_json::json!({"TenantId": TENANT, "Content": format!("[{{\"EntityType\": 7, \"UserId\": \"{user}\", \"DeviceId\": \"d\"}}]")}),
            "EntityType",
        ),
    ];
    for (id, body, reason) in cases {
        let url = format!(
            "{}/intune/{TENANT}/device-sync/DataUploadMessages(guid'{id}')?api-version=1.2",
            emulator.url
        );
        let put = emulator
            .http
            .put(&url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), reqwest::StatusCode::ACCEPTED);
        match wait_for(&client, id).await {
            UploadStatus::Failed(detail) => assert!(detail.contains(reason), "{detail}"),
            other => panic!("{id}: expected failure, got {other:?}"),
        }
    }
}

async fn set_faults(emulator: &Emulator, faults: &Faults) {
    let answer = emulator
        .http
        .post(format!("{}/_emulator/faults", emulator.url))
        .json(faults)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
}

/// The client makes one attempt per call and says what went wrong; the
/// outbox decides when to try again.
#[tokio::test]
async fn the_client_classifies_throttling_and_outages_and_refreshes_a_rejected_token() {
    let throttled = Faults {
        throttle: 1.0,
        retry_after_secs: 7,
        ..Faults::default()
    };
    let emulator = Emulator::start(throttled).await;
    let client = emulator.client("s3cret");
    let err = client
        .user_id(TENANT, "user2@contoso.com")
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)), "{err}");

    let down = Faults {
        unavailable: 1.0,
        ..Faults::default()
    };
    set_faults(&emulator, &down).await;
    let err = client
        .user_id(TENANT, "user2@contoso.com")
        .await
        .unwrap_err();
    assert!(err.is_transient() && err.retry_after().is_none(), "{err}");
    assert!(err.to_string().contains("503"), "{err}");

    // A token not yet replicated is refused once: the same call renews it.
    let fresh_token_refused = Faults {
        reject_fresh_token_once: true,
        ..Faults::default()
    };
    set_faults(&emulator, &fresh_token_refused).await;
    let client = emulator.client("s3cret");
    client
        .provision(TENANT, "e", "r")
        .await
        .expect("provision with a renewed token");
    let user = client
        .user_id(TENANT, "user2@contoso.com")
        .await
        .expect("user");
    let message = client
        .upload(&report("dev-9", &user, false, false))
        .await
        .expect("upload");
    let mut status = UploadStatus::Pending;
    for _ in 0..50 {
        if let Ok(now) = client.upload_status(TENANT, &message).await {
            status = now;
            if status != UploadStatus::Pending {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, UploadStatus::Completed);
    let state = emulator.state().await;
    assert_eq!(state["devices"][0]["management_state"], "notManaged");
}
