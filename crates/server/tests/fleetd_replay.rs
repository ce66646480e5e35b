//! A fleetd Mac, replayed request by request as the real clients send them:
//! orbit's Go client (no Content-Type, `X-Fleet-Capabilities`), the osquery
//! it starts (on `/api/v1/osquery/`, osquery 5's bodies, gzip logs) and Fleet
//! Desktop's device client. Bodies and rows follow Fleet's orbit client,
//! `server/fleet/orbit.go`, osquery's TLS plugins and osquery-perf's macOS
//! template; each test runs on SQLite and PostgreSQL.

mod common;

use base64::Engine;
use common::{databases, scratch_dir, TestServer};
use flotilla_server::osquery_log::LogDestination;
use flotilla_server::ServerSettings;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::io::Write;

const UUID: &str = "7C4F6C1E-3B6A-4E2D-9F0A-5D8B2C1A9E44";
const SERIAL: &str = "C02ZK1ABMD6T";
const HOSTNAME: &str = "jane-mbp";
/// orbit on macOS (`fleet.GetOrbitClientCapabilities`).
const ORBIT_HEADERS: &[(&str, &str)] = &[
    ("user-agent", "Go-http-client/1.1"),
    ("accept-encoding", "gzip"),
    ("x-fleet-capabilities", "escrow_buddy,setup_experience"),
];
/// osquery's TLS transport.
const OSQUERY_HEADERS: &[(&str, &str)] = &[
    ("content-type", "application/json"),
    ("accept", "application/json"),
    ("user-agent", "osquery/5.12.1"),
];
const DESKTOP_HEADERS: &[(&str, &str)] = &[("user-agent", "Go-http-client/1.1")];

fn body(value: &Value) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(value).unwrap())
}

fn gzip(value: &Value) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(&serde_json::to_vec(value).unwrap())
        .unwrap();
    encoder.finish().unwrap()
}

fn capabilities(headers: &reqwest::header::HeaderMap) -> Vec<String> {
    headers
        .get("x-fleet-capabilities")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default()
}

/// osquery's TLS enroll (tls_enroll.cpp) with osquery-perf's macOS host details.
fn osquery_enroll(secret: &str, uuid: &str, hostname: &str) -> Value {
    json!({
        "enroll_secret": secret,
        "host_identifier": uuid,
        "platform_type": "21",
        "host_details": {
            "os_version": {"build": "23B92", "major": "14", "minor": "1", "name": "Mac OS X", "patch": "2",
                           "platform": "darwin", "platform_like": "darwin", "version": "14.1.2"},
            "osquery_info": {"build_distro": "10.12", "build_platform": "darwin", "config_hash": "",
                             "config_valid": "0", "extensions": "active", "instance_id": uuid,
                             "pid": "12947", "platform_mask": "21", "start_time": "1580931224",
                             "uuid": uuid, "version": "5.12.1", "watcher": "12946"},
            "platform_info": {"address": "0xff990000", "date": "12/16/2019 ", "revision": "196 (B&I)",
                              "size": "8388608", "vendor": "Apple Inc. ", "version": "196.0.0.0.0 ",
                              "volume_size": "1507328", "extra": "MBP114"},
            "system_info": {"hostname": hostname, "uuid": uuid, "cpu_type": "x86_64h",
                            "cpu_brand": "Intel(R) Core(TM) i7-4770HQ CPU @ 2.20GHz",
                            "physical_memory": "17179869184", "hardware_vendor": "Apple Inc.",
                            "hardware_model": "MacBookPro11,4", "hardware_serial": SERIAL,
                            "computer_name": "Jane's MacBook Pro", "local_hostname": hostname}
        }
    })
}

/// What osquery-perf's macOS template answers for a table a query names.
fn rows_for(sql: &str) -> Option<Value> {
    let rows = [
        (
            "os_version",
            json!([{"name": "macOS", "version": "14.1.2", "major": "14", "minor": "1", "patch": "2", "build": "23B92", "platform": "darwin", "platform_like": "darwin", "arch": "x86_64"}]),
        ),
        (
            "osquery_info",
            json!([{"version": "5.12.1", "uuid": UUID, "build_platform": "darwin", "extensions": "active"}]),
        ),
        (
            "system_info",
            json!([{"hostname": HOSTNAME, "uuid": UUID, "hardware_serial": SERIAL, "hardware_model": "MacBookPro11,4", "computer_name": "Jane's MacBook Pro"}]),
        ),
        (
            "uptime",
            json!([{"days": "0", "hours": "4", "minutes": "38", "seconds": "11", "total_seconds": "16691"}]),
        ),
        (
            "mdm",
            json!([{"enrolled": "false", "server_url": "", "installed_from_dep": "false"}]),
        ),
        (
            "orbit_info",
            json!([{"version": "1.22.0", "device_auth_token": "", "enrolled": "true", "last_recorded_error": "", "orbit_channel": "stable", "osqueryd_channel": "stable", "desktop_channel": "stable", "desktop_version": "1.22.0", "uptime": "10000", "scripts_enabled": "1"}]),
        ),
    ];
    rows.into_iter()
        .find(|(table, _)| sql.contains(&format!("FROM {table}")))
        .map(|(_, rows)| rows)
}

/// A distributed write in osquery 5's shape, for a read's queries; the
/// policy passes or fails as `passes` says; `fleetd_tables` false leaves out
/// queries whose discovery names fleetd's tables, as plain osquery does.
fn write_for(node_key: &str, read: &Value, passes: bool, fleetd_tables: bool) -> Value {
    let (mut queries, mut statuses, mut messages, mut stats) =
        (json!({}), json!({}), json!({}), json!({}));
    for (name, sql) in read["queries"].as_object().unwrap() {
        let sql = sql.as_str().unwrap();
        let discovery = read["discovery"][name].as_str().unwrap_or("");
        let fleetd_only = ["'app_sso_platform'", "'mdm'", "'orbit_info'"]
            .iter()
            .any(|t| discovery.contains(t));
        if fleetd_only && !fleetd_tables {
            continue;
        }
        let (rows, status) = if name.starts_with("fleet_policy_query_") {
            (
                if passes {
                    json!([{"1": "1"}])
                } else {
                    json!([])
                },
                0,
            )
        } else if let Some(rows) = rows_for(sql) {
            (rows, 0)
        } else {
            messages[name] = json!("no such table: app_sso_platform");
            (json!([]), 1)
        };
        queries[name] = rows;
        statuses[name] = json!(status);
        stats[name] = json!({"wall_time_ms": 3, "user_time": 1, "system_time": 1, "memory": 4096});
    }
    json!({"node_key": node_key, "queries": queries, "statuses": statuses, "messages": messages, "stats": stats})
}

async fn host_detail(server: &TestServer, admin: &str, uuid: &str) -> Value {
    let (_, hosts) = server.get("/api/v1/fleet/hosts?per_page=100", admin).await;
    let id = hosts["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["uuid"] == uuid)
        .unwrap_or_else(|| panic!("no host {uuid}: {hosts}"))["id"]
        .as_i64()
        .unwrap();
    server
        .get(&format!("/api/v1/fleet/hosts/{id}"), admin)
        .await
        .1["host"]
        .clone()
}

/// Answers distributed reads until one comes back empty.
async fn answer_all(server: &TestServer, prefix: &str, node_key: &str, passes: bool, fleetd: bool) {
    for _ in 0..4 {
        let (status, _, read) = server
            .raw(
                Method::POST,
                &format!("{prefix}/distributed/read"),
                OSQUERY_HEADERS,
                body(&json!({"node_key": node_key})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{read}");
        if read["queries"].as_object().is_none_or(|q| q.is_empty()) {
            return;
        }
        let write = write_for(node_key, &read, passes, fleetd);
        let (status, _, answer) = server
            .raw(
                Method::POST,
                &format!("{prefix}/distributed/write"),
                OSQUERY_HEADERS,
                body(&write),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
}

#[tokio::test]
async fn a_fleetd_mac_enrolls_reports_and_opens_fleet_desktop() {
    for database in databases().await {
        let logs = scratch_dir();
        let settings = ServerSettings {
            osquery_log: LogDestination::Filesystem {
                result: logs.join("result.log"),
                status: logs.join("status.log"),
            },
            ..ServerSettings::default()
        };
        let server = TestServer::start_with(database, settings).await;
        let admin = server.setup().await;
        let (team, secret) = server.team(&admin, "Workstations").await;
        let (_, policy) = server
            .post(&format!("/api/v1/fleet/teams/{team}/policies"), &admin, json!({"name": "Disk encryption", "query": "SELECT 1 FROM disk_encryption WHERE encrypted = 1;", "platform": "darwin"}))
            .await;
        let policy = policy["policy"]["id"].as_i64().unwrap();
        let (status, _) = server
            .post(&format!("/api/latest/fleet/teams/{team}/agent_options"), &admin, json!({
                "config": {"options": {"distributed_interval": 10}},
                "command_line_flags": {"logger_tls_compress": true, "distributed_tls_max_attempts": 3},
                "update_channels": {"orbit": "edge", "osqueryd": "stable", "desktop": "stable"},
                "script_execution_timeout": 900
            }))
            .await;
        assert_eq!(status, StatusCode::OK);

        // orbit enrolls; every answer names the server's capabilities.
        let (status, headers, enrolled) = server
            .raw(
                Method::POST,
                "/api/fleet/orbit/enroll",
                ORBIT_HEADERS,
                body(&json!({
                    "enroll_secret": secret, "hardware_uuid": UUID, "hardware_serial": SERIAL,
                    "hostname": HOSTNAME, "platform": "darwin", "platform_like": "darwin",
                    "osquery_identifier": UUID, "computer_name": "Jane's MacBook Pro",
                    "hardware_model": "MacBookPro11,4"
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{enrolled}");
        assert_eq!(
            capabilities(&headers),
            ["orbit_endpoints", "token_rotation"]
        );
        let orbit_key = enrolled["orbit_node_key"].as_str().unwrap().to_string();

        let (status, headers, config) = server
            .raw(
                Method::POST,
                "/api/fleet/orbit/config",
                ORBIT_HEADERS,
                body(&json!({"orbit_node_key": orbit_key})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(capabilities(&headers).contains(&"token_rotation".to_string()));
        assert_eq!(
            config["command_line_startup_flags"],
            json!({"logger_tls_compress": true, "distributed_tls_max_attempts": 3})
        );
        assert_eq!(
            config["update_channels"],
            json!({"orbit": "edge", "osqueryd": "stable", "desktop": "stable"})
        );
        assert_eq!(config["script_execution_timeout"], 900);
        assert!(config["notifications"].is_object());

        for path in ["/api/fleet/orbit/ping", "/api/fleet/device/ping"] {
            let (status, headers, _) = server.raw(Method::HEAD, path, DESKTOP_HEADERS, None).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(
                !capabilities(&headers).is_empty(),
                "{path} names no capabilities"
            );
        }

        // The Fleet Desktop token, then its rotation.
        let first = "6a1f2f0e-8c1b-4d7a-9f55-0e3c9b1d2a01";
        let (status, _, _) = server
            .raw(
                Method::POST,
                "/api/fleet/orbit/device_token",
                ORBIT_HEADERS,
                body(&json!({"orbit_node_key": orbit_key, "device_auth_token": first})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = server
            .raw(
                Method::PUT,
                "/api/fleet/orbit/device_mapping",
                ORBIT_HEADERS,
                body(&json!({"orbit_node_key": orbit_key, "email": "jane@example.com"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);

        // fleetd's osquery, on /api/v1/osquery.
        let (status, _, enrolled) = server
            .raw(
                Method::POST,
                "/api/v1/osquery/enroll",
                OSQUERY_HEADERS,
                body(&osquery_enroll(&secret, UUID, HOSTNAME)),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{enrolled}");
        let node_key = enrolled["node_key"].as_str().unwrap().to_string();
        let (status, _, config) = server
            .raw(
                Method::POST,
                "/api/v1/osquery/config",
                OSQUERY_HEADERS,
                body(&json!({"node_key": node_key})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(config["options"].is_object());
        answer_all(&server, "/api/v1/osquery", &node_key, false, true).await;

        let host = host_detail(&server, &admin, UUID).await;
        assert_eq!(host["hostname"], HOSTNAME);
        assert_eq!(host["os_version"], "macOS 14.1.2");
        assert_eq!(host["orbit_version"], "1.22.0");
        assert_eq!(host["fleet_desktop_version"], "1.22.0");
        assert_eq!(host["scripts_enabled"], true);
        assert_eq!(
            host["flotilla"]["orbit_capabilities"],
            json!(["escrow_buddy", "setup_experience"])
        );
        // fleetd answered the Platform SSO query: not registered, rather than unknown.
        assert_eq!(
            host["flotilla"]["entra_identity"]["status"],
            "not_registered"
        );
        let response = host["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == policy)
            .unwrap()["response"]
            .clone();
        assert_eq!(response, "fail");
        let host_id = host["id"].as_i64().unwrap();
        let (_, mapping) = server
            .get(
                &format!("/api/latest/fleet/hosts/{host_id}/device_mapping"),
                &admin,
            )
            .await;
        assert_eq!(mapping["device_mapping"][0]["email"], "jane@example.com");

        // Fleet Desktop.
        let (status, _, summary) = server
            .raw(
                Method::GET,
                &format!("/api/latest/fleet/device/{first}/desktop"),
                DESKTOP_HEADERS,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{summary}");
        assert_eq!(summary["failing_policies_count"], 1);
        assert_eq!(summary["self_service"], false);
        assert!(summary["notifications"].is_object());
        assert!(summary["config"]["org_info"].is_object());
        let (status, headers, _) = server
            .raw(
                Method::GET,
                &format!("/api/latest/fleet/device/{first}/transparency"),
                DESKTOP_HEADERS,
                None,
            )
            .await;
        assert!(status.is_redirection(), "{status}");
        assert_eq!(headers["location"], "https://fleetdm.com/transparency");
        let second = "2b7d1c3e-4f5a-4b6c-8d9e-0f1a2b3c4d05";
        server
            .raw(
                Method::POST,
                "/api/fleet/orbit/device_token",
                ORBIT_HEADERS,
                body(&json!({"orbit_node_key": orbit_key, "device_auth_token": second})),
            )
            .await;
        for token in [second, first] {
            let (status, _, _) = server
                .raw(
                    Method::GET,
                    &format!("/api/latest/fleet/device/{token}/desktop"),
                    DESKTOP_HEADERS,
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "token {token} after rotation");
        }

        // Logs, gzip-compressed as --logger_tls_compress sends them.
        let result = json!({"node_key": node_key, "log_type": "result", "data": [{
            "name": "pack/Global/osquery_info", "hostIdentifier": UUID, "action": "snapshot",
            "calendarTime": "Fri Oct  6 18:13:04 2023 UTC", "unixTime": 1696616000, "epoch": 0, "counter": 0,
            "numerics": false, "snapshot": [{"version": "5.12.1", "marker": "replay-marker"}],
            "decorations": {"host_uuid": UUID, "hostname": HOSTNAME}
        }]});
        let gzip_headers = [OSQUERY_HEADERS, &[("content-encoding", "gzip")]].concat();
        let (status, _, answer) = server
            .raw(
                Method::POST,
                "/api/v1/osquery/log",
                &gzip_headers,
                Some(gzip(&result)),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let written = std::fs::read_to_string(logs.join("result.log")).unwrap();
        let line: Value = serde_json::from_str(written.lines().last().unwrap()).unwrap();
        assert_eq!(line["snapshot"][0]["marker"], "replay-marker");

        // Refusals carry osquery's `error`, so osquery retries them.
        let (status, _, refused) = server
            .raw(
                Method::POST,
                "/api/v1/osquery/log",
                &gzip_headers,
                Some(b"not gzip".to_vec()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(refused["error"].is_string(), "{refused}");
        let (_, _, refused) = server
            .raw(
                Method::POST,
                "/api/v1/osquery/distributed/write",
                OSQUERY_HEADERS,
                Some(b"{\"node_key\":".to_vec()),
            )
            .await;
        assert!(refused["error"].is_string(), "{refused}");
        let (status, _, refused) = server
            .raw(
                Method::POST,
                "/api/v1/osquery/config",
                OSQUERY_HEADERS,
                body(&json!({"node_key": "unknown"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(refused["node_invalid"], true);

        // A carve: one block, read back through Fleet's carve API.
        let file = b"127.0.0.1 localhost\n".to_vec();
        let (status, _, begun) = server
            .raw(Method::POST, "/api/v1/osquery/carve/begin", OSQUERY_HEADERS, body(&json!({
                "block_count": 1, "block_size": 2_000_000, "carve_size": file.len(),
                "carve_id": "f1e2d3c4-0000-4000-8000-000000000001", "request_id": "fleet_distributed_query_1",
                "node_key": node_key
            })))
            .await;
        assert_eq!(status, StatusCode::OK, "{begun}");
        let session = begun["session_id"].as_str().unwrap();
        let data = base64::engine::general_purpose::STANDARD.encode(&file);
        let (status, _, _) = server
            .raw(Method::POST, "/api/v1/osquery/carve/block", OSQUERY_HEADERS, body(&json!({"block_id": 0, "session_id": session, "request_id": "fleet_distributed_query_1", "data": data})))
            .await;
        assert_eq!(status, StatusCode::OK);
        let (_, carves) = server.get("/api/latest/fleet/carves", &admin).await;
        let carve = &carves["carves"][0];
        assert_eq!(carve["host_id"], host_id);
        assert_eq!(carve["block_count"], 1);
        let id = carve["id"].as_i64().unwrap();
        let (_, block) = server
            .get(&format!("/api/latest/fleet/carves/{id}/block/0"), &admin)
            .await;
        assert_eq!(block["data"], data);
        // A block outside the carve is refused.
        let (status, _, _) = server
            .raw(
                Method::POST,
                "/api/v1/osquery/carve/block",
                OSQUERY_HEADERS,
                body(&json!({"block_id": 3, "session_id": session, "data": data})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        // Unknown tokens are limited per client; a valid token never is.
        let mut limited = None;
        for n in 0..20 {
            let (status, headers, _) = server
                .raw(
                    Method::GET,
                    &format!("/api/latest/fleet/device/unknown-token-{n:04}/desktop"),
                    DESKTOP_HEADERS,
                    None,
                )
                .await;
            if status == StatusCode::TOO_MANY_REQUESTS {
                limited = Some(headers);
            }
        }
        let limited = limited.expect("20 unknown tokens from one client are limited");
        assert!(limited.contains_key("retry-after"));
        let (status, _, _) = server
            .raw(
                Method::GET,
                &format!("/api/latest/fleet/device/{second}/desktop"),
                DESKTOP_HEADERS,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        server.finish().await;
    }
}

#[tokio::test]
async fn a_plain_osquery_mac_works_on_the_old_prefix_and_is_shown_as_needing_fleetd() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let admin = server.setup().await;
        let (_, secret) = server.team(&admin, "Workstations").await;
        let uuid = "0D5E3B2A-1C4F-4A6B-8E9D-7F0A1B2C3D4E";
        let (status, _, enrolled) = server
            .raw(
                Method::POST,
                "/api/osquery/enroll",
                OSQUERY_HEADERS,
                body(&osquery_enroll(&secret, uuid, "plain-mac")),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let node_key = enrolled["node_key"].as_str().unwrap().to_string();
        answer_all(&server, "/api/osquery", &node_key, true, false).await;
        let host = host_detail(&server, &admin, uuid).await;
        assert_eq!(host["orbit_version"], Value::Null);
        assert_eq!(host["flotilla"]["orbit_capabilities"], json!([]));
        assert_eq!(host["flotilla"]["entra_identity"]["status"], "needs_fleetd");
        assert_eq!(
            host["flotilla"]["entra_identity"]["message"],
            "Entra identity unknown: needs fleetd"
        );
        server.finish().await;
    }
}
