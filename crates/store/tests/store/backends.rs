//! Runs one case on every backend this machine offers.

use flotilla_store::{create_postgres_database, drop_postgres_database, Store};
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

const POSTGRES_URL: &str = "FLOTILLA_TEST_DATABASE_URL";

/// The PostgreSQL server to test on; under CI its absence is a failure, not a skip.
pub fn postgres_url() -> Option<String> {
    match std::env::var(POSTGRES_URL) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but {POSTGRES_URL} is not: the PostgreSQL store tests would not run")
        }
        _ => None,
    }
}

/// A name no other case of this run (or another process) uses.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The key test stores seal their secrets with.
pub fn server_key() -> flotilla_store::ServerKey {
    flotilla_store::ServerKey::from_secret("the Flotilla store tests' sealing key")
        .expect("test key")
}

pub async fn sqlite_store() -> (Store, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(unique_name("flotilla_store"));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let store = Store::open_sqlite(&dir.join("flotilla.db"), server_key())
        .await
        .expect("open sqlite");
    (store, dir)
}

/// Runs `case` on a fresh SQLite database, then on a fresh PostgreSQL one.
pub async fn each_backend<F, Fut>(case: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let (store, dir) = sqlite_store().await;
    case(store.clone()).await;
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
    if let Some(admin) = postgres_url() {
        let name = unique_name("flotilla_store");
        let url = create_postgres_database(&admin, &name)
            .await
            .expect("create database");
        let store = Store::open(&url, server_key())
            .await
            .expect("open postgres");
        case(store.clone()).await;
        store.close().await;
        drop_postgres_database(&admin, &name)
            .await
            .expect("drop database");
    }
}
