//! The osquery and fleetd protocols over HTTP, as agents speak them.

mod common;

use common::{databases, enroll_mac, TestServer};
use flotilla_core::clock::Clock;
use flotilla_core::schedule::Intervals;
use flotilla_server::ServerSettings;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn names(read: &Value) -> Vec<String> {
    let mut names: Vec<String> = read["queries"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn enroll_read_write_and_refetch() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let admin = server.setup().await;
        let (team, secret) = server.team(&admin, "Design").await;
        let (_, policy) = server
            .post(&format!("/api/v1/fleet/teams/{team}/policies"), &admin, json!({"name": "Disk encryption", "query": "SELECT 1 FROM disk_encryption;", "platform": "darwin", "resolution": "Turn on FileVault"}))
            .await;
        let policy = policy["policy"]["id"].as_i64().unwrap();
        let (_, global) = server
            .post(
                "/api/v1/fleet/global/policies",
                &admin,
                json!({"name": "Firewall", "query": "SELECT 1 FROM alf;"}),
            )
            .await;
        let global = global["policy"]["id"].as_i64().unwrap();
        server
            .post(
                "/api/v1/fleet/global/policies",
                &admin,
                json!({"name": "Windows only", "query": "SELECT 1;", "platform": "windows"}),
            )
            .await;
        let (_, label) = server
            .post(
                "/api/v1/fleet/labels",
                &admin,
                json!({"name": "Portal", "query": "SELECT 1 FROM apps;", "platform": "darwin"}),
            )
            .await;
        let label = label["label"]["id"].as_i64().unwrap();
        server
            .post(
                "/api/v1/fleet/labels",
                &admin,
                json!({"name": "Linux thing", "query": "SELECT 1;", "platform": "linux"}),
            )
            .await;

        let (status, refused) = server
            .agent(
                "/api/osquery/enroll",
                json!({"enroll_secret": "wrong", "host_identifier": "X"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(refused["node_invalid"], true);
        let node_key = enroll_mac(&server, &secret, "UUID-1", "mac-1").await;

        let (status, config) = server
            .agent("/api/osquery/config", json!({"node_key": node_key}))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(config["options"]["distributed_plugin"], "tls");

        let (status, read) = server
            .agent(
                "/api/osquery/distributed/read",
                json!({"node_key": node_key}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let sent = names(&read);
        for expected in [
            "fleet_detail_query_os_version",
            "fleet_detail_query_system_info",
            "fleet_detail_query_osquery_info",
            "fleet_detail_query_uptime",
            "fleet_detail_query_mdm",
        ] {
            assert!(
                sent.contains(&expected.to_string()),
                "{expected} missing from {sent:?}"
            );
        }
        assert!(read["discovery"]["fleet_detail_query_mdm"].is_string());
        let policy_query = format!("fleet_policy_query_{policy}");
        let global_query = format!("fleet_policy_query_{global}");
        let label_query = format!("fleet_label_query_{label}");
        assert!(
            sent.contains(&policy_query)
                && sent.contains(&global_query)
                && sent.contains(&label_query)
        );
        assert_eq!(
            sent.iter()
                .filter(|n| n.starts_with("fleet_policy_query_"))
                .count(),
            2,
            "the Windows policy is not sent to a Mac"
        );
        assert_eq!(
            sent.iter()
                .filter(|n| n.starts_with("fleet_label_query_"))
                .count(),
            1,
            "the Linux label is not sent to a Mac"
        );

        let write = json!({
            "node_key": node_key,
            "queries": {
                policy_query.clone(): "",
                global_query.clone(): [{"1": "1"}],
                label_query.clone(): [{"1": "1"}],
                "fleet_detail_query_os_version": [{"name": "macOS", "version": "15.2", "platform": "darwin"}],
                "fleet_detail_query_mdm": [{"enrolled": "true", "server_url": "https://mdm.example.com", "installed_from_dep": "true"}],
                "fleet_detail_query_uptime": [{"total_seconds": "120"}]
            },
            "statuses": {policy_query.clone(): 0, global_query.clone(): 0, label_query.clone(): 0},
            "messages": {}, "stats": {}
        });
        assert_eq!(
            server
                .agent("/api/osquery/distributed/write", write)
                .await
                .0,
            StatusCode::OK
        );
        let host = server.store.host_by_identifier("UUID-1").await.unwrap();
        let (_, detail) = server
            .get(&format!("/api/v1/fleet/hosts/{}", host.id.0), &admin)
            .await;
        let responses: Vec<(i64, String)> = detail["host"]["policies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["id"].as_i64().unwrap(),
                    p["response"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert!(
            responses.contains(&(policy, "fail".into()))
                && responses.contains(&(global, "pass".into())),
            "{responses:?}"
        );
        assert_eq!(detail["host"]["os_version"], "macOS 15.2");
        assert_eq!(detail["host"]["mdm"]["enrollment_status"], "On (automatic)");
        assert_eq!(detail["host"]["uptime"], 120_000_000_000i64);
        assert_eq!(detail["host"]["issues"]["failing_policies_count"], 1);
        let label_names: Vec<&str> = detail["host"]["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        assert_eq!(label_names, ["All Hosts", "macOS", "Portal"]);
        let (_, failing) = server
            .get(
                &format!("/api/v1/fleet/hosts?policy_id={policy}&policy_response=failing"),
                &admin,
            )
            .await;
        assert_eq!(failing["hosts"].as_array().unwrap().len(), 1);
        let (_, passing) = server
            .get(
                &format!("/api/v1/fleet/hosts?policy_id={policy}&policy_response=passing"),
                &admin,
            )
            .await;
        assert!(passing["hosts"].as_array().unwrap().is_empty());
        let (_, counts) = server
            .get(&format!("/api/v1/fleet/teams/{team}/policies"), &admin)
            .await;
        assert_eq!(counts["policies"][0]["failing_host_count"], 1);

        let (_, read) = server
            .agent(
                "/api/osquery/distributed/read",
                json!({"node_key": node_key}),
            )
            .await;
        assert!(
            names(&read).is_empty(),
            "answered queries are not asked again within their interval: {read}"
        );

        // An errored query is unknown; a label that now returns nothing drops the host.
        assert_eq!(
            server
                .post(
                    &format!("/api/v1/fleet/hosts/{}/refetch", host.id.0),
                    &admin,
                    json!({})
                )
                .await
                .0,
            StatusCode::OK
        );
        let (_, read) = server
            .agent(
                "/api/osquery/distributed/read",
                json!({"node_key": node_key}),
            )
            .await;
        assert!(
            names(&read).contains(&policy_query),
            "a refetch asks everything again"
        );
        let write = json!({
            "node_key": node_key,
            "queries": {policy_query.clone(): "", label_query.clone(): "", "fleet_detail_query_os_version": [{"name": "macOS", "version": "15.2", "platform": "darwin"}]},
            "statuses": {policy_query.clone(): 1, label_query.clone(): 0},
            "messages": {policy_query.clone(): "no such table"}
        });
        server.agent("/api/osquery/distributed/write", write).await;
        let (_, detail) = server
            .get(&format!("/api/v1/fleet/hosts/{}", host.id.0), &admin)
            .await;
        let response = detail["host"]["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == policy)
            .unwrap()["response"]
            .clone();
        assert_eq!(response, "");
        assert_eq!(
            detail["host"]["refetch_requested"], false,
            "the answering write clears the refetch"
        );
        assert!(!detail["host"]["labels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["name"] == "Portal"));
        let (_, read) = server
            .agent(
                "/api/osquery/distributed/read",
                json!({"node_key": node_key}),
            )
            .await;
        assert!(names(&read).is_empty());

        // Enrolling again with the same UUID proves nothing: the newcomer is
        // a duplicate record and the host keeps its key.
        let new_key = enroll_mac(&server, &secret, "UUID-1", "mac-1").await;
        assert_ne!(new_key, node_key);
        assert_eq!(
            server.store.host_by_identifier("UUID-1").await.unwrap().id,
            host.id
        );
        let (status, _) = server
            .agent(
                "/api/osquery/distributed/read",
                json!({"node_key": node_key}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the host's own node key still works"
        );
        let (_, count) = server.get("/api/v1/fleet/hosts/count", &admin).await;
        assert_eq!(count["count"], 2);
        server.finish().await;
    }
}

#[tokio::test]
async fn intervals_bring_queries_back() {
    for database in databases().await {
        let clock = Clock::manual(1_800_000_000);
        let settings = ServerSettings {
            intervals: Intervals {
                detail_secs: 3600,
                label_secs: 3600,
                policy_secs: 1,
                jitter_percent: 0,
            },
            clock: clock.clone(),
            ..ServerSettings::default()
        };
        let server = TestServer::start_with(database, settings).await;
        let admin = server.setup().await;
        let (team, secret) = server.team(&admin, "T").await;
        let (_, policy) = server
            .post(
                &format!("/api/v1/fleet/teams/{team}/policies"),
                &admin,
                json!({"name": "P", "query": "SELECT 1;"}),
            )
            .await;
        let policy_query = format!("fleet_policy_query_{}", policy["policy"]["id"]);
        let node_key = enroll_mac(&server, &secret, "UUID-1", "mac-1").await;
        server
            .agent(
                "/api/osquery/distributed/read",
                json!({"node_key": node_key}),
            )
            .await;
        server
            .agent("/api/osquery/distributed/write", json!({"node_key": node_key, "queries": {policy_query.clone(): [{"1": "1"}], "fleet_detail_query_uptime": [{"total_seconds": "5"}]}, "statuses": {}}))
            .await;
        clock.advance(2);
        let (_, read) = server
            .agent(
                "/api/osquery/distributed/read",
                json!({"node_key": node_key}),
            )
            .await;
        assert_eq!(
            names(&read),
            vec![policy_query],
            "only the policy interval has passed"
        );
        server.finish().await;
    }
}

#[tokio::test]
async fn agent_bodies_are_limited_and_logs_accepted() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let admin = server.setup().await;
        let (_, secret) = server.team(&admin, "T").await;
        let node_key = enroll_mac(&server, &secret, "UUID-1", "mac-1").await;
        let huge = "x".repeat(128 * 1024);
        let (status, _) = server
            .agent(
                "/api/osquery/distributed/read",
                json!({"node_key": node_key, "padding": huge}),
            )
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let (status, _) = server
            .agent(
                "/api/osquery/enroll",
                json!({"enroll_secret": secret, "host_identifier": huge}),
            )
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let (status, _) = server
            .agent("/api/osquery/log", json!({"node_key": node_key, "log_type": "status", "data": [{"severity": "0", "message": "hello"}]}))
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = server
            .agent(
                "/api/osquery/log",
                json!({"node_key": "nope", "log_type": "status", "data": []}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = server
            .request(Method::POST, "/api/osquery/distributed/write", None, None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        server.finish().await;
    }
}

#[tokio::test]
async fn fleetd_device_token_and_my_device() {
    for database in databases().await {
        let clock = Clock::manual(1_800_000_000);
        let settings = ServerSettings {
            device_token_ttl: std::time::Duration::from_secs(2),
            clock: clock.clone(),
            ..ServerSettings::default()
        };
        let server = TestServer::start_with(database, settings).await;
        let admin = server.setup().await;
        let (team, secret) = server.team(&admin, "T").await;
        server
            .post(&format!("/api/v1/fleet/teams/{team}/policies"), &admin, json!({"name": "Disk encryption", "query": "SELECT 1;", "resolution": "Turn on FileVault"}))
            .await;
        let (status, orbit) = server
            .agent("/api/fleet/orbit/enroll", json!({"enroll_secret": secret, "hardware_uuid": "UUID-9", "hardware_serial": "SERIAL9", "hostname": "mac-9", "platform": "darwin"}))
            .await;
        assert_eq!(status, StatusCode::OK);
        let orbit_key = orbit["orbit_node_key"].as_str().unwrap();
        assert_eq!(
            server
                .agent(
                    "/api/fleet/orbit/config",
                    json!({"orbit_node_key": orbit_key})
                )
                .await
                .0,
            StatusCode::OK
        );
        let (status, invalid) = server
            .agent("/api/fleet/orbit/config", json!({"orbit_node_key": "nope"}))
            .await;
        assert_eq!(
            (status, invalid["node_invalid"].clone()),
            (StatusCode::UNAUTHORIZED, json!(true))
        );
        let token = "device-token-0123456789abcdef";
        assert_eq!(
            server
                .agent(
                    "/api/fleet/orbit/device_token",
                    json!({"orbit_node_key": orbit_key, "device_auth_token": token})
                )
                .await
                .0,
            StatusCode::OK
        );
        // osquery on the same Mac joins the same host.
        enroll_mac(&server, &secret, "UUID-9", "mac-9").await;
        let (_, count) = server.get("/api/v1/fleet/hosts/count", &admin).await;
        assert_eq!(count["count"], 1);

        let (status, device) = server
            .request(
                Method::GET,
                &format!("/api/latest/fleet/device/{token}"),
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{device}");
        assert_eq!(device["host"]["hardware_serial"], "SNmac-9");
        assert_eq!(
            device["host"]["policies"][0]["resolution"],
            "Turn on FileVault"
        );
        assert_eq!(device["host"]["policies"][0]["response"], "");
        let (status, _) = server
            .request(
                Method::POST,
                &format!("/api/latest/fleet/device/{token}/refetch"),
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            server
                .store
                .host_by_identifier("UUID-9")
                .await
                .unwrap()
                .refetch_requested
        );

        clock.advance(3);
        let (status, _) = server
            .request(
                Method::GET,
                &format!("/api/latest/fleet/device/{token}"),
                None,
                None,
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "tokens expire when fleetd stops refreshing them"
        );
        let mut statuses = Vec::new();
        for attempt in 0..12 {
            let (status, _) = server
                .request(
                    Method::GET,
                    &format!("/api/latest/fleet/device/guess-{attempt}"),
                    None,
                    None,
                )
                .await;
            statuses.push(status);
        }
        assert_eq!(
            statuses.last(),
            Some(&StatusCode::TOO_MANY_REQUESTS),
            "guessing is rate-limited: {statuses:?}"
        );
        server.finish().await;
    }
}
