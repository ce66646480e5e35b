//! Flotilla's HTTP server. One router per audience:
//! - [`agent`]: osquery's remote API and fleetd's orbit API, keyed by node keys;
//! - [`api`]: the Fleet-compatible admin REST API, keyed by user sessions;
//! - [`device`]: the end user's "My device" API, keyed by device tokens.
//!
//! Handlers are thin: they check access, call the core's rules and the store,
//! and shape Fleet's JSON with the typed contract in [`wire`].

pub mod agent;
pub mod api;
mod auth;
pub mod blobs;
pub mod conditional_access;
mod conn_limit;
pub mod console;
pub mod device;
pub mod error;
mod headers;
mod listen;
mod multipart;
pub mod osquery_log;
pub mod rate_limit;
mod request_log;
use flotilla_secrets as secrets;
mod seen;
pub mod service;
pub mod wire;
pub mod workers;

pub use listen::{serve, Listener, TlsFiles, TlsSetup};

use axum::routing::get;
use axum::Router;
use flotilla_core::clock::Clock;
use flotilla_core::schedule::Intervals;
use flotilla_core::HostId;
use flotilla_store::Store;
use std::sync::Arc;
use std::time::Duration;

/// Settings fixed at start-up.
#[derive(Clone)]
pub struct ServerSettings {
    pub intervals: Intervals,
    /// How long a device token stays valid after fleetd last refreshed it.
    pub device_token_ttl: Duration,
    /// How often buffered "last seen" times are written.
    pub seen_flush_interval: Duration,
    /// The Microsoft partner app; conditional access is unavailable without it.
    pub microsoft: Option<conditional_access::MicrosoftSettings>,
    /// Where uploaded installers are kept; uploads are refused without it.
    pub blobs: Option<blobs::BlobStore>,
    /// Console cookies carry `Secure` (the server is behind TLS).
    pub secure_cookies: bool,
    /// This replica's name on the work it claims; stable across restarts so
    /// a restarted replica takes its unfinished work back at once.
    pub replica_id: String,
    /// How long a claimed compliance report is reserved for its sender
    /// (renewed while it is sent); another replica takes it over after this
    /// when the sender stops.
    pub report_lease: Duration,
    /// The first wait before a report Microsoft could not take is tried
    /// again; each further attempt doubles it (up to two minutes).
    pub report_backoff: Duration,
    /// The time (the system's, or one tests move by hand).
    pub clock: Clock,
    /// Where osquery's result and status logs go.
    pub osquery_log: osquery_log::LogDestination,
    /// Enrollments per client address and per enroll secret.
    pub enroll_limit: rate_limit::EnrollLimit,
    /// The largest installer an upload may carry.
    pub max_installer_bytes: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            intervals: Intervals::default(),
            device_token_ttl: Duration::from_secs(3600),
            seen_flush_interval: Duration::from_secs(2),
            microsoft: None,
            blobs: None,
            secure_cookies: false,
            replica_id: format!("replica-{}", secrets::random_token(9)),
            report_lease: Duration::from_secs(30),
            report_backoff: Duration::from_secs(2),
            clock: Clock::system(),
            osquery_log: osquery_log::LogDestination::Discard,
            enroll_limit: rate_limit::EnrollLimit::default(),
            max_installer_bytes: 512 * 1024 * 1024,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<ServerSettings>,
    seen: seen::SeenBuffer,
    device_limiter: rate_limit::RateLimiter,
    /// The distinct device tokens each host sent in the last hour.
    device_token_changes: rate_limit::RateLimiter<HostId>,
    enroll_limiter: rate_limit::EnrollLimiter,
    /// The distinct sets of enroll secrets each user set in the last hour.
    secret_changes: rate_limit::RateLimiter<flotilla_core::UserId>,
    login_limiter: rate_limit::LoginLimiter,
    reporter: conditional_access::Reporter,
    osquery_logs: osquery_log::OsqueryLogs,
}

impl AppState {
    /// The state handlers share; the background work on it is started
    /// separately, with [`workers::Workers::start`].
    pub fn new(store: Store, settings: ServerSettings) -> AppState {
        let store = store.with_clock(settings.clock.clone());
        let osquery_logs = osquery_log::OsqueryLogs::new(&settings.osquery_log);
        AppState {
            seen: seen::SeenBuffer::new(store.clone()),
            store,
            enroll_limiter: rate_limit::EnrollLimiter::new(settings.enroll_limit),
            secret_changes: rate_limit::RateLimiter::new(20, 3600),
            settings: Arc::new(settings),
            device_limiter: rate_limit::RateLimiter::new(10, 60),
            device_token_changes: rate_limit::RateLimiter::new(5, 3600),
            login_limiter: rate_limit::LoginLimiter::default(),
            reporter: conditional_access::Reporter::default(),
            osquery_logs,
        }
    }

    /// The server's time in Unix seconds.
    pub fn now(&self) -> i64 {
        self.settings.clock.now()
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .merge(agent::router())
        .merge(api::router())
        .merge(device::router())
        .merge(console::router())
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            headers::security,
        ))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(request_log::request_span),
        )
        .with_state(state)
}

async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::http::StatusCode {
    match state.store.ping().await {
        Ok(()) => axum::http::StatusCode::OK,
        Err(err) => {
            tracing::warn!(error = %err, "health check: database unreachable");
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        }
    }
}
