//! The admin REST API over HTTP: setup, sessions, roles, and Fleet's objects.

mod common;

use common::{databases, enroll_mac, TestServer, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn setup_login_logout_and_me() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let (status, _) = server
            .request(Method::GET, "/api/v1/fleet/me", None, None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body) = server
            .request(Method::POST, "/api/v1/setup", None, Some(json!({"admin": {"email": "bad", "password": "short", "name": ""}, "org_info": {"org_name": "X"}, "server_url": "http://x.example"})))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let names: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["name", "email", "password"]);

        let admin = server.setup().await;
        let (status, me) = server.get("/api/v1/fleet/me", &admin).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["user"]["global_role"], "admin");
        let (status, body) = server
            .request(Method::POST, "/api/v1/setup", None, Some(json!({"admin": {"email": "b@example.com", "password": PASSWORD, "name": "B"}, "org_info": {"org_name": "Y"}, "server_url": "http://y.example"})))
            .await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "second setup must be refused: {body}"
        );

        let login = |password: &'static str| {
            server.request(
                Method::POST,
                "/api/latest/fleet/login",
                None,
                Some(json!({"email": "admin@example.com", "password": password})),
            )
        };
        let (status, failed) = login("Wrong-horse-1!").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, nobody) = server
            .request(
                Method::POST,
                "/api/v1/fleet/login",
                None,
                Some(json!({"email": "nobody@example.com", "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            failed, nobody,
            "a failed login must not tell which part was wrong"
        );
        let (status, session) = login(PASSWORD).await;
        assert_eq!(status, StatusCode::OK);
        let token = session["token"].as_str().unwrap();
        assert_eq!(session["user"]["email"], "admin@example.com");
        assert_eq!(
            server
                .post("/api/v1/fleet/logout", token, json!({}))
                .await
                .0,
            StatusCode::OK
        );
        assert_eq!(
            server.get("/api/v1/fleet/me", token).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            server.get("/api/v1/fleet/me", &admin).await.0,
            StatusCode::OK
        );
        server.finish().await;
    }
}

#[tokio::test]
async fn roles_are_enforced_per_team() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let admin = server.setup().await;
        let (team_a, secret_a) = server.team(&admin, "A").await;
        let (team_b, secret_b) = server.team(&admin, "B").await;
        enroll_mac(&server, &secret_a, "UUID-A", "mac-a").await;
        enroll_mac(&server, &secret_b, "UUID-B", "mac-b").await;
        let observer = server
            .user(
                &admin,
                "observer@example.com",
                json!({"teams": [{"id": team_a, "role": "observer"}]}),
            )
            .await;
        let maintainer = server
            .user(
                &admin,
                "maintainer@example.com",
                json!({"teams": [{"id": team_a, "role": "maintainer"}]}),
            )
            .await;

        let (_, hosts) = server.get("/api/v1/fleet/hosts", &observer).await;
        let names: Vec<&str> = hosts["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["hostname"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["mac-a"], "an observer of A sees only A's hosts");
        let host_b = server
            .store
            .host_by_identifier("UUID-B")
            .await
            .unwrap()
            .id
            .0;
        assert_eq!(
            server
                .get(&format!("/api/v1/fleet/hosts/{host_b}"), &observer)
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            server
                .get(&format!("/api/v1/fleet/hosts?team_id={team_b}"), &observer)
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            server
                .get(&format!("/api/v1/fleet/teams/{team_b}/policies"), &observer)
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        let policy = json!({"name": "Firewall", "query": "SELECT 1;", "platform": "darwin"});
        assert_eq!(
            server
                .post(
                    &format!("/api/v1/fleet/teams/{team_a}/policies"),
                    &observer,
                    policy.clone()
                )
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            server
                .post(
                    &format!("/api/v1/fleet/teams/{team_a}/policies"),
                    &maintainer,
                    policy.clone()
                )
                .await
                .0,
            StatusCode::OK
        );
        assert_eq!(
            server
                .post(
                    &format!("/api/v1/fleet/teams/{team_b}/policies"),
                    &maintainer,
                    policy.clone()
                )
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            server
                .post("/api/v1/fleet/global/policies", &maintainer, policy)
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            server
                .post("/api/v1/fleet/teams", &maintainer, json!({"name": "C"}))
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            server
                .patch(
                    "/api/v1/fleet/config",
                    &maintainer,
                    json!({"org_info": {"org_name": "Z"}})
                )
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            server.get("/api/v1/fleet/users", &observer).await.0,
            StatusCode::FORBIDDEN
        );
        let (_, teams) = server.get("/api/v1/fleet/teams", &observer).await;
        assert_eq!(teams["teams"].as_array().unwrap().len(), 1);
        assert!(
            teams["teams"][0]["secrets"].as_array().unwrap().is_empty(),
            "observers don't see enroll secrets"
        );
        server.finish().await;
    }
}

#[tokio::test]
async fn users_are_managed_by_global_admins() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let admin = server.setup().await;
        let (status, body) = server
            .post("/api/v1/fleet/users/admin", &admin, json!({"email": "x@example.com", "name": "X", "password": PASSWORD, "global_role": "superuser"}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["errors"][0]["name"], "global_role");
        server
            .user(
                &admin,
                "obs@example.com",
                json!({"global_role": "observer"}),
            )
            .await;
        let (status, _) = server
            .post("/api/v1/fleet/users/admin", &admin, json!({"email": "obs@example.com", "name": "Again", "password": PASSWORD, "global_role": "observer"}))
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (_, users) = server.get("/api/v1/fleet/users", &admin).await;
        let users = users["users"].as_array().unwrap().clone();
        assert_eq!(users.len(), 2);
        let observer_id = users
            .iter()
            .find(|u| u["email"] == "obs@example.com")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let (status, changed) = server
            .patch(
                &format!("/api/v1/fleet/users/{observer_id}"),
                &admin,
                json!({"global_role": "maintainer"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(changed["user"]["global_role"], "maintainer");
        let admin_id = users
            .iter()
            .find(|u| u["email"] == "admin@example.com")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        assert_eq!(
            server
                .delete(&format!("/api/v1/fleet/users/{admin_id}"), &admin)
                .await
                .0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            server
                .delete(&format!("/api/v1/fleet/users/{observer_id}"), &admin)
                .await
                .0,
            StatusCode::OK
        );
        assert_eq!(
            server
                .get(&format!("/api/v1/fleet/users/{observer_id}"), &admin)
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        let (_, activities) = server.get("/api/v1/fleet/activities", &admin).await;
        assert_eq!(activities["activities"][0]["type"], "deleted_user");
        server.finish().await;
    }
}

#[tokio::test]
async fn teams_and_enroll_secrets() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let admin = server.setup().await;
        let (team, secret) = server.team(&admin, "Design").await;
        assert!(secret.len() >= 24);
        assert_eq!(
            server
                .post("/api/v1/fleet/teams", &admin, json!({"name": "Design"}))
                .await
                .0,
            StatusCode::CONFLICT
        );
        assert_eq!(
            server
                .post("/api/v1/fleet/teams", &admin, json!({"name": " "}))
                .await
                .0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let (status, renamed) = server
            .patch(
                &format!("/api/latest/fleet/teams/{team}"),
                &admin,
                json!({"name": "Product design"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(renamed["team"]["name"], "Product design");
        let (status, body) = server
            .patch(
                &format!("/api/latest/fleet/teams/{team}"),
                &admin,
                json!({"nmae": "typo"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["errors"][0]["name"], "nmae");

        let (status, secrets) = server
            .patch(
                &format!("/api/v1/fleet/teams/{team}/secrets"),
                &admin,
                json!({"secrets": [{"secret": "rotated-secret-1"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(secrets["secrets"][0]["secret"], "rotated-secret-1");
        let (status, _) = server
            .agent(
                "/api/osquery/enroll",
                json!({"enroll_secret": secret, "host_identifier": "X"}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "a rotated-out secret no longer enrolls"
        );
        enroll_mac(&server, "rotated-secret-1", "UUID-1", "mac-1").await;

        assert_eq!(
            server
                .post(
                    "/api/v1/fleet/spec/enroll_secret",
                    &admin,
                    json!({"spec": {"secrets": [{"secret": "global-secret-1"}]}})
                )
                .await
                .0,
            StatusCode::OK
        );
        let (_, global) = server.get("/api/v1/fleet/spec/enroll_secret", &admin).await;
        assert_eq!(global["spec"]["secrets"][0]["secret"], "global-secret-1");
        enroll_mac(&server, "global-secret-1", "UUID-2", "mac-2").await;
        let (_, no_team) = server.get("/api/v1/fleet/hosts?team_id=0", &admin).await;
        assert_eq!(
            no_team["hosts"][0]["hostname"], "mac-2",
            "a global secret enrolls into No team"
        );

        assert_eq!(
            server
                .delete(&format!("/api/v1/fleet/teams/{team}"), &admin)
                .await
                .0,
            StatusCode::OK
        );
        let (_, count) = server
            .get("/api/v1/fleet/hosts/count?team_id=0", &admin)
            .await;
        assert_eq!(count["count"], 2, "a deleted team's hosts move to No team");
        server.finish().await;
    }
}

#[tokio::test]
async fn policies_follow_fleets_rules() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let admin = server.setup().await;
        let (team, _) = server.team(&admin, "Design").await;
        let path = format!("/api/v1/fleet/teams/{team}/policies");
        let (status, created) = server
            .post(&path, &admin, json!({"name": "Disk encryption", "query": "SELECT 1;", "platform": "darwin", "resolution": "Turn on FileVault", "critical": true, "conditional_access_enabled": true}))
            .await;
        assert_eq!(status, StatusCode::OK, "{created}");
        let policy = &created["policy"];
        assert_eq!(policy["team_id"], team);
        assert_eq!(policy["critical"], true);
        assert_eq!(policy["conditional_access_enabled"], true);
        assert_eq!(policy["author_email"], "admin@example.com");

        let (status, _) = server
            .post(
                &path,
                &admin,
                json!({"name": "Disk encryption", "query": "SELECT 2;"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "names are unique per team");
        let (status, _) = server
            .post(
                "/api/v1/fleet/global/policies",
                &admin,
                json!({"name": "Disk encryption", "query": "SELECT 2;"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "the same name may be used globally");
        let (status, body) = server
            .post(&path, &admin, json!({"name": "Linux CA", "query": "SELECT 1;", "platform": "linux", "conditional_access_enabled": true}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["errors"][0]["name"], "conditional_access_enabled");
        let (status, body) = server
            .post(
                &path,
                &admin,
                json!({"name": "Bad", "query": "SELECT 1;", "platform": "beos"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["errors"][0]["name"], "platform");
        let (_, list) = server.get(&path, &admin).await;
        assert_eq!(
            list["policies"].as_array().unwrap().len(),
            1,
            "invalid input changes nothing"
        );

        let id = policy["id"].as_i64().unwrap();
        let (status, edited) = server
            .patch(
                &format!("{path}/{id}"),
                &admin,
                json!({"resolution": "System Settings > FileVault"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            edited["policy"]["resolution"],
            "System Settings > FileVault"
        );
        assert_eq!(edited["policy"]["query"], "SELECT 1;");
        let (status, _) = server
            .patch(
                &format!("/api/v1/fleet/global/policies/{id}"),
                &admin,
                json!({"name": "x"}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "a team policy is not reachable as a global one"
        );

        let (status, _) = server
            .post(
                "/api/v1/fleet/teams/0/policies",
                &admin,
                json!({"name": "No-team policy", "query": "SELECT 1;"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "team 0 is No team");
        let (status, deleted) = server
            .post(&format!("{path}/delete"), &admin, json!({"ids": [id]}))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(deleted["deleted"], 1);
        assert_eq!(
            server.get(&format!("{path}/{id}"), &admin).await.0,
            StatusCode::NOT_FOUND
        );
        server.finish().await;
    }
}

#[tokio::test]
async fn labels_config_and_errors() {
    for database in databases().await {
        let server = TestServer::start(database).await;
        let admin = server.setup().await;
        let (_, labels) = server.get("/api/v1/fleet/labels", &admin).await;
        let builtin: Vec<&str> = labels["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        assert!(builtin.contains(&"All Hosts") && builtin.contains(&"macOS"));
        assert_eq!(
            server
                .delete("/api/v1/fleet/labels/All%20Hosts", &admin)
                .await
                .0,
            StatusCode::UNPROCESSABLE_ENTITY
        );

        let (_, secret) = server.team(&admin, "T").await;
        enroll_mac(&server, &secret, "UUID-1", "mac-1").await;
        enroll_mac(&server, &secret, "UUID-2", "mac-2").await;
        let (status, manual) = server
            .post(
                "/api/v1/fleet/labels",
                &admin,
                json!({"name": "Pilot", "hosts": ["mac-2"]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{manual}");
        assert_eq!(manual["label"]["label_membership_type"], "manual");
        let id = manual["label"]["id"].as_i64().unwrap();
        let (_, members) = server
            .get(&format!("/api/v1/fleet/labels/{id}/hosts"), &admin)
            .await;
        assert_eq!(members["hosts"][0]["hostname"], "mac-2");
        assert_eq!(members["hosts"].as_array().unwrap().len(), 1);
        let (status, body) = server
            .post(
                "/api/v1/fleet/labels",
                &admin,
                json!({"name": "Ghosts", "hosts": ["no-such-host"]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no-such-host"));
        let (status, _) = server
            .post(
                "/api/v1/fleet/labels",
                &admin,
                json!({"name": "Pilot", "query": "SELECT 1;"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, body) = server
            .post("/api/v1/fleet/labels", &admin, json!({"name": "No query"}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["errors"][0]["name"], "query");
        assert_eq!(
            server.delete("/api/v1/fleet/labels/Pilot", &admin).await.0,
            StatusCode::OK
        );

        let (status, body) = server
            .patch(
                "/api/v1/fleet/config",
                &admin,
                json!({"org_info": {"org_name": "Renamed"}, "sever_settings": {}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["errors"][0]["name"], "sever_settings");
        let (_, config) = server.get("/api/v1/fleet/config", &admin).await;
        assert_eq!(
            config["org_info"]["org_name"], "Example",
            "a rejected patch changes nothing"
        );
        let (status, config) = server
            .patch(
                "/api/v1/fleet/config",
                &admin,
                json!({"org_info": {"org_name": "Renamed"}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(config["org_info"]["org_name"], "Renamed");
        assert_eq!(config["server_settings"]["server_url"], server.url.as_str());

        let (status, body) = server
            .request(Method::POST, "/api/v1/fleet/teams", Some(&admin), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["message"].is_string() && body["errors"].is_array());
        assert_eq!(
            server.get("/api/v1/fleet/hosts/abc", &admin).await.0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            server.get("/api/v1/fleet/hosts/999999", &admin).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            server
                .get("/api/v1/fleet/hosts?policy_response=failing", &admin)
                .await
                .0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        server.finish().await;
    }
}
