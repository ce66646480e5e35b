//! One rule and one activity per change, whichever door it comes through:
//! each case makes the same change through the REST API and through the
//! console (or GitOps), and asserts the same stored result and the same
//! audit activity (type and detail keys). On SQLite and PostgreSQL.

mod common;

use common::console::{browser_login, csrf_of, no_redirects, page_html, submit};
use common::{company_portal_pkg, databases, enroll_mac, flat_package, TestServer};
use reqwest::header::COOKIE;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashSet;

/// Reads the audit log and returns the entries not seen before.
struct Audit {
    seen: HashSet<i64>,
}

impl Audit {
    async fn new(server: &TestServer, token: &str) -> Audit {
        let mut audit = Audit {
            seen: HashSet::new(),
        };
        audit.fresh(server, token).await;
        audit
    }

    async fn fresh(&mut self, server: &TestServer, token: &str) -> Vec<Value> {
        let (status, body) = server
            .get("/api/v1/fleet/activities?per_page=500", token)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut fresh = Vec::new();
        for activity in body["activities"].as_array().unwrap() {
            if self.seen.insert(activity["id"].as_i64().unwrap()) {
                fresh.push(activity.clone());
            }
        }
        fresh
    }
}

/// An activity's type and the keys of its details.
fn shape(activities: &[Value]) -> Vec<(String, Vec<String>)> {
    activities
        .iter()
        .map(|a| {
            let mut keys: Vec<String> = a["details"]
                .as_object()
                .map(|d| d.keys().cloned().collect())
                .unwrap_or_default();
            keys.sort();
            (a["type"].as_str().unwrap().to_string(), keys)
        })
        .collect()
}

async fn team_named(server: &TestServer, token: &str, name: &str) -> Option<Value> {
    let (_, body) = server.get("/api/v1/fleet/teams", token).await;
    body["teams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .cloned()
}

#[tokio::test]
async fn teams_and_enroll_secrets_follow_one_rule_through_the_api_and_the_console() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let token = server.setup().await;
        let session = browser_login(&server, "admin@example.com").await;
        let mut audit = Audit::new(&server, &token).await;

        // Create.
        let (status, _) = server
            .post("/api/v1/fleet/teams", &token, json!({"name": "By API"}))
            .await;
        assert_eq!(status, StatusCode::OK);
        let by_api = audit.fresh(&server, &token).await;
        let status = submit(
            &server,
            &session,
            "/teams",
            "/teams",
            &[("name", "By console")],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let by_console = audit.fresh(&server, &token).await;
        assert_eq!(shape(&by_api), shape(&by_console));
        assert_eq!(by_console[0]["details"]["team_name"], "By console");

        // Reserved names are refused by both, in any case.
        for name in ["All teams", "no TEAM"] {
            let (status, body) = server
                .post("/api/v1/fleet/teams", &token, json!({"name": name}))
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            let status = submit(&server, &session, "/teams", "/teams", &[("name", name)]).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
            assert!(team_named(&server, &token, name).await.is_none());
        }
        assert!(audit.fresh(&server, &token).await.is_empty());

        // Enroll secrets: the API replaces them, the console rotates them.
        let api_team = team_named(&server, &token, "By API").await.unwrap()["id"]
            .as_i64()
            .unwrap();
        let console_team = team_named(&server, &token, "By console").await.unwrap()["id"]
            .as_i64()
            .unwrap();
        let (status, _) = server
            .patch(
                &format!("/api/v1/fleet/teams/{api_team}/secrets"),
                &token,
                json!({"secrets": [{"secret": "by-api-secret-0001"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let by_api = audit.fresh(&server, &token).await;
        let status = submit(
            &server,
            &session,
            "/teams",
            &format!("/teams/{console_team}/secrets/rotate"),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let by_console = audit.fresh(&server, &token).await;
        assert_eq!(shape(&by_api), shape(&by_console));
        assert_eq!(
            by_api[0]["details"],
            json!({"team_id": api_team, "team_name": "By API"})
        );
        assert_eq!(
            by_console[0]["details"],
            json!({"team_id": console_team, "team_name": "By console"})
        );
        // The global secrets say so with nulls, the same keys.
        let (status, _) = server
            .post(
                "/api/v1/fleet/spec/enroll_secret",
                &token,
                json!({"spec": {"secrets": [{"secret": "global-secret-0001"}]}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let global = audit.fresh(&server, &token).await;
        assert_eq!(
            global[0]["details"],
            json!({"team_id": null, "team_name": null})
        );
        // A short secret is refused naming the rule.
        let (status, body) = server
            .patch(
                &format!("/api/v1/fleet/teams/{api_team}/secrets"),
                &token,
                json!({"secrets": [{"secret": "short"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.to_string().contains("8 characters"), "{body}");

        // Delete.
        let (status, _) = server
            .delete(&format!("/api/v1/fleet/teams/{api_team}"), &token)
            .await;
        assert_eq!(status, StatusCode::OK);
        let by_api = audit.fresh(&server, &token).await;
        let status = submit(
            &server,
            &session,
            "/teams",
            &format!("/teams/{console_team}/delete"),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let by_console = audit.fresh(&server, &token).await;
        assert_eq!(shape(&by_api), shape(&by_console));
        assert!(team_named(&server, &token, "By API").await.is_none());
        assert!(team_named(&server, &token, "By console").await.is_none());
        server.finish().await;
    }
}

#[tokio::test]
async fn labels_and_policies_follow_one_rule_through_the_api_and_the_console() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let token = server.setup().await;
        let session = browser_login(&server, "admin@example.com").await;
        let mut audit = Audit::new(&server, &token).await;

        // Labels: create, then delete.
        let (status, body) = server
            .post(
                "/api/v1/fleet/labels",
                &token,
                json!({"name": "API label", "platform": "darwin", "query": "SELECT 1;"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let api_label = body["label"]["id"].as_i64().unwrap();
        let by_api = audit.fresh(&server, &token).await;
        let status = submit(
            &server,
            &session,
            "/labels/new?type=dynamic",
            "/labels/new",
            &[
                ("type", "dynamic"),
                ("name", "Console label"),
                ("query", "SELECT 1;"),
                ("platform", "darwin"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let by_console = audit.fresh(&server, &token).await;
        assert_eq!(shape(&by_api), shape(&by_console));
        let (_, labels) = server.get("/api/v1/fleet/labels", &token).await;
        let console_label = labels["labels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == "Console label")
            .expect("the console's label")
            .clone();
        assert_eq!(console_label["platform"], "darwin");
        let console_label = console_label["id"].as_i64().unwrap();

        let (status, _) = server
            .delete(&format!("/api/v1/fleet/labels/id/{api_label}"), &token)
            .await;
        assert_eq!(status, StatusCode::OK);
        let by_api = audit.fresh(&server, &token).await;
        let status = submit(
            &server,
            &session,
            "/labels",
            &format!("/labels/{console_label}/delete"),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let by_console = audit.fresh(&server, &token).await;
        assert_eq!(shape(&by_api), shape(&by_console));
        assert_eq!(
            by_console[0]["details"],
            json!({"label_id": console_label, "label_name": "Console label"})
        );

        // Policies: create, then delete.
        let (status, body) = server
            .post(
                "/api/v1/fleet/global/policies",
                &token,
                json!({"name": "API policy", "query": "SELECT 1;", "platform": "darwin"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let api_policy = body["policy"]["id"].as_i64().unwrap();
        let by_api = audit.fresh(&server, &token).await;
        let status = submit(
            &server,
            &session,
            "/policies/new?team_id=all",
            "/policies/new?team_id=all",
            &[
                ("name", "Console policy"),
                ("query", "SELECT 1;"),
                ("platform", "darwin"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let by_console = audit.fresh(&server, &token).await;
        assert_eq!(shape(&by_api), shape(&by_console));
        let (_, policies) = server.get("/api/v1/fleet/global/policies", &token).await;
        let console_policy = policies["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Console policy")
            .expect("the console's policy")["id"]
            .as_i64()
            .unwrap();

        let (status, _) = server
            .post(
                "/api/v1/fleet/global/policies/delete",
                &token,
                json!({"ids": [api_policy]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let by_api = audit.fresh(&server, &token).await;
        let status = submit(
            &server,
            &session,
            "/policies?team_id=all",
            &format!("/policies/{console_policy}/delete?team_id=all"),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let by_console = audit.fresh(&server, &token).await;
        assert_eq!(shape(&by_api), shape(&by_console));
        assert_eq!(
            by_api[0]["details"],
            json!({"policy_id": api_policy, "policy_name": "API policy"})
        );
        server.finish().await;
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn gitops_keeps_the_apis_team_and_secret_rules_and_profile_ids() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let token = server.setup().await;
        let run = |team: Value| json!({"dry_run": false, "delete_other_teams": false, "global": null, "teams": [team]});
        let team = |name: &str, secrets: Option<Vec<&str>>| {
            json!({
                "name": name, "conditional_access_enabled": false, "secrets": secrets,
                "agent_options": null, "profiles": [], "policies": [], "packages": [], "queries": []
            })
        };
        for name in ["All teams", "no team"] {
            let (status, body) = server
                .post("/api/v1/fleet/gitops", &token, run(team(name, None)))
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
            assert!(body.to_string().contains("reserved"), "{body}");
        }
        let (status, body) = server
            .post(
                "/api/v1/fleet/gitops",
                &token,
                run(team("Short", Some(vec!["short"]))),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.to_string().contains("8 characters"), "{body}");
        let (status, body) = server
            .post(
                "/api/v1/fleet/gitops",
                &token,
                run(team(
                    "Twice",
                    Some(vec!["same-secret-01", "same-secret-01"]),
                )),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (_, teams) = server.get("/api/v1/fleet/teams", &token).await;
        assert_eq!(teams["teams"], json!([]), "nothing was created");

        // A profile gets Fleet's id shape ("a" and a UUID) through either door.
        let profile = |ident: &str| {
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><plist version=\"1.0\"><dict>\
                 <key>PayloadContent</key><array><dict><key>PayloadType</key><string>com.apple.dock</string>\
                 <key>PayloadIdentifier</key><string>{ident}.dock</string><key>PayloadUUID</key><string>{ident}-2</string>\
                 <key>PayloadVersion</key><integer>1</integer></dict></array><key>PayloadDisplayName</key><string>{ident}</string>\
                 <key>PayloadIdentifier</key><string>{ident}</string><key>PayloadType</key><string>Configuration</string>\
                 <key>PayloadUUID</key><string>{ident}-1</string><key>PayloadVersion</key><integer>1</integer></dict></plist>"
            )
        };
        let (api_team, _) = server.team(&token, "Profiles by API").await;
        let form = Form::new().text("team_id", api_team.to_string()).part(
            "profile",
            Part::bytes(profile("com.example.api").into_bytes()).file_name("api.mobileconfig"),
        );
        let uploaded = server
            .client
            .post(format!(
                "{}/api/latest/fleet/configuration_profiles",
                server.url
            ))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(uploaded.status(), StatusCode::OK);
        let mut by_gitops = team("Profiles by GitOps", None);
        by_gitops["profiles"] = json!([{
            "file_name": "gitops.mobileconfig",
            "content": base64_of(profile("com.example.gitops").as_bytes()),
            "labels": {"labels_include_all": [], "labels_include_any": [], "labels_exclude_any": []}
        }]);
        let (status, body) = server
            .post("/api/v1/fleet/gitops", &token, run(by_gitops))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, teams) = server.get("/api/v1/fleet/teams", &token).await;
        let mut ids = Vec::new();
        for t in teams["teams"].as_array().unwrap() {
            let (_, profiles) = server
                .get(
                    &format!("/api/v1/fleet/configuration_profiles?team_id={}", t["id"]),
                    &token,
                )
                .await;
            ids.push(
                profiles["profiles"][0]["profile_uuid"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        assert_eq!(ids.len(), 2);
        for id in &ids {
            assert!(
                id.starts_with('a') && id.len() == 37 && uuid::Uuid::parse_str(&id[1..]).is_ok(),
                "{id}"
            );
        }
        server.finish().await;
    }
}

/// An installer uploaded through Fleet's `POST /software/package`.
async fn api_upload(
    server: &TestServer,
    token: &str,
    team: i64,
    file: (&str, Vec<u8>),
) -> StatusCode {
    let form = Form::new()
        .part(
            "software",
            Part::bytes(file.1).file_name(file.0.to_string()),
        )
        .text("team_id", team.to_string());
    server
        .client
        .post(format!("{}/api/latest/fleet/software/package", server.url))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .status()
}

/// The console's upload forms are multipart, with the page's CSRF token.
async fn console_upload(
    server: &TestServer,
    session: &str,
    page: &str,
    field: &str,
    file: (&str, Vec<u8>),
) -> StatusCode {
    let http = no_redirects();
    let html = http
        .get(format!("{}{page}", server.url))
        .header(COOKIE, session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = Form::new().text("csrf", csrf_of(&html)).part(
        field.to_string(),
        Part::bytes(file.1).file_name(file.0.to_string()),
    );
    no_redirects()
        .post(format!("{}{page}", server.url))
        .header(COOKIE, session)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn hosts_and_software_follow_one_rule_through_the_api_and_the_console() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let token = server.setup().await;
        let session = browser_login(&server, "admin@example.com").await;
        let (team, secret) = server.team(&token, "Workstations").await;
        let mut audit = Audit::new(&server, &token).await;

        // Refetch: asked from either door, the host is asked again; no activity either way.
        enroll_mac(&server, &secret, "UUID-API", "mac-api").await;
        enroll_mac(&server, &secret, "UUID-CONSOLE", "mac-console").await;
        let by_api = server.store.host_by_identifier("UUID-API").await.unwrap();
        let by_console = server
            .store
            .host_by_identifier("UUID-CONSOLE")
            .await
            .unwrap();
        assert!(!by_api.refetch_requested && !by_console.refetch_requested);
        let (status, _) = server
            .post(
                &format!("/api/v1/fleet/hosts/{}/refetch", by_api.id.0),
                &token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let status = submit(
            &server,
            &session,
            &format!("/hosts/{}", by_console.id.0),
            &format!("/hosts/{}/refetch", by_console.id.0),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        for uuid in ["UUID-API", "UUID-CONSOLE"] {
            assert!(
                server
                    .store
                    .host_by_identifier(uuid)
                    .await
                    .unwrap()
                    .refetch_requested,
                "{uuid}"
            );
        }
        assert!(audit.fresh(&server, &token).await.is_empty());

        // Software: an upload through either door is read the same way and writes the same activity.
        let status = api_upload(
            &server,
            &token,
            team,
            ("CompanyPortal-Installer.pkg", company_portal_pkg()),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let by_api = audit.fresh(&server, &token).await;
        let status = console_upload(
            &server,
            &session,
            "/software?team_id=0",
            "software",
            ("Tool.pkg", flat_package("Tool", "com.example.tool", "1.0")),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let by_console = audit.fresh(&server, &token).await;
        assert_eq!(shape(&by_api), shape(&by_console));
        assert_eq!(by_api[0]["details"]["software_title"], "Company Portal");
        assert_eq!(by_console[0]["details"]["software_title"], "Tool");
        let (_, titles) = server
            .get("/api/v1/fleet/software/titles?team_id=0", &token)
            .await;
        assert_eq!(
            titles["software_titles"][0]["bundle_identifier"],
            "com.example.tool"
        );

        // A refused upload is refused by both, and nothing is written.
        let status = api_upload(
            &server,
            &token,
            team,
            ("broken.pkg", b"not a xar archive".to_vec()),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let status = console_upload(
            &server,
            &session,
            "/software?team_id=0",
            "software",
            ("broken.pkg", b"not a xar archive".to_vec()),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(audit.fresh(&server, &token).await.is_empty());
        server.finish().await;
    }
}

#[tokio::test]
async fn org_settings_and_the_tenant_connection_follow_one_rule_through_two_doors() {
    for database in databases().await {
        let tenants = "tenants:\n  - id: 6f1c3a52-0c1e-4b8e-9a61-3f0d2b7c9e10\n    groups: [\"Flotilla conditional access\"]\n    users: \"user{n}@contoso.com\"\n    user_count: 2\n";
        let emulator = common::microsoft::start_emulator(tenants, Default::default()).await;
        let server = TestServer::start_with(database, common::microsoft::settings(&emulator)).await;
        let token = server.setup().await;
        let session = browser_login(&server, "admin@example.com").await;

        // "No team"'s conditional access switch: through the API, then GitOps.
        let switch = |config: &Value| config["integrations"]["conditional_access_enabled"].clone();
        let (status, _) = server
            .patch(
                "/api/v1/fleet/config",
                &token,
                json!({"integrations": {"conditional_access_enabled": true}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            switch(&server.get("/api/v1/fleet/config", &token).await.1),
            true
        );
        let run = json!({"dry_run": false, "delete_other_teams": false, "teams": [], "global": {
            "org_settings": {"conditional_access_enabled": false, "server_settings": null, "org_info": null, "secrets": null},
            "agent_options": null, "labels": null, "policies": [], "queries": []
        }});
        let (status, body) = server.post("/api/v1/fleet/gitops", &token, run).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            switch(&server.get("/api/v1/fleet/config", &token).await.1),
            false
        );
        // Both doors refuse a switch that isn't a boolean.
        let (status, _) = server
            .patch(
                "/api/v1/fleet/config",
                &token,
                json!({"integrations": {"conditional_access_enabled": "yes"}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        // Connecting a tenant: the API answers the consent URL, the console redirects to it.
        let tenant = "6f1c3a52-0c1e-4b8e-9a61-3f0d2b7c9e10";
        let (status, body) = server
            .post(
                "/api/latest/fleet/conditional-access/microsoft",
                &token,
                json!({"microsoft_tenant_id": tenant}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let by_api = body["microsoft_authentication_url"]
            .as_str()
            .unwrap()
            .to_string();
        let page = "/settings/integrations/conditional-access";
        let html = page_html(&server, &session, page).await;
        let answer = no_redirects()
            .post(format!("{}{page}", server.url))
            .header(COOKIE, &session)
            .form(&[("csrf", csrf_of(&html).as_str()), ("tenant_id", tenant)])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        let by_console = answer.headers()["location"].to_str().unwrap().to_string();
        let without_state = |url: &str| {
            let url = reqwest::Url::parse(url).unwrap();
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "state")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            (url.path().to_string(), pairs)
        };
        assert_eq!(without_state(&by_api), without_state(&by_console));
        assert!(by_console.contains(tenant));
        // Both refuse a tenant id that isn't a GUID.
        let (status, _) = server
            .post(
                "/api/latest/fleet/conditional-access/microsoft",
                &token,
                json!({"microsoft_tenant_id": "contoso.onmicrosoft.com"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let answer = no_redirects()
            .post(format!("{}{page}", server.url))
            .header(COOKIE, &session)
            .form(&[
                ("csrf", csrf_of(&html).as_str()),
                ("tenant_id", "contoso.onmicrosoft.com"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY);
        server.finish().await;
    }
}
