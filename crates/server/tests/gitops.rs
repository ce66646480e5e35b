//! GitOps end to end: files read by the `flotilla gitops` library, sent to a
//! real server over HTTP, applied in one transaction, checked through the API.

mod common;

use common::{company_portal_pkg, databases, flat_package, TestServer};
use flotilla_gitops::client::{Client, Connection};
use flotilla_gitops::{GitopsError, RunOptions, RunReport};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The hash the seed files name: the real Company Portal installer, not shipped.
const SEED_HASH: &str = "931db4af2fe6320a1bfb6776fae75b6f7280a947203a5a622b2cae00e8f6b6e6";

fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/seed-gitops")
}

fn scratch() -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("flotilla-gitops-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn replace_in(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

struct Gitops {
    client: Client,
    env: HashMap<String, String>,
}

impl Gitops {
    fn new(server: &TestServer, token: &str) -> Gitops {
        let connection = Connection {
            server: server.url.clone(),
            ..Connection::default()
        };
        Gitops {
            client: Client::new(&connection, Some(token.to_string())).unwrap(),
            env: HashMap::new(),
        }
    }

    async fn run(
        &self,
        files: &[PathBuf],
        dry_run: bool,
        delete_other_teams: bool,
    ) -> Result<RunReport, GitopsError> {
        let options = RunOptions {
            files: files.to_vec(),
            dry_run,
            delete_other_teams,
            show_progress: false,
        };
        let env = |name: &str| self.env.get(name).cloned();
        flotilla_gitops::run(&self.client, &options, &env).await
    }

    async fn apply(&self, files: &[PathBuf]) -> RunReport {
        match self.run(files, false, false).await {
            Ok(report) => report,
            Err(e) => panic!("apply failed: {e}"),
        }
    }
}

fn total_changes(report: &RunReport) -> usize {
    std::iter::once(&report.outcome.global)
        .chain(&report.outcome.teams)
        .map(|s| s.created + s.updated + s.deleted)
        .sum()
}

async fn upload_no_team(server: &TestServer, token: &str, name: &str, bytes: Vec<u8>) -> String {
    let form = Form::new().part("software", Part::bytes(bytes).file_name(name.to_string()));
    let response = server
        .client
        .post(format!("{}/api/latest/fleet/software/package", server.url))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let body: Value = response.json().await.unwrap();
    body["software_package"]["hash_sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn team_id(server: &TestServer, token: &str, name: &str) -> Option<i64> {
    let (_, teams) = server.get("/api/v1/fleet/teams", token).await;
    teams["teams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .map(|t| t["id"].as_i64().unwrap())
}

async fn label_names(server: &TestServer, token: &str) -> Vec<String> {
    let (_, labels) = server.get("/api/v1/fleet/labels", token).await;
    labels["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect()
}

async fn team_policies(server: &TestServer, token: &str, team: i64) -> Vec<Value> {
    let (_, body) = server
        .get(&format!("/api/v1/fleet/teams/{team}/policies"), token)
        .await;
    body["policies"].as_array().unwrap().clone()
}

#[tokio::test]
async fn seed_configuration_applies_to_the_letter_and_again_changes_nothing() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let token = server.setup().await;
        let gitops = Gitops::new(&server, &token);
        let dir = scratch();

        // As shipped, the package isn't on the server: the run fails, names the hash, changes nothing.
        copy_dir(&seed_dir(), &dir.join("raw"));
        let raw = [
            dir.join("raw/default.yml"),
            dir.join("raw/teams/team-name.yml"),
        ];
        let err = gitops
            .run(&raw, false, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(SEED_HASH), "{err}");
        assert!(
            err.contains("teams/team-name.yml: team \"Team name\" software"),
            "the error names the file: {err}"
        );
        assert_eq!(team_id(&server, &token, "Team name").await, None);
        assert!(!label_names(&server, &token)
            .await
            .contains(&"Company Portal installed".to_string()));
        let (_, config) = server.get("/api/v1/fleet/config", &token).await;
        assert_ne!(config["integrations"]["conditional_access_enabled"], true);

        // With the stand-in package uploaded to no team and its hash in a copy.
        let hash = upload_no_team(
            &server,
            &token,
            "CompanyPortal-Installer.pkg",
            company_portal_pkg(),
        )
        .await;
        copy_dir(&seed_dir(), &dir.join("cfg"));
        let team_file = dir.join("cfg/teams/team-name.yml");
        replace_in(&team_file, SEED_HASH, &hash);
        let files = [dir.join("cfg/default.yml"), team_file.clone()];
        let first = gitops.apply(&files).await;
        assert!(
            first
                .warnings
                .iter()
                .any(|w| w.contains("`team_settings` is deprecated")),
            "{:?}",
            first.warnings
        );
        assert_eq!(
            first.outcome.global.created, 1,
            "{:?}",
            first.outcome.global
        );
        assert_eq!(first.outcome.teams.len(), 1);
        assert_eq!(
            first.outcome.teams[0].created, 5,
            "{:?}",
            first.outcome.teams[0]
        );

        let (_, config) = server.get("/api/v1/fleet/config", &token).await;
        assert_eq!(config["integrations"]["conditional_access_enabled"], true);
        let (_, labels) = server.get("/api/v1/fleet/labels", &token).await;
        let label = labels["labels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == "Company Portal installed")
            .unwrap();
        assert_eq!(label["platform"], "darwin");
        assert_eq!(
            label["description"],
            "Company Portal is installed on the host."
        );
        assert_eq!(label["label_membership_type"], "dynamic");
        assert_eq!(
            label["query"],
            "SELECT 1 FROM apps WHERE bundle_identifier = 'com.microsoft.CompanyPortalMac'"
        );

        let team = team_id(&server, &token, "Team name")
            .await
            .expect("team created");
        let (_, body) = server
            .get(&format!("/api/v1/fleet/teams/{team}"), &token)
            .await;
        assert_eq!(
            body["team"]["integrations"]["conditional_access_enabled"],
            true
        );
        let (_, secrets) = server
            .get(&format!("/api/v1/fleet/teams/{team}/secrets"), &token)
            .await;
        assert_eq!(
            secrets["secrets"].as_array().unwrap().len(),
            1,
            "a new team gets an enroll secret"
        );

        let policies = team_policies(&server, &token, team).await;
        assert_eq!(policies.len(), 2);
        let compliance = policies
            .iter()
            .find(|p| p["name"] == "Compliance check policy 2")
            .unwrap();
        assert_eq!(
            compliance["query"],
            "SELECT * FROM osquery_info WHERE start_time < 0;"
        );
        assert_eq!(
            compliance["description"],
            "Example description for compliance policy 2"
        );
        assert_eq!(compliance["resolution"], "Resolution steps for this policy");
        assert_eq!(compliance["platform"], "darwin");
        assert_eq!(compliance["critical"], false);
        assert_eq!(compliance["calendar_events_enabled"], false);
        assert_eq!(compliance["conditional_access_enabled"], true);
        assert!(compliance["install_software"].is_null());
        let install = policies
            .iter()
            .find(|p| p["name"] == "[Install software] Company Portal (pkg)")
            .unwrap();
        assert_eq!(install["conditional_access_enabled"], false);
        assert_eq!(install["resolution"], "");
        assert_eq!(install["install_software"]["name"], "Company Portal");

        let (_, profiles) = server
            .get(
                &format!("/api/latest/fleet/configuration_profiles?team_id={team}"),
                &token,
            )
            .await;
        let profiles = profiles["profiles"].as_array().unwrap();
        assert_eq!(profiles.len(), 1);
        assert_eq!(
            profiles[0]["name"],
            "Company Portal single sign-on extension"
        );
        let scoped: Vec<&str> = profiles[0]["labels_include_all"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        assert_eq!(scoped, ["Company Portal installed"]);

        let (_, titles) = server
            .get(
                &format!("/api/latest/fleet/software/titles?team_id={team}"),
                &token,
            )
            .await;
        let titles = titles["software_titles"].as_array().unwrap();
        assert_eq!(titles.len(), 1);
        let package = &titles[0]["software_package"];
        assert_eq!(titles[0]["name"], "Company Portal");
        assert_eq!(package["version"], "5.2504.0");
        assert_eq!(package["hash_sha256"], hash.as_str());
        let scripts = seed_dir().join("lib/team-name/scripts");
        assert_eq!(
            package["install_script"],
            std::fs::read_to_string(scripts.join("company-portal-darwin-install")).unwrap()
        );
        assert_eq!(
            package["uninstall_script"],
            std::fs::read_to_string(scripts.join("company-portal-darwin-uninstall")).unwrap()
        );

        // Again: nothing changes, ids and timestamps stay.
        let (_, activities_before) = server.get("/api/v1/fleet/activities", &token).await;
        let second = gitops.apply(&files).await;
        assert_eq!(total_changes(&second), 0, "{:?}", second.outcome);
        assert_eq!(team_policies(&server, &token, team).await, policies);
        let (_, activities_after) = server.get("/api/v1/fleet/activities", &token).await;
        assert_eq!(
            activities_after, activities_before,
            "a no-op run leaves no audit entry"
        );

        // A dry run of an edit plans it and changes nothing.
        replace_in(&team_file, "Resolution steps for this policy", "New steps");
        let plan = gitops.run(&files, true, false).await.unwrap();
        assert!(plan.outcome.dry_run);
        assert_eq!(plan.outcome.teams[0].updated, 1);
        assert_eq!(
            plan.outcome.teams[0].changes[0].name,
            "Compliance check policy 2"
        );
        assert_eq!(team_policies(&server, &token, team).await, policies);

        // One misspelt key: error with the key and its line, nothing changed.
        replace_in(
            &team_file,
            "- calendar_events_enabled: false\n  conditional_access_enabled: true",
            "- calendar_events_enabled: false\n  conditional_acess_enabled: true",
        );
        let err = gitops
            .run(&files, false, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("team-name.yml:13:"), "{err}");
        assert!(
            err.contains("unknown key `conditional_acess_enabled`"),
            "{err}"
        );
        assert!(
            err.contains("did you mean `conditional_access_enabled`?"),
            "{err}"
        );
        assert_eq!(team_policies(&server, &token, team).await, policies);

        std::fs::remove_dir_all(dir).unwrap();
        server.finish().await;
    }
}

const DEFAULT_WITH_LABELS: &str = "
labels:
- name: Engineering
  query: SELECT 1 FROM users WHERE username = 'eng';
  platform: darwin
- name: Kiosks
  label_membership_type: manual
  hosts: []
org_settings:
  integrations:
    conditional_access_enabled: false
policies:
- name: Global disk encryption
  query: SELECT 1 FROM disk_encryption WHERE encrypted = 1;
  platform: darwin
";

const TEAM_A: &str = "
name: Team A
settings:
  integrations:
    conditional_access_enabled: true
  secrets:
  - secret: team-a-secret-1
controls:
  apple_settings:
    configuration_profiles:
    - path: ../lib/sso.mobileconfig
      labels_exclude_any:
      - Kiosks
policies:
- name: Firewall on
  query: SELECT 1 FROM alf WHERE global_state >= 1;
  platform: darwin
  conditional_access_enabled: true
  labels_include_any:
  - Engineering
- name: Gatekeeper on
  query: SELECT 1 FROM gatekeeper WHERE assessments_enabled = 1;
  platform: darwin
reports:
- name: Installed apps
  query: SELECT name, bundle_identifier FROM apps;
  interval: 3600
";

const TEAM_B: &str = "
name: Team B
policies:
- name: Screen lock
  query: SELECT 1 FROM screenlock WHERE enabled = 1;
  platform: darwin
";

#[tokio::test]
async fn the_files_are_the_source_of_truth() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let token = server.setup().await;
        let gitops = Gitops::new(&server, &token);
        let dir = scratch();
        write(&dir.join("default.yml"), DEFAULT_WITH_LABELS);
        write(&dir.join("teams/a.yml"), TEAM_A);
        write(&dir.join("teams/b.yml"), TEAM_B);
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        std::fs::copy(
            seed_dir()
                .join("lib/team-name/profiles/company-portal-single-signon-extension.mobileconfig"),
            dir.join("lib/sso.mobileconfig"),
        )
        .unwrap();
        let all = [
            dir.join("default.yml"),
            dir.join("teams/a.yml"),
            dir.join("teams/b.yml"),
        ];
        gitops.apply(&all).await;
        let team_a = team_id(&server, &token, "Team A").await.unwrap();
        let team_b = team_id(&server, &token, "Team B").await.unwrap();
        let policies = team_policies(&server, &token, team_a).await;
        let firewall = policies
            .iter()
            .find(|p| p["name"] == "Firewall on")
            .unwrap();
        let scoped: Vec<&str> = firewall["labels_include_any"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        assert_eq!(scoped, ["Engineering"]);
        let (_, secrets) = server
            .get(&format!("/api/v1/fleet/teams/{team_a}/secrets"), &token)
            .await;
        assert_eq!(secrets["secrets"][0]["secret"], "team-a-secret-1");
        let (_, queries) = server
            .get(
                &format!("/api/latest/fleet/queries?team_id={team_a}"),
                &token,
            )
            .await;
        assert_eq!(queries["queries"][0]["name"], "Installed apps");
        assert_eq!(queries["queries"][0]["interval"], 3600);
        // Scheduled reports reach the team's Macs as an osquery pack.
        let node_key = common::enroll_mac(&server, "team-a-secret-1", "MAC-A-1", "mac-a-1").await;
        let (_, config) = server
            .agent(
                "/api/osquery/config",
                serde_json::json!({"node_key": node_key}),
            )
            .await;
        let scheduled = &config["packs"][format!("team-{team_a}")]["queries"]["Installed apps"];
        assert_eq!(
            scheduled["query"],
            "SELECT name, bundle_identifier FROM apps;"
        );
        assert_eq!(scheduled["interval"], 3600);
        // The Mac logs the report's results: a snapshot, then a newer one
        // that replaces it; another pack's entry changes nothing here.
        let query_id = queries["queries"][0]["id"].as_i64().unwrap();
        for apps in [vec!["Safari", "Slack"], vec!["Safari"]] {
            let snapshot: Vec<Value> = apps
                .iter()
                .map(|name| serde_json::json!({"name": name, "bundle_identifier": "x"}))
                .collect();
            let (status, _) = server
                .agent(
                    "/api/osquery/log",
                    serde_json::json!({"node_key": node_key, "log_type": "result", "data": [
                        {"name": format!("pack/team-{team_a}/Installed apps"), "action": "snapshot",
                         "snapshot": snapshot, "hostIdentifier": "MAC-A-1", "unixTime": 1_700_000_000},
                        {"name": format!("pack/team-{team_b}/Installed apps"), "action": "snapshot",
                         "snapshot": [{"name": "Other"}], "hostIdentifier": "MAC-A-1"}
                    ]}),
                )
                .await;
            assert_eq!(status, StatusCode::OK);
        }
        let (_, report) = server
            .get(
                &format!("/api/latest/fleet/queries/{query_id}/report"),
                &token,
            )
            .await;
        assert_eq!(report["query_id"], query_id);
        assert_eq!(report["report_clipped"], false);
        let rows: Vec<&Value> = report["results"].as_array().unwrap().iter().collect();
        assert_eq!(rows.len(), 1, "{report}");
        assert_eq!(rows[0]["columns"]["name"], "Safari");
        assert_eq!(rows[0]["host_name"], "mac-a-1");

        // Drop a policy, the report and label "Engineering" (and its use); leave Team B out.
        let team_a_text = TEAM_A
            .replace("- name: Gatekeeper on\n  query: SELECT 1 FROM gatekeeper WHERE assessments_enabled = 1;\n  platform: darwin\n", "")
            .replace("reports:\n- name: Installed apps\n  query: SELECT name, bundle_identifier FROM apps;\n  interval: 3600\n", "")
            .replace("  labels_include_any:\n  - Engineering\n", "");
        write(&dir.join("teams/a.yml"), &team_a_text);
        write(
            &dir.join("default.yml"),
            &DEFAULT_WITH_LABELS.replace("- name: Engineering\n  query: SELECT 1 FROM users WHERE username = 'eng';\n  platform: darwin\n", ""),
        );
        let some = [dir.join("default.yml"), dir.join("teams/a.yml")];
        let report = gitops.apply(&some).await;
        assert_eq!(
            report.outcome.global.deleted, 1,
            "{:?}",
            report.outcome.global
        );
        let a = &report.outcome.teams[0];
        assert_eq!((a.created, a.updated, a.deleted), (0, 1, 2), "{a:?}");
        assert_eq!(team_policies(&server, &token, team_a).await.len(), 1);
        assert!(!label_names(&server, &token)
            .await
            .contains(&"Engineering".to_string()));
        assert_eq!(
            team_id(&server, &token, "Team B").await,
            Some(team_b),
            "teams not named stay without --delete-other-teams"
        );

        // A label a kept profile still targets can't go; the run changes nothing.
        write(&dir.join("default.yml"), "labels: []\n");
        let err = gitops
            .run(&some, false, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("label \"Kiosks\" can't be deleted: profile"),
            "{err}"
        );
        assert!(label_names(&server, &token)
            .await
            .contains(&"Kiosks".to_string()));

        // --delete-other-teams removes Team B; a dry run of it only plans.
        write(&dir.join("default.yml"), &DEFAULT_WITH_LABELS.replace("- name: Engineering\n  query: SELECT 1 FROM users WHERE username = 'eng';\n  platform: darwin\n", ""));
        let plan = gitops.run(&some, true, true).await.unwrap();
        assert!(plan
            .outcome
            .teams
            .iter()
            .any(|t| t.name == "Team B" && t.deleted == 1));
        assert_eq!(team_id(&server, &token, "Team B").await, Some(team_b));
        let report = gitops.run(&some, false, true).await.unwrap();
        assert!(report
            .outcome
            .teams
            .iter()
            .any(|t| t.name == "Team B" && t.deleted == 1));
        assert_eq!(team_id(&server, &token, "Team B").await, None);
        assert_eq!(
            total_changes(&gitops.run(&some, false, true).await.unwrap()),
            0
        );

        std::fs::remove_dir_all(dir).unwrap();
        server.finish().await;
    }
}

#[tokio::test]
async fn paths_globs_environment_and_local_installers() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let token = server.setup().await;
        let mut gitops = Gitops::new(&server, &token);
        gitops.env.insert("TEAM_NAME".into(), "Design".into());
        gitops.env.insert("SSO_TEAM_ID".into(), "UBF8T346G9".into());
        let dir = scratch();
        write(
            &dir.join("teams/design.yml"),
            "name: ${TEAM_NAME}
agent_options:
  path: ../lib/agent-options.yml
controls:
  macos_settings:
    custom_settings:
    - paths: ../lib/profiles/*.mobileconfig
policies:
- paths: ../lib/policies/*.yml
software:
  packages:
  - path: ../lib/software/sketch.package.yml
    self_service: true
queries:
- path: ../lib/queries.yml
",
        );
        write(
            &dir.join("lib/agent-options.yml"),
            "config:\n  options:\n    distributed_interval: 30\n",
        );
        write(
            &dir.join("lib/policies/a.yml"),
            "- name: Sketch installed\n  query: SELECT 1 FROM apps WHERE bundle_identifier = 'com.example.sketch';\n  platform: darwin\n  install_software:\n    package_path: ../software/sketch.package.yml\n",
        );
        write(&dir.join("lib/policies/b.yml"), "- name: FileVault on\n  query: SELECT 1 FROM disk_encryption WHERE encrypted = 1;\n  platform: darwin\n");
        write(
            &dir.join("lib/queries.yml"),
            "- name: Uptime\n  query: SELECT * FROM uptime;\n",
        );
        write(
            &dir.join("lib/software/sketch.package.yml"),
            "path: sketch.pkg\ninstall_script:\n  path: install.sh\n",
        );
        write(
            &dir.join("lib/software/install.sh"),
            "installer -pkg \"$INSTALLER_PATH\" -target /\n",
        );
        std::fs::write(
            dir.join("lib/software/sketch.pkg"),
            flat_package("Sketch", "com.example.sketch", "101.2"),
        )
        .unwrap();
        let profile = std::fs::read_to_string(
            seed_dir()
                .join("lib/team-name/profiles/company-portal-single-signon-extension.mobileconfig"),
        )
        .unwrap()
        .replace("UBF8T346G9", "$SSO_TEAM_ID");
        write(&dir.join("lib/profiles/sso.mobileconfig"), &profile);
        let files = [dir.join("teams/design.yml")];

        let report = gitops.apply(&files).await;
        assert_eq!(report.outcome.teams[0].name, "Design");
        let team = team_id(&server, &token, "Design").await.unwrap();
        let (_, body) = server
            .get(&format!("/api/v1/fleet/teams/{team}"), &token)
            .await;
        assert_eq!(
            body["team"]["agent_options"]["config"]["options"]["distributed_interval"],
            30
        );
        let names: Vec<String> = team_policies(&server, &token, team)
            .await
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["Sketch installed", "FileVault on"]);
        let policies = team_policies(&server, &token, team).await;
        assert_eq!(policies[0]["install_software"]["name"], "Sketch");
        let (_, titles) = server
            .get(
                &format!("/api/latest/fleet/software/titles?team_id={team}"),
                &token,
            )
            .await;
        assert_eq!(
            titles["software_titles"][0]["software_package"]["version"],
            "101.2"
        );
        assert_eq!(
            titles["software_titles"][0]["software_package"]["self_service"],
            true
        );
        assert_eq!(
            titles["software_titles"][0]["software_package"]["install_script"],
            "installer -pkg \"$INSTALLER_PATH\" -target /\n"
        );
        let (_, profiles) = server
            .get(
                &format!("/api/latest/fleet/configuration_profiles?team_id={team}"),
                &token,
            )
            .await;
        let uuid = profiles["profiles"][0]["profile_uuid"]
            .as_str()
            .unwrap()
            .to_string();
        let content = server
            .client
            .get(format!(
                "{}/api/latest/fleet/configuration_profiles/{uuid}?alt=media",
                server.url
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            content.contains("UBF8T346G9") && !content.contains("$SSO_TEAM_ID"),
            "profile variables are expanded"
        );
        assert_eq!(total_changes(&gitops.apply(&files).await), 0);

        // An unset variable names itself and its line.
        gitops.env.remove("TEAM_NAME");
        let err = gitops
            .run(&files, false, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("design.yml:1: environment variable $TEAM_NAME is not set"),
            "{err}"
        );

        std::fs::remove_dir_all(dir).unwrap();
        server.finish().await;
    }
}

#[tokio::test]
async fn a_run_that_fails_part_way_changes_nothing() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let token = server.setup().await;
        let gitops = Gitops::new(&server, &token);
        let dir = scratch();
        write(
            &dir.join("teams/ok.yml"),
            "name: Fine\npolicies:\n- name: P\n  query: SELECT 1;\n",
        );
        let missing = "ab".repeat(32);
        write(
            &dir.join("teams/bad.yml"),
            &format!("name: Broken\nsoftware:\n  packages:\n  - hash_sha256: {missing}\n"),
        );
        let err = gitops
            .run(
                &[dir.join("teams/ok.yml"), dir.join("teams/bad.yml")],
                false,
                false,
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(&missing), "{err}");
        assert_eq!(team_id(&server, &token, "Fine").await, None);
        assert_eq!(team_id(&server, &token, "Broken").await, None);

        // Only global admins apply GitOps.
        let (team, _) = server.team(&token, "Other").await;
        let maintainer = server.user(&token, "m@example.com", serde_json::json!({"global_role": null, "teams": [{"id": team, "role": "maintainer"}]})).await;
        let err = Gitops::new(&server, &maintainer)
            .run(&[dir.join("teams/ok.yml")], false, false)
            .await
            .unwrap_err();
        assert!(
            matches!(err, GitopsError::Server { status: 403, .. }),
            "{err}"
        );

        std::fs::remove_dir_all(dir).unwrap();
        server.finish().await;
    }
}
