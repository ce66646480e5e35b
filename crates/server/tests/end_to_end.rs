//! The simulator against a real server: what the server stores equals what
//! every simulated host answered, and nothing is lost across a restart.

mod common;

use common::{databases, TestServer};
use flotilla_simulator::{Answer, Scenario, SimulatorConfig};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

const SCENARIO: &str = r#"
policies:
  - name: "Disk encryption"
    pass: 0.6
    fail: 0.3
    error: 0.1
labels:
  - query_contains: "CompanyPortal"
    match: 0.5
flips:
  - at: 3s
    policy: "Disk encryption"
    fraction: 0.3
    to: fail
"#;

#[tokio::test]
async fn simulated_hosts_match_the_server_host_by_host() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let admin = server.setup().await;
        let (team, secret) = server.team(&admin, "Design").await;
        let (_, policy) = server
            .post(&format!("/api/v1/fleet/teams/{team}/policies"), &admin, json!({"name": "Disk encryption", "query": "SELECT 1 FROM disk_encryption WHERE encrypted = 1;", "platform": "darwin"}))
            .await;
        let policy = policy["policy"]["id"].as_i64().unwrap();
        let (_, label) = server
            .post("/api/v1/fleet/labels", &admin, json!({"name": "Has Company Portal", "query": "SELECT 1 FROM apps WHERE bundle_identifier = 'com.microsoft.CompanyPortalMac';", "platform": "darwin"}))
            .await;
        let label = label["label"]["id"].as_i64().unwrap();

        let hosts = 40;
        let config = SimulatorConfig {
            server: server.url.clone(),
            enroll_secret: secret.clone(),
            hosts,
            scenario: Scenario::from_yaml(SCENARIO).unwrap(),
            interval: Duration::from_millis(500),
            seed: 11,
            insecure: false,
            progress: false,
            max_in_flight: 64,
            agent: flotilla_simulator::Agent::Fleetd,
        };
        let report =
            flotilla_simulator::run(config, Some(Duration::from_secs(6)), std::future::pending())
                .await
                .unwrap();
        assert_eq!(report.hosts.len(), hosts);
        let flipped_to_fail = report
            .hosts
            .iter()
            .filter(|h| h.policies.get(&policy.to_string()) == Some(&Answer::Fail))
            .count();
        assert!(
            flipped_to_fail > hosts * 3 / 10,
            "the flip should leave more hosts failing: {flipped_to_fail}"
        );

        let (_, listed) = server
            .get(
                &format!("/api/v1/fleet/hosts?team_id={team}&per_page=1000"),
                &admin,
            )
            .await;
        let listed = listed["hosts"].as_array().unwrap().clone();
        assert_eq!(listed.len(), hosts, "every simulated host enrolled once");
        let (_, members) = server
            .get(
                &format!("/api/v1/fleet/labels/{label}/hosts?per_page=1000"),
                &admin,
            )
            .await;
        let members: HashSet<String> = members["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["uuid"].as_str().unwrap().to_string())
            .collect();
        for simulated in &report.hosts {
            let host = listed
                .iter()
                .find(|h| h["uuid"] == simulated.uuid.as_str())
                .expect("host on server");
            assert_eq!(host["hardware_serial"], simulated.serial.as_str());
            assert_eq!(host["hostname"], simulated.hostname.as_str());
            let (_, detail) = server
                .get(&format!("/api/v1/fleet/hosts/{}", host["id"]), &admin)
                .await;
            let stored = detail["host"]["policies"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["id"] == policy)
                .unwrap()["response"]
                .clone();
            let expected = match simulated.policies[&policy.to_string()] {
                Answer::Pass => "pass",
                Answer::Fail => "fail",
                Answer::Error => "",
            };
            assert_eq!(stored, expected, "policy result of {}", simulated.hostname);
            assert_eq!(
                members.contains(&simulated.uuid),
                simulated.labels[&label.to_string()],
                "label of {}",
                simulated.hostname
            );
        }

        // Restart on the same database: everything is still there.
        let (_, before) = server
            .get(&format!("/api/v1/fleet/teams/{team}/policies"), &admin)
            .await;
        let database = server.stop().await;
        let server = TestServer::start(database).await;
        let (_, count) = server.get("/api/v1/fleet/hosts/count", &admin).await;
        assert_eq!(
            count["count"], hosts as i64,
            "hosts and the admin's session survive a restart"
        );
        let (_, after) = server
            .get(&format!("/api/v1/fleet/teams/{team}/policies"), &admin)
            .await;
        assert_eq!(
            before["policies"][0]["passing_host_count"],
            after["policies"][0]["passing_host_count"]
        );
        assert_eq!(
            before["policies"][0]["failing_host_count"],
            after["policies"][0]["failing_host_count"]
        );
        server.finish().await;
    }
}
