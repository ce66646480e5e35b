//! Flotilla's storage: one interface, [`Store`], with SQLite (embedded, the
//! default) and PostgreSQL (several server replicas) behind it.
//!
//! The SQL is written once in a dialect both backends accept (numbered `$N`
//! parameters, `ON CONFLICT`, `RETURNING`, integers for flags and Unix-second
//! timestamps), so every statement lives in exactly one place, in the module of
//! the objects it touches. Each backend has its own versioned migrations.

mod agent;
mod at_rest;
mod carves;
mod conditional_access;
mod config;
mod dirty;
mod error;
mod gitops;
mod hosts;
mod labels;
mod policies;
mod profiles;
mod queries;
mod records;
mod software;
mod teams;
mod users;

pub use agent::{AgentHost, AgentKind, AgentWrite, EnrollRequest, Enrolled};
pub use carves::{CarveRecord, NewCarve};
pub use conditional_access::{
    ComplianceFacts, ComplianceReport, EntraClaim, EntraIdentity, IntegrationStatus, MsIntegration,
    ReportOutcome, ReportStatus,
};
pub use dirty::{DirtyClaim, DirtyKind};
pub use error::StoreError;
pub use gitops::{DesiredPackage, DesiredProfile, DesiredState, DesiredTeam, PackageFacts};
pub use hosts::{HostFilter, HostOrder, Page, PolicyResponseFilter, TeamFilter};
pub use policies::ScopeSettings;
pub use profiles::{LabelTarget, NewProfile, ProfileRecord};
pub use queries::{QueryResultRow, SavedQuery, QUERY_REPORT_CAP};
pub use records::*;
pub use software::SoftwarePackage;

use flotilla_core::clock::Clock;
pub use flotilla_secrets::ServerKey;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use std::path::Path;
use std::time::Duration;

pub type Result<T> = std::result::Result<T, StoreError>;

/// A write transaction, for helpers that take part in a caller's transaction.
pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The storage interface. Cheap to clone; every clone shares the pools.
#[derive(Clone)]
pub struct Store {
    /// Reads.
    pool: AnyPool,
    /// Writes. SQLite takes one writer at a time: a single-connection pool
    /// queues writers in-process instead of letting them poll the file lock.
    /// On PostgreSQL this is the same pool as `pool`.
    writer: AnyPool,
    backend: Backend,
    /// Wakes this process's dirty-host worker when a change marks hosts.
    dirty_signal: std::sync::Arc<tokio::sync::Notify>,
    /// The time that decides schedules, leases, expiries and retries.
    clock: Clock,
    /// Seals the secrets the store must read back (see `at_rest`).
    server_key: ServerKey,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens (creating if needed) the embedded SQLite database at `path` and migrates it.
    pub async fn open_sqlite(path: &Path, server_key: ServerKey) -> Result<Store> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Store::open(&url, server_key).await
    }

    /// Opens a `sqlite://` or `postgres://` URL and migrates the database.
    /// `server_key` seals the secrets kept at rest; the same key must open
    /// the same database every time.
    pub async fn open(url: &str, server_key: ServerKey) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let (pool, writer) = match backend {
            // With WAL, readers proceed while the one writer works.
            Backend::Sqlite => {
                let pool = sqlite_pool(8).connect(url).await?;
                let writer = sqlite_pool(1).connect(url).await?;
                (pool, writer)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(url)
                    .await?;
                (pool.clone(), pool)
            }
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&writer).await?;
        at_rest::seal_values_kept_in_clear(&writer, &server_key).await?;
        tracing::info!(?backend, "database ready");
        Ok(Store {
            pool,
            writer,
            backend,
            dirty_signal: Default::default(),
            clock: Clock::system(),
            server_key,
        })
    }

    /// This store on another clock (tests move it by hand).
    pub fn with_clock(mut self, clock: Clock) -> Store {
        self.clock = clock;
        self
    }

    /// The store's time in Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

fn sqlite_pool(connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(60))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                )
                .await?;
                Ok(())
            })
        })
}

/// Reads a 0/1 flag column.
pub(crate) fn flag(row: &AnyRow, column: &str) -> Result<bool> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

/// Reads a nullable 0/1 column.
pub(crate) fn opt_flag(row: &AnyRow, column: &str) -> Result<Option<bool>> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(|v| v != 0))
}

/// Reads a platform-list column (`"darwin,windows"`, `""` for every platform);
/// `what` names the object for the error.
pub(crate) fn platforms(row: &AnyRow, what: &str) -> Result<flotilla_core::PlatformSet> {
    let list: String = row.try_get("platform")?;
    flotilla_core::PlatformSet::parse(&list)
        .map_err(|unknown| StoreError::Corrupt(format!("{what} platform \"{unknown}\"")))
}

/// Reads a host's platform as osquery reported it.
pub(crate) fn host_platform(row: &AnyRow) -> Result<flotilla_core::HostPlatform> {
    Ok(flotilla_core::HostPlatform::new(
        row.try_get::<String, _>("platform")?,
    ))
}

/// Reads a settings document column (org or team settings).
pub(crate) fn settings<T: serde::de::DeserializeOwned>(row: &AnyRow) -> Result<T> {
    Ok(serde_json::from_str(
        &row.try_get::<String, _>("document")?,
    )?)
}

/// A settings document as it is stored.
pub(crate) fn settings_text<T: serde::Serialize>(settings: &T) -> Result<String> {
    Ok(serde_json::to_string(settings)?)
}

pub(crate) fn as_flag(value: bool) -> i64 {
    i64::from(value)
}

/// Eight random hex digits, for names that must not collide.
pub(crate) fn random_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let count = SUFFIX_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:08x}", nanos ^ count.rotate_left(16))
}

static SUFFIX_COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The system's time in Unix seconds, for timestamps that only record when
/// something happened; what decides behaviour uses [`Store::now`].
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Creates an empty PostgreSQL database named `name` on the server of
/// `admin_url` and returns its URL: for tests and benchmarks that each need a
/// fresh database.
pub async fn create_postgres_database(admin_url: &str, name: &str) -> Result<String> {
    on_postgres_server(admin_url, name, &format!("CREATE DATABASE {name}")).await?;
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let server = match base.rsplit_once('/') {
        Some((server, _database)) if server.contains("://") && !server.ends_with('/') => {
            server.to_string()
        }
        _ => base.trim_end_matches('/').to_string(),
    };
    Ok(format!("{server}/{name}{query}"))
}

/// Drops a database made by [`create_postgres_database`].
pub async fn drop_postgres_database(admin_url: &str, name: &str) -> Result<()> {
    on_postgres_server(
        admin_url,
        name,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await
}

/// Runs one statement about database `name` (checked to be a plain name,
/// since it is spliced into the SQL) over a short-lived admin connection.
async fn on_postgres_server(admin_url: &str, name: &str, statement: &str) -> Result<()> {
    sqlx::any::install_default_drivers();
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::Conflict(format!(
            "\"{name}\" is not a plain database name"
        )));
    }
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(admin_url)
        .await?;
    sqlx::query(statement).execute(&pool).await?;
    pool.close().await;
    Ok(())
}

impl Store {
    /// A write transaction. SQLite's take the write lock up front: a
    /// transaction that reads first and writes later could otherwise fail with
    /// "database is locked" when another writer got in between.
    pub(crate) async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        })
    }
}
