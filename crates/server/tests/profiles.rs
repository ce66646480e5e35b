//! Configuration profiles over HTTP: multipart upload like Fleet's, .mobileconfig
//! validation, label targeting, download and deletion.

mod common;

use common::{databases, TestServer};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

const SEED_PROFILE: &str = include_str!(
    "data/seed-gitops/lib/team-name/profiles/company-portal-single-signon-extension.mobileconfig"
);

async fn upload(server: &TestServer, token: &str, form: Form) -> (StatusCode, Value) {
    server
        .multipart("/api/latest/fleet/configuration_profiles", token, form)
        .await
}

fn profile_form(content: &str, team: i64, labels: &[(&str, &str)]) -> Form {
    let mut form = Form::new()
        .part(
            "profile",
            Part::bytes(content.as_bytes().to_vec()).file_name("profile.mobileconfig"),
        )
        .text("team_id", team.to_string());
    for (field, label) in labels {
        form = form.text(field.to_string(), label.to_string());
    }
    form
}

#[tokio::test]
async fn profiles_are_validated_targeted_and_kept() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let admin = server.setup().await;
        let (team, _) = server.team(&admin, "Team name").await;
        server
            .post("/api/v1/fleet/labels", &admin, json!({"name": "Company Portal installed", "platform": "darwin", "query": "SELECT 1 FROM apps WHERE bundle_identifier = 'com.microsoft.CompanyPortalMac'"}))
            .await;

        let (status, body) = upload(
            &server,
            &admin,
            profile_form(
                SEED_PROFILE,
                team,
                &[("labels_include_all", "No such label")],
            ),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("No such label"));
        let (status, body) = upload(
            &server,
            &admin,
            profile_form("<plist><string>x</string></plist>", team, &[]),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let mdm = SEED_PROFILE.replace(
            "<string>com.apple.extensiblesso</string>",
            "<string>com.apple.mdm</string>",
        );
        let (status, body) = upload(&server, &admin, profile_form(&mdm, team, &[])).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("com.apple.mdm"));

        let (status, created) = upload(
            &server,
            &admin,
            profile_form(
                SEED_PROFILE,
                team,
                &[("labels_include_all", "Company Portal installed")],
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{created}");
        let uuid = created["profile_uuid"].as_str().unwrap().to_string();
        let (status, _) = upload(&server, &admin, profile_form(SEED_PROFILE, team, &[])).await;
        assert_eq!(status, StatusCode::CONFLICT, "one identifier per team");
        let (status, _) = upload(&server, &admin, profile_form(SEED_PROFILE, 0, &[])).await;
        assert_eq!(status, StatusCode::OK, "the same profile may go to No team");

        let (_, listed) = server
            .get(
                &format!("/api/latest/fleet/configuration_profiles?team_id={team}"),
                &admin,
            )
            .await;
        let profiles = listed["profiles"].as_array().unwrap();
        assert_eq!(profiles.len(), 1);
        assert_eq!(
            profiles[0]["labels_include_all"][0]["name"],
            "Company Portal installed"
        );
        assert_eq!(profiles[0]["platform"], "darwin");
        let downloaded = server
            .client
            .get(format!(
                "{}/api/latest/fleet/configuration_profiles/{uuid}?alt=media",
                server.url
            ))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(downloaded, SEED_PROFILE);

        let (status, body) = server
            .delete("/api/v1/fleet/labels/Company%20Portal%20installed", &admin)
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a label targeting a profile stays: {body}"
        );
        assert_eq!(
            server
                .delete(
                    &format!("/api/latest/fleet/configuration_profiles/{uuid}"),
                    &admin
                )
                .await
                .0,
            StatusCode::OK
        );
        assert_eq!(
            server
                .delete("/api/v1/fleet/labels/Company%20Portal%20installed", &admin)
                .await
                .0,
            StatusCode::OK
        );
        server.finish().await;
    }
}
