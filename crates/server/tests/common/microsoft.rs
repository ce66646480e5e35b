//! The Microsoft emulator in-process, and server settings that point at it.

use flotilla_microsoft::{MicrosoftClient, MicrosoftConfig};
use flotilla_ms_emulator::{EmulatorConfig, Faults, TenantsFile};
use flotilla_server::conditional_access::MicrosoftSettings;
use flotilla_server::ServerSettings;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Starts an emulator with these tenants (YAML) and faults; returns its URL.
pub async fn start_emulator(tenants: &str, faults: Faults) -> String {
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
        processing_delay: Duration::from_millis(20),
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
