//! Software packages over HTTP: multipart upload like Fleet's, metadata read
//! from the .pkg, per-team titles, removal.

mod common;

use common::{company_portal_pkg, databases, TestServer};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::Value;

async fn upload(
    server: &TestServer,
    token: &str,
    file: (&str, Vec<u8>),
    team: i64,
) -> (StatusCode, Value) {
    let form = Form::new()
        .part(
            "software",
            Part::bytes(file.1).file_name(file.0.to_string()),
        )
        .text("team_id", team.to_string())
        .text(
            "install_script",
            "installer -pkg \"$INSTALLER_PATH\" -target /",
        )
        .text("self_service", "true");
    let response = server
        .client
        .post(format!("{}/api/latest/fleet/software/package", server.url))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn packages_are_read_kept_and_listed_per_team() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let admin = server.setup().await;
        let (team, _) = server.team(&admin, "Team name").await;
        let pkg = company_portal_pkg();

        let (status, body) = upload(
            &server,
            &admin,
            ("broken.pkg", b"not an archive".to_vec()),
            team,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["errors"][0]["name"], "software");
        let (status, body) = upload(
            &server,
            &admin,
            ("CompanyPortal-Installer.pkg", pkg.clone()),
            team,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _) = upload(
            &server,
            &admin,
            ("CompanyPortal-Installer.pkg", pkg.clone()),
            team,
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "one title per team");

        let (_, titles) = server
            .get(
                &format!("/api/latest/fleet/software/titles?team_id={team}"),
                &admin,
            )
            .await;
        let titles = titles["software_titles"].as_array().unwrap().clone();
        assert_eq!(titles.len(), 1);
        assert_eq!(titles[0]["name"], "Company Portal");
        assert_eq!(
            titles[0]["bundle_identifier"],
            "com.microsoft.CompanyPortalMac"
        );
        let package = &titles[0]["software_package"];
        assert_eq!(package["version"], "5.2504.0");
        assert_eq!(package["self_service"], true);
        let expected_hash: String = {
            use sha2::Digest;
            sha2::Sha256::digest(&pkg)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        assert_eq!(package["hash_sha256"], expected_hash.as_str());
        let (_, no_team) = server
            .get("/api/latest/fleet/software/titles", &admin)
            .await;
        assert!(no_team["software_titles"].as_array().unwrap().is_empty());

        let id = titles[0]["id"].as_i64().unwrap();
        // A failing policy installs the team's package.
        let policies = format!("/api/v1/fleet/teams/{team}/policies");
        let install = serde_json::json!({"name": "[Install software] Company Portal (pkg)", "query": "SELECT 1 FROM apps WHERE bundle_identifier = 'com.microsoft.CompanyPortalMac';", "platform": "darwin", "software_title_id": id});
        let (status, body) = server
            .post("/api/v1/fleet/global/policies", &admin, install.clone())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["errors"][0]["name"], "software_title_id");
        let (status, policy) = server.post(&policies, &admin, install).await;
        assert_eq!(status, StatusCode::OK, "{policy}");
        assert_eq!(
            policy["policy"]["install_software"]["software_title_id"],
            id
        );
        assert_eq!(
            policy["policy"]["install_software"]["name"],
            "Company Portal"
        );
        let policy_id = policy["policy"]["id"].as_i64().unwrap();
        assert_eq!(
            server
                .delete(
                    &format!("/api/latest/fleet/software/titles/{id}/available_for_install"),
                    &admin
                )
                .await
                .0,
            StatusCode::CONFLICT,
            "a package a policy installs stays"
        );
        let (_, unlinked) = server
            .patch(
                &format!("{policies}/{policy_id}"),
                &admin,
                serde_json::json!({"software_title_id": null}),
            )
            .await;
        assert!(unlinked["policy"]["install_software"].is_null());
        let observer = server
            .user(
                &admin,
                "observer@example.com",
                serde_json::json!({"teams": [{"id": team, "role": "observer"}]}),
            )
            .await;
        assert_eq!(
            server
                .delete(
                    &format!("/api/latest/fleet/software/titles/{id}/available_for_install"),
                    &observer
                )
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            server
                .delete(
                    &format!("/api/latest/fleet/software/titles/{id}/available_for_install"),
                    &admin
                )
                .await
                .0,
            StatusCode::OK
        );
        let (_, titles) = server
            .get(
                &format!("/api/latest/fleet/software/titles?team_id={team}"),
                &admin,
            )
            .await;
        assert!(titles["software_titles"].as_array().unwrap().is_empty());
        server.finish().await;
    }
}
