//! The console over plain HTTP: sessions in HttpOnly cookies, CSRF on every
//! form, redirects to login, and roles (an observer sees no edit controls and
//! the server refuses the edit anyway).

mod common;

use common::console::{browser_login, csrf_of, no_redirects};
use common::{databases, TestServer, PASSWORD};
use reqwest::header::{COOKIE, LOCATION};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn sessions_csrf_and_roles() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let admin = server.setup().await;
        let http = no_redirects();

        // Without a session every console page sends the browser to log in.
        let response = http
            .get(format!("{}/policies?team_id=all", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            response.headers()[LOCATION],
            "/login?next=/policies%3Fteam_id%3Dall"
        );

        // A login form without its token is refused.
        let response = http
            .post(format!("{}/login", server.url))
            .form(&[("email", "admin@example.com"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);

        let session = browser_login(&server, "admin@example.com").await;
        let page = http
            .get(format!("{}/policies", server.url))
            .header(COOKIE, &session)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("Add policy"));
        let csrf = csrf_of(&page);

        // A form without the session's CSRF token changes nothing.
        let response = http
            .post(format!("{}/policies/new?team_id=all", server.url))
            .header(COOKIE, &session)
            .form(&[("csrf", "forged"), ("name", "P"), ("query", "SELECT 1;")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let response = http
            .post(format!("{}/policies/new?team_id=all", server.url))
            .header(COOKIE, &session)
            .form(&[
                ("csrf", csrf.as_str()),
                ("name", "Disk encrypted"),
                ("query", "SELECT 1;"),
                ("platform", "darwin"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let (_, policies) = server.get("/api/v1/fleet/global/policies", &admin).await;
        assert_eq!(policies["policies"][0]["name"], "Disk encrypted");

        // A duplicate team name is shown next to the field, and nothing changes.
        for expected in [StatusCode::SEE_OTHER, StatusCode::UNPROCESSABLE_ENTITY] {
            let response = http
                .post(format!("{}/teams", server.url))
                .header(COOKIE, &session)
                .form(&[("csrf", csrf.as_str()), ("name", "Workstations")])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), expected);
            if expected == StatusCode::UNPROCESSABLE_ENTITY {
                let page = response.text().await.unwrap();
                assert!(
                    page.contains("id=\"name-error\"") && page.contains("already exists"),
                    "{page}"
                );
            }
        }
        let (_, teams) = server.get("/api/v1/fleet/teams", &admin).await;
        assert_eq!(teams["teams"].as_array().unwrap().len(), 1);

        // A refused upload is explained next to the file field.
        let form = reqwest::multipart::Form::new()
            .text("csrf", csrf.clone())
            .part(
                "profile",
                reqwest::multipart::Part::bytes(b"not a plist".to_vec())
                    .file_name("bad.mobileconfig"),
            );
        let response = http
            .post(format!("{}/controls?team_id=0", server.url))
            .header(COOKIE, &session)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = response.text().await.unwrap();
        assert!(
            page.contains("id=\"profile-error\"") && page.contains("property list"),
            "{page}"
        );

        // An observer sees no edit controls, and a forged edit is refused.
        server
            .user(
                &admin,
                "olive@example.com",
                json!({"global_role": "observer"}),
            )
            .await;
        let observer = browser_login(&server, "olive@example.com").await;
        let page = http
            .get(format!("{}/policies", server.url))
            .header(COOKIE, &observer)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("Disk encrypted"));
        assert!(
            !page.contains("Add policy") && !page.contains(">Delete<"),
            "{page}"
        );
        let csrf = csrf_of(&page);
        let response = http
            .post(format!("{}/policies/new?team_id=all", server.url))
            .header(COOKIE, &observer)
            .form(&[
                ("csrf", csrf.as_str()),
                ("name", "Sneaky"),
                ("query", "SELECT 1;"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let (_, policies) = server.get("/api/v1/fleet/global/policies", &admin).await;
        assert_eq!(policies["policies"].as_array().unwrap().len(), 1);

        // Logging out ends the session.
        let response = http
            .post(format!("{}/logout", server.url))
            .header(COOKIE, &observer)
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let response = http
            .get(format!("{}/policies", server.url))
            .header(COOKIE, &observer)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);

        server.finish().await;
    }
}
