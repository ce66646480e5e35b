//! `flotilla serve`.

use anyhow::Context;
use clap::Args;
use flotilla_core::schedule::Intervals;
use flotilla_microsoft::{MicrosoftClient, MicrosoftConfig};
use flotilla_server::conditional_access::MicrosoftSettings;
use flotilla_server::osquery_log::LogDestination;
use flotilla_server::rate_limit::EnrollLimit;
use flotilla_server::{AppState, Listener, ServerSettings, TlsFiles, TlsSetup};
use flotilla_store::{ServerKey, Store};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Where the embedded database and the self-signed certificate live.
    #[arg(long, env = "FLOTILLA_DATA_DIR", default_value = "./flotilla-data")]
    pub data_dir: PathBuf,
    /// Address and port to listen on.
    #[arg(long, env = "FLOTILLA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// PostgreSQL URL (postgres://...) for several replicas; the embedded SQLite database otherwise.
    #[arg(long, env = "FLOTILLA_DATABASE_URL")]
    pub database_url: Option<String>,
    /// This replica's name on the work it claims (default: hostname and
    /// listen address); keep it across restarts so unfinished work resumes at once.
    /// The key that seals the secrets kept in the database (enroll secrets,
    /// private keys); at least 32 characters. Every replica of one database
    /// needs the same key. When unset, a key is generated once in the data
    /// directory (`server.key`, mode 0600).
    #[arg(long, env = "FLOTILLA_SERVER_PRIVATE_KEY", hide_env_values = true)]
    pub server_private_key: Option<String>,
    #[arg(long, env = "FLOTILLA_REPLICA_ID")]
    pub replica_id: Option<String>,
    /// TLS certificate chain (PEM); with --tls-key.
    #[arg(long, env = "FLOTILLA_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); with --tls-cert.
    #[arg(long, env = "FLOTILLA_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP (behind a TLS-terminating proxy, or in tests).
    #[arg(long, env = "FLOTILLA_NO_TLS", conflicts_with_all = ["tls_cert", "tls_key"])]
    pub no_tls: bool,
    /// Another name the self-signed certificate carries (repeatable); it
    /// always names localhost, 127.0.0.1, ::1, this machine's hostname and
    /// the host of the server URL set at setup.
    #[arg(long = "tls-name", env = "FLOTILLA_TLS_NAMES", value_delimiter = ',')]
    pub tls_names: Vec<String>,
    /// Where osquery's result and status logs go.
    #[arg(
        long,
        env = "FLOTILLA_OSQUERY_LOG_DESTINATION",
        value_enum,
        default_value = "filesystem"
    )]
    pub osquery_log_destination: LogDestinationArg,
    /// The result log file (`filesystem`); default `osquery_result.log` in the data dir.
    #[arg(long, env = "FLOTILLA_OSQUERY_RESULT_LOG_FILE")]
    pub osquery_result_log_file: Option<PathBuf>,
    /// The status log file (`filesystem`); default `osquery_status.log` in the data dir.
    #[arg(long, env = "FLOTILLA_OSQUERY_STATUS_LOG_FILE")]
    pub osquery_status_log_file: Option<PathBuf>,
    /// How often hosts report their vitals again.
    #[arg(long, env = "FLOTILLA_DETAIL_INTERVAL", default_value = "1h", value_parser = duration)]
    pub detail_interval: Duration,
    /// How often hosts answer label queries again.
    #[arg(long, env = "FLOTILLA_LABEL_INTERVAL", default_value = "1h", value_parser = duration)]
    pub label_interval: Duration,
    /// How often hosts answer policy queries again.
    #[arg(long, env = "FLOTILLA_POLICY_INTERVAL", default_value = "1h", value_parser = duration)]
    pub policy_interval: Duration,
    /// Client id of the Microsoft partner app (conditional access).
    #[arg(long, env = "FLOTILLA_MS_CLIENT_ID", requires = "ms_client_secret")]
    pub ms_client_id: Option<String>,
    /// Client secret of the Microsoft partner app. Prefer the environment variable.
    #[arg(
        long,
        env = "FLOTILLA_MS_CLIENT_SECRET",
        hide_env_values = true,
        requires = "ms_client_id"
    )]
    pub ms_client_secret: Option<String>,
    /// Microsoft's login service.
    #[arg(
        long,
        env = "FLOTILLA_MS_AUTHORITY_URL",
        default_value = "https://login.microsoftonline.com"
    )]
    pub ms_authority_url: String,
    /// Microsoft Graph.
    #[arg(
        long,
        env = "FLOTILLA_MS_GRAPH_URL",
        default_value = "https://graph.microsoft.com"
    )]
    pub ms_graph_url: String,
    /// The Entra group the partner compliance policy is assigned to.
    #[arg(
        long,
        env = "FLOTILLA_MS_GROUP",
        default_value = "Flotilla conditional access"
    )]
    pub ms_group: String,
    /// Enrollments each client address, and each enroll secret, may make at
    /// once; past it they are refilled at --enroll-per-second.
    #[arg(long, env = "FLOTILLA_ENROLL_BURST", default_value_t = EnrollLimit::default().burst)]
    pub enroll_burst: u32,
    #[arg(long, env = "FLOTILLA_ENROLL_PER_SECOND", default_value_t = EnrollLimit::default().per_second)]
    pub enroll_per_second: u32,
    /// Largest per-host extra delay, as a percentage of each interval.
    #[arg(long, env = "FLOTILLA_QUERY_JITTER_PERCENT", default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub query_jitter_percent: u8,
}

/// `--osquery-log-destination`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogDestinationArg {
    /// JSON lines in files, rotated by size.
    Filesystem,
    Stdout,
    /// Logs are acknowledged and dropped.
    None,
}

/// This machine's hostname, as the kernel has it.
fn machine_hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// The host part of a URL (`https://fleet.example.com:8080/x` → `fleet.example.com`).
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    (!host.is_empty()).then(|| host.to_string())
}

pub fn duration(text: &str) -> Result<Duration, String> {
    flotilla_simulator::parse_duration(text)
}

impl ServeArgs {
    /// `server_url`: the one set at setup, whose host the self-signed certificate names.
    fn tls(&self, server_url: &str) -> TlsSetup {
        match (&self.tls_cert, &self.tls_key) {
            _ if self.no_tls => TlsSetup::Off,
            (Some(cert), Some(key)) => TlsSetup::Files(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => {
                let mut names: Vec<String> = machine_hostname().into_iter().collect();
                names.extend(url_host(server_url));
                names.extend(self.tls_names.iter().cloned());
                TlsSetup::SelfSigned {
                    dir: self.data_dir.clone(),
                    names,
                }
            }
        }
    }

    fn osquery_log(&self) -> LogDestination {
        match self.osquery_log_destination {
            LogDestinationArg::Filesystem => LogDestination::Filesystem {
                result: self
                    .osquery_result_log_file
                    .clone()
                    .unwrap_or_else(|| self.data_dir.join("osquery_result.log")),
                status: self
                    .osquery_status_log_file
                    .clone()
                    .unwrap_or_else(|| self.data_dir.join("osquery_status.log")),
            },
            LogDestinationArg::Stdout => LogDestination::Stdout,
            LogDestinationArg::None => LogDestination::Discard,
        }
    }

    fn microsoft(&self) -> anyhow::Result<Option<MicrosoftSettings>> {
        let (Some(client_id), Some(client_secret)) = (&self.ms_client_id, &self.ms_client_secret)
        else {
            return Ok(None);
        };
        let client = MicrosoftClient::new(MicrosoftConfig {
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            authority_url: self.ms_authority_url.clone(),
            graph_url: self.ms_graph_url.clone(),
        })?;
        Ok(Some(MicrosoftSettings {
            client: std::sync::Arc::new(client),
            group_name: self.ms_group.clone(),
        }))
    }

    fn settings(&self) -> anyhow::Result<ServerSettings> {
        Ok(ServerSettings {
            intervals: Intervals {
                detail_secs: self.detail_interval.as_secs() as i64,
                label_secs: self.label_interval.as_secs() as i64,
                policy_secs: self.policy_interval.as_secs() as i64,
                jitter_percent: self.query_jitter_percent,
            },
            microsoft: self.microsoft()?,
            blobs: Some(flotilla_server::blobs::BlobStore::new(
                self.data_dir.join("blobs"),
            )),
            secure_cookies: !self.no_tls,
            replica_id: self.replica_id.clone().unwrap_or_else(|| {
                let host = machine_hostname().unwrap_or_else(|| "flotilla".into());
                format!("{host}:{}", self.listen)
            }),
            osquery_log: self.osquery_log(),
            enroll_limit: EnrollLimit {
                burst: self.enroll_burst,
                per_second: self.enroll_per_second,
            },
            ..ServerSettings::default()
        })
    }
}

/// The data dir holds the database (enroll secrets, agent keys, device
/// tokens), the TLS key and uploads: every file the server makes there is
/// its user's alone, whatever umask it was started with, and what an older
/// version left open is closed at start.
fn make_data_dir_private(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))?;
    let private = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("making {} private", path.display()))
    };
    private(dir, 0o700)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            private(&entry.path(), 0o700)?;
        } else if kind.is_file() {
            private(&entry.path(), 0o600)?;
        }
    }
    Ok(())
}

/// The operator's server key, or the one generated in the data directory.
fn server_key(args: &ServeArgs) -> anyhow::Result<ServerKey> {
    if let Some(secret) = &args.server_private_key {
        return ServerKey::from_secret(secret).context("--server-private-key");
    }
    let path = args.data_dir.join("server.key");
    let secret = match std::fs::read_to_string(&path) {
        Ok(secret) => secret,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            if args.database_url.is_some() {
                tracing::warn!(
                    path = %path.display(),
                    "no --server-private-key: generating one in the data directory; \
                     every replica of this database needs the same key"
                );
            }
            let secret = ServerKey::generate_secret();
            write_private_file(&path, secret.as_bytes())?;
            secret
        }
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    ServerKey::from_secret(&secret).with_context(|| format!("the key in {}", path.display()))
}

/// Creates a file only its owner can read, with that mode from the start.
fn write_private_file(path: &std::path::Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)
        .with_context(|| format!("writing {}", path.display()))
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    make_data_dir_private(&args.data_dir)?;
    let server_key = server_key(&args)?;
    let store = match &args.database_url {
        Some(url) => Store::open(url, server_key)
            .await
            .context("opening the database")?,
        None => Store::open_sqlite(&args.data_dir.join("flotilla.db"), server_key)
            .await
            .context("opening the embedded database")?,
    };
    let server_url = store
        .org_settings()
        .await
        .context("reading the org settings")?
        .map(|org| org.server_settings.server_url)
        .unwrap_or_default();
    let tls = args.tls(&server_url).resolve().context("preparing TLS")?;
    let socket = std::net::TcpListener::bind(&args.listen)
        .with_context(|| format!("listening on {}", args.listen))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "Flotilla is listening on {scheme}://{}",
        socket.local_addr()?
    );
    if let Some(files) = &tls {
        println!(
            "TLS certificate: {} (pin it with osquery's --tls_server_certs)",
            files.cert.display()
        );
    }
    let state = AppState::new(store.clone(), args.settings()?);
    let workers = flotilla_server::workers::Workers::start(&state);
    let app = flotilla_server::router(state);
    flotilla_server::serve(Listener { socket, tls }, app, crate::shutdown_signal()).await?;
    tracing::info!("shutting down");
    workers.stop().await;
    store.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::url_host;

    #[test]
    fn the_server_urls_host_is_found() {
        assert_eq!(
            url_host("https://fleet.example.com:8080/x").as_deref(),
            Some("fleet.example.com")
        );
        assert_eq!(url_host("https://[::1]:8080").as_deref(), Some("::1"));
        assert_eq!(url_host("http://10.0.0.5").as_deref(), Some("10.0.0.5"));
        assert_eq!(url_host("fleet.example.com"), None);
    }
}
