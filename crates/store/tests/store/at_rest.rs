//! Secrets at rest: agent keys, device tokens and enroll secrets never sit
//! in the database in clear, and values an earlier version kept in clear are
//! moved to that form when the store opens.

use crate::backends::{postgres_url, server_key, unique_name};
use crate::fixtures::{host, team};
use flotilla_store::{create_postgres_database, drop_postgres_database, AgentKind, Store};
use sqlx::Row;

/// Every text value in the columns that hold agent keys, tokens and secrets.
async fn stored_values(url: &str) -> Vec<String> {
    let pool = sqlx::AnyPool::connect(url).await.expect("connect");
    let mut values = Vec::new();
    for sql in [
        "SELECT COALESCE(node_key, '') AS a, COALESCE(orbit_node_key, '') AS b, \
         COALESCE(node_key_digest, '') AS c, COALESCE(orbit_node_key_digest, '') AS d FROM hosts",
        "SELECT token AS a, COALESCE(previous_token, '') AS b, '' AS c, '' AS d FROM device_tokens",
        "SELECT digest AS a, COALESCE(previous_digest, '') AS b, '' AS c, '' AS d FROM host_device_tokens",
        "SELECT digest AS a, COALESCE(sealed, '') AS b, '' AS c, '' AS d FROM enroll_secrets",
    ] {
        for row in sqlx::query(sql).fetch_all(&pool).await.expect(sql) {
            for column in ["a", "b", "c", "d"] {
                values.push(row.try_get::<String, _>(column).expect("text"));
            }
        }
    }
    pool.close().await;
    values
}

/// What an earlier version wrote: keys, a device token and a secret in clear.
async fn write_in_clear(url: &str) {
    let pool = sqlx::AnyPool::connect(url).await.expect("connect");
    for sql in [
        "INSERT INTO hosts (uuid, node_key, orbit_node_key, platform, seen_at, last_enrolled_at, created_at, updated_at) \
         VALUES ('OLD-UUID', 'old-node-key', 'old-orbit-key', 'darwin', 1, 1, 1, 1)",
        "INSERT INTO device_tokens (token, host_id, refreshed_at) \
         SELECT 'old-device-token', id, 1900000000 FROM hosts WHERE uuid = 'OLD-UUID'",
        "INSERT INTO enroll_secrets (digest, team_id, created_at) VALUES ('old-enroll-secret', NULL, 1)",
    ] {
        sqlx::query(sql).execute(&pool).await.expect(sql);
    }
    pool.close().await;
}

async fn case(url: &str) {
    let store = Store::open(url, server_key()).await.expect("open");
    let design = team(&store, "Design").await;
    host(&store, "NEW-UUID", Some(design)).await;
    store.close().await;
    write_in_clear(url).await;

    let store = Store::open(url, server_key()).await.expect("reopen");
    let old = store
        .agent_host(AgentKind::Osquery, "old-node-key")
        .await
        .unwrap()
        .expect("the old node key still works");
    assert!(store
        .agent_host(AgentKind::Orbit, "old-orbit-key")
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store
            .host_by_device_token("old-device-token", 0, 0)
            .await
            .unwrap()
            .map(|h| h.id),
        Some(old.id)
    );
    assert_eq!(
        store.team_for_secret("old-enroll-secret").await.unwrap(),
        None
    );
    let secrets: Vec<String> = store
        .enroll_secrets(None)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.secret)
        .collect();
    assert_eq!(secrets, ["old-enroll-secret"]);
    assert!(store
        .agent_host(AgentKind::Osquery, "node-NEW-UUID")
        .await
        .unwrap()
        .is_some());
    store
        .set_device_token(old.id, "new-device-token")
        .await
        .unwrap();
    store.close().await;

    let leaked: Vec<String> = stored_values(url)
        .await
        .into_iter()
        // The clear values all start "old-" or end "-UUID"/"-0001".
        .filter(|v| v.starts_with("old-") || v.contains("-UUID") || v.contains("secret-0"))
        .collect();
    assert!(leaked.is_empty(), "kept in clear: {leaked:?}");

    // Another key can't read the sealed secrets: the store says so instead of showing garbage.
    let wrong =
        flotilla_store::ServerKey::from_secret("not the key these secrets were sealed with")
            .unwrap();
    let store = Store::open(url, wrong)
        .await
        .expect("open with another key");
    assert!(store.enroll_secrets(None).await.is_err());
    store.close().await;
}

#[tokio::test]
async fn secrets_are_kept_as_digests_and_sealed_values_only() {
    let dir = std::env::temp_dir().join(unique_name("flotilla_at_rest"));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    sqlx::any::install_default_drivers();
    case(&format!(
        "sqlite://{}?mode=rwc",
        dir.join("flotilla.db").display()
    ))
    .await;
    let _ = std::fs::remove_dir_all(dir);
    if let Some(admin) = postgres_url() {
        let name = unique_name("flotilla_at_rest");
        let url = create_postgres_database(&admin, &name)
            .await
            .expect("create");
        case(&url).await;
        drop_postgres_database(&admin, &name).await.expect("drop");
    }
}
