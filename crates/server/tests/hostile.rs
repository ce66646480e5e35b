//! Hostile input over HTTP, each case on SQLite and PostgreSQL: the server
//! refuses it with a clear answer, stays up, and changes nothing it
//! shouldn't.

mod common;

use common::{databases, enroll_mac, TestServer};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::json;

const PROFILE_TAIL: &str = "<key>PayloadDisplayName</key><string>Deep</string>\
<key>PayloadIdentifier</key><string>com.example.deep</string><key>PayloadType</key><string>Configuration</string>\
<key>PayloadUUID</key><string>7C3B2B1E-1111-4A4A-9B9B-000000000001</string>\
<key>PayloadVersion</key><integer>1</integer></dict></plist>";

async fn upload_profile(server: &TestServer, token: &str, bytes: Vec<u8>) -> StatusCode {
    let form = Form::new()
        .text("team_id", "0")
        .part("profile", Part::bytes(bytes).file_name("deep.mobileconfig"));
    server
        .multipart("/api/latest/fleet/configuration_profiles", token, form)
        .await
        .0
}

async fn healthy(server: &TestServer) -> bool {
    let (status, _, _) = server.raw(Method::GET, "/healthz", &[], None).await;
    status == StatusCode::OK
}

#[tokio::test]
async fn deep_profiles_are_refused_and_the_server_stays_up() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let admin = server.setup().await;
        let n = 40_000;
        let deep_xml = format!(
            "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>PayloadContent</key><array>{}{}</array>{PROFILE_TAIL}",
            "<array>".repeat(n),
            "</array>".repeat(n)
        );
        assert_eq!(
            upload_profile(&server, &admin, deep_xml.into_bytes()).await,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert!(healthy(&server).await);
        let (_, profiles) = server
            .get("/api/latest/fleet/configuration_profiles?team_id=0", &admin)
            .await;
        assert_eq!(profiles["profiles"], json!([]), "{profiles}");
        server.finish().await;
    }
}

#[tokio::test]
async fn agent_bodies_from_unknown_keys_are_refused_before_they_are_parsed() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let rows = vec!["{\"a\":1}"; 1_000_000].join(",");
        let body =
            format!("{{\"node_key\":\"made-up\",\"log_type\":\"result\",\"data\":[{rows}]}}");
        let (status, _, refused) = server
            .raw(
                Method::POST,
                "/api/osquery/log",
                &[("content-type", "application/json")],
                Some(body.into_bytes()),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(refused["node_invalid"], true);
        assert!(healthy(&server).await);
        server.finish().await;
    }
}

#[tokio::test]
async fn an_agent_cannot_join_a_manual_label_or_take_over_a_host() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let admin = server.setup().await;
        let (_, label) = server
            .post(
                "/api/v1/fleet/labels",
                &admin,
                json!({"name": "Exempt", "label_membership_type": "manual", "host_ids": []}),
            )
            .await;
        let label = label["label"]["id"].as_i64().unwrap();
        let (team, secret) = server.team(&admin, "Victims").await;
        let node_key = enroll_mac(&server, &secret, "VICTIM-UUID", "victim").await;
        let (status, _) = server
            .agent(
                "/api/osquery/distributed/write",
                json!({"node_key": node_key, "queries": {format!("fleet_label_query_{label}"): [{"1": "1"}]}, "statuses": {}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (_, members) = server
            .get(&format!("/api/v1/fleet/labels/{label}/hosts"), &admin)
            .await;
        assert_eq!(members["hosts"].as_array().unwrap().len(), 0, "{members}");

        // Another team's secret and the victim's UUID: a duplicate, not a takeover.
        let (_, other) = server.team(&admin, "Attackers").await;
        enroll_mac(&server, &other, "VICTIM-UUID", "victim").await;
        let (status, _) = server
            .agent(
                "/api/osquery/distributed/read",
                json!({"node_key": node_key}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "the victim's key still works");
        let victim = server
            .store
            .host_by_identifier("VICTIM-UUID")
            .await
            .unwrap();
        assert_eq!(victim.team_id.map(|t| t.0), Some(team));
        let (_, activities) = server.get("/api/v1/fleet/activities", &admin).await;
        assert!(activities["activities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["type"] == "enrolled_duplicate_host"));
        server.finish().await;
    }
}

fn form_token(page: &str) -> String {
    let at = page.find("name=\"form_token\" value=\"").unwrap() + 25;
    page[at..at + page[at..].find('"').unwrap()].to_string()
}

#[tokio::test]
async fn logins_redirect_only_locally_back_off_and_pages_are_not_framed() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        server.setup().await;
        let (_, headers, page) = server.raw(Method::GET, "/login", &[], None).await;
        for header in [
            "x-frame-options",
            "x-content-type-options",
            "content-security-policy",
        ] {
            assert!(headers.contains_key(header), "/login lacks {header}");
        }
        assert_eq!(headers["cache-control"], "no-store");
        let cookie = headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("flotilla_form="))
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let token = form_token(page.as_str().unwrap());
        let form = serde_urlencoded(&[
            ("form_token", token.as_str()),
            ("email", "admin@example.com"),
            ("password", common::PASSWORD),
            ("next", "/\t/evil.example/"),
        ]);
        let (status, headers, _) = server
            .raw(
                Method::POST,
                "/login",
                &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("cookie", &cookie),
                ],
                Some(form.into_bytes()),
            )
            .await;
        assert!(status.is_redirection(), "{status}");
        assert_eq!(headers["location"], "/hosts");

        // Bad passwords for one account from one address back off.
        let mut refused = false;
        for n in 0..15 {
            let (status, _) = server
                .request(
                    Method::POST,
                    "/api/v1/fleet/login",
                    None,
                    Some(json!({"email": "admin@example.com", "password": format!("wrong-{n}")})),
                )
                .await;
            if status == StatusCode::TOO_MANY_REQUESTS {
                refused = true;
                break;
            }
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        assert!(refused, "15 bad logins were never refused");
        server.finish().await;
    }
}

fn serde_urlencoded(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn orbit_enroll(server: &TestServer, secret: &str, uuid: &str) -> (StatusCode, String) {
    let (status, body) = server
        .agent(
            "/api/fleet/orbit/enroll",
            json!({"enroll_secret": secret, "hardware_uuid": uuid, "hardware_serial": format!("SN-{uuid}"), "hostname": uuid, "platform": "darwin"}),
        )
        .await;
    (
        status,
        body["orbit_node_key"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[tokio::test]
async fn enrollment_floods_are_throttled_per_address_and_secret() {
    for database in databases().await {
        let settings = flotilla_server::ServerSettings {
            enroll_limit: flotilla_server::rate_limit::EnrollLimit {
                burst: 5,
                per_second: 1,
            },
            clock: flotilla_core::clock::Clock::manual(1_900_000_000),
            ..Default::default()
        };
        let clock = settings.clock.clone();
        let server = TestServer::start_with(database, settings).await;
        let admin = server.setup().await;
        let (_, secret) = server.team(&admin, "Design").await;
        for n in 0..5 {
            assert_eq!(
                orbit_enroll(&server, &secret, &format!("FAKE-{n}")).await.0,
                StatusCode::OK
            );
        }
        assert_eq!(
            orbit_enroll(&server, &secret, "FAKE-5").await.0,
            StatusCode::TOO_MANY_REQUESTS
        );
        // Guessing secrets from the same address is throttled too.
        assert_eq!(
            orbit_enroll(&server, "a-guessed-secret", "FAKE-6").await.0,
            StatusCode::TOO_MANY_REQUESTS
        );
        let (_, hosts) = server.get("/api/latest/fleet/hosts", &admin).await;
        assert_eq!(hosts["hosts"].as_array().unwrap().len(), 5);
        // The bucket refills at its rate.
        clock.advance(1);
        assert_eq!(
            orbit_enroll(&server, &secret, "FAKE-7").await.0,
            StatusCode::OK
        );
        assert!(healthy(&server).await);
        server.finish().await;
    }
}

#[tokio::test]
async fn a_host_guessing_other_hosts_device_tokens_is_throttled() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let admin = server.setup().await;
        let (_, secret) = server.team(&admin, "Design").await;
        let (_, victim) = orbit_enroll(&server, &secret, "VICTIM").await;
        let (_, guesser) = orbit_enroll(&server, &secret, "GUESSER").await;
        let set = |key: String, token: &'static str| {
            let server = &server;
            async move {
                server
                    .agent(
                        "/api/fleet/orbit/device_token",
                        json!({"orbit_node_key": key, "device_auth_token": token}),
                    )
                    .await
                    .0
            }
        };
        let victims_token = "6a1f0c2e-1d4b-4c55-9e0a-7b3c2d1e0f9a";
        assert_eq!(set(victim.clone(), victims_token).await, StatusCode::OK);
        // Each new token is one guess, right (409) or wrong (200, the guesser's own now).
        assert_eq!(
            set(guesser.clone(), victims_token).await,
            StatusCode::CONFLICT
        );
        for guess in [
            "0b7e4a51-2222-4f3d-8c1b-5e6f7a8b9c01",
            "0b7e4a51-2222-4f3d-8c1b-5e6f7a8b9c02",
            "0b7e4a51-2222-4f3d-8c1b-5e6f7a8b9c03",
            "0b7e4a51-2222-4f3d-8c1b-5e6f7a8b9c04",
        ] {
            assert_eq!(set(guesser.clone(), guess).await, StatusCode::OK);
        }
        // Past five in an hour the guesser learns nothing more, right or wrong.
        assert_eq!(
            set(guesser.clone(), victims_token).await,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            set(guesser.clone(), "0b7e4a51-2222-4f3d-8c1b-5e6f7a8b9c05").await,
            StatusCode::TOO_MANY_REQUESTS
        );
        // The victim's token still opens the victim's page.
        let (status, _, body) = server
            .raw(
                Method::GET,
                &format!("/api/latest/fleet/device/{victims_token}"),
                &[],
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["host"]["uuid"], "VICTIM", "{body}");
        // Refreshing one's own token is not a guess.
        for _ in 0..10 {
            assert_eq!(set(victim.clone(), victims_token).await, StatusCode::OK);
        }
        server.finish().await;
    }
}

async fn upload_package(
    server: &TestServer,
    token: &str,
    fields_first: bool,
    file_name: &str,
    bytes: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    let file = Part::bytes(bytes).file_name(file_name.to_string());
    let form = if fields_first {
        Form::new().text("team_id", "0").part("software", file)
    } else {
        Form::new().part("software", file).text("team_id", "0")
    };
    server
        .multipart("/api/latest/fleet/software/package", token, form)
        .await
}

/// Files under `dir`, recursively.
fn files_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_in(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn uploads_are_checked_before_they_are_read_and_bounded() {
    for database in databases().await {
        let blob_dir = common::scratch_dir().join("blobs");
        let settings = flotilla_server::ServerSettings {
            blobs: Some(flotilla_server::blobs::BlobStore::new(blob_dir.clone())),
            max_installer_bytes: 1024 * 1024,
            ..Default::default()
        };
        let server = TestServer::start_with(database, settings).await;
        let admin = server.setup().await;
        let observer = server
            .user(
                &admin,
                "observer@example.com",
                json!({"global_role": "observer"}),
            )
            .await;
        let package = common::company_portal_pkg();

        // An observer is refused before the file, whichever order the fields come in.
        for fields_first in [true, false] {
            let (status, _) = upload_package(
                &server,
                &observer,
                fields_first,
                "App.pkg",
                vec![7; 200_000],
            )
            .await;
            assert_eq!(status, StatusCode::FORBIDDEN);
        }
        // Too large: 413, from the API and from GitOps' installer upload.
        let (status, _) =
            upload_package(&server, &admin, true, "Big.pkg", vec![7; 1024 * 1024 + 1]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let big = vec![7u8; 1024 * 1024 + 1];
        let digest = {
            use sha2::Digest;
            sha2::Sha256::digest(&big)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let (status, _, _) = server
            .raw(
                Method::PUT,
                &format!("/api/latest/fleet/gitops/installers/{digest}"),
                &[("authorization", &format!("Bearer {admin}"))],
                Some(big),
            )
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let (status, _, _) = server
            .raw(
                Method::PUT,
                &format!("/api/latest/fleet/gitops/installers/{digest}"),
                &[("authorization", &format!("Bearer {observer}"))],
                Some(vec![7; 1000]),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // A profile over its 2 MiB limit: 413 too.
        assert_eq!(
            upload_profile(&server, &admin, vec![b' '; 3 * 1024 * 1024]).await,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert!(
            files_in(&blob_dir).is_empty(),
            "refused uploads left files: {:?}",
            files_in(&blob_dir)
        );

        // A path in the file name is not kept.
        let (status, uploaded) = upload_package(
            &server,
            &admin,
            false,
            "../../tmp/Company\tPortal.pkg",
            package,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{uploaded}");
        assert_eq!(
            uploaded["software_package"]["name"], "CompanyPortal.pkg",
            "{uploaded}"
        );
        let kept = files_in(&blob_dir);
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert!(healthy(&server).await);
        server.finish().await;
    }
}

#[tokio::test]
async fn oversized_writes_other_teams_counts_and_secret_probes_are_refused() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let admin = server.setup().await;
        let (team_a, secret_a) = server.team(&admin, "Team A").await;
        let (team_b, secret_b) = server.team(&admin, "Team B").await;

        // A write naming more queries than any host is asked.
        let node_key = enroll_mac(&server, &secret_a, "MAC-A", "mac-a").await;
        let mut queries = serde_json::Map::new();
        for n in 0..10_001 {
            queries.insert(format!("fleet_label_query_{n}"), json!([{"1": "1"}]));
        }
        let (status, _) = server
            .agent(
                "/api/osquery/distributed/write",
                json!({"node_key": node_key, "queries": queries}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // Just under the cap, with ids no host was asked: accepted and ignored.
        queries.remove("fleet_label_query_0");
        queries.remove("fleet_label_query_1");
        let (status, _) = server
            .agent(
                "/api/osquery/distributed/write",
                json!({"node_key": node_key, "queries": queries}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(healthy(&server).await);

        // Built-in label counts: a Team B user counts Team B's hosts only.
        enroll_mac(&server, &secret_b, "MAC-B", "mac-b").await;
        let team_b_user = server
            .user(
                &admin,
                "b@example.com",
                json!({"teams": [{"id": team_b, "role": "admin"}]}),
            )
            .await;
        let macos_count = |labels: &serde_json::Value| {
            labels["labels"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["name"] == "macOS")
                .map(|l| l["host_count"].clone())
        };
        let (_, all) = server.get("/api/latest/fleet/labels", &admin).await;
        let (_, mine) = server.get("/api/latest/fleet/labels", &team_b_user).await;
        assert_eq!(
            (macos_count(&all), macos_count(&mine)),
            (Some(json!(2)), Some(json!(1)))
        );

        // Team A's secret is "already in use" for Team B's admin a few times, then no answer.
        let probe = |secret: String| {
            let server = &server;
            let token = team_b_user.clone();
            async move {
                server
                    .patch(
                        &format!("/api/v1/fleet/teams/{team_b}/secrets"),
                        &token,
                        json!({"secrets": [{"secret": secret}]}),
                    )
                    .await
                    .0
            }
        };
        assert_eq!(probe(secret_a.clone()).await, StatusCode::CONFLICT);
        for n in 1..20 {
            assert_eq!(probe(format!("a-wrong-guess-{n}")).await, StatusCode::OK);
        }
        // Past 20 new sets in an hour, Team B's admin learns nothing more.
        assert_eq!(probe(secret_a.clone()).await, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            probe("another-guess".into()).await,
            StatusCode::TOO_MANY_REQUESTS
        );
        let (_, a_secrets) = server
            .get(&format!("/api/v1/fleet/teams/{team_a}/secrets"), &admin)
            .await;
        assert_eq!(a_secrets["secrets"][0]["secret"], json!(secret_a));
        server.finish().await;
    }
}

#[tokio::test]
async fn a_host_cannot_open_carves_without_end() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let admin = server.setup().await;
        let (_, secret) = server.team(&admin, "Design").await;
        let node_key = enroll_mac(&server, &secret, "MAC-C", "mac-c").await;
        let begin = |n: usize| {
            let server = &server;
            let node_key = node_key.clone();
            async move {
                server
                    .agent(
                        "/api/osquery/carve/begin",
                        json!({"node_key": node_key, "block_count": 500, "block_size": 2_000_000,
                               "carve_size": 1_000_000_000, "carve_id": format!("carve-{n}"),
                               "request_id": format!("req-{n}")}),
                    )
                    .await
                    .0
            }
        };
        for n in 0..4 {
            assert_eq!(begin(n).await, StatusCode::OK);
        }
        assert_eq!(begin(4).await, StatusCode::UNPROCESSABLE_ENTITY);
        let (_, carves) = server.get("/api/latest/fleet/carves", &admin).await;
        assert_eq!(
            carves["carves"].as_array().map(Vec::len),
            Some(4),
            "{carves}"
        );
        server.finish().await;
    }
}
