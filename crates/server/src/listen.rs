//! Listening: plain HTTP or TLS (a certificate of the admin's own, or a
//! self-signed one made on first start), with graceful shutdown.

use crate::conn_limit::{ConnectionLimit, MAX_CONNECTIONS, MAX_PER_ADDRESS};
use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A certificate chain and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How the server speaks TLS.
#[derive(Debug, Clone)]
pub enum TlsSetup {
    /// Plain HTTP, for a TLS-terminating proxy or tests.
    Off,
    /// The admin's own certificate.
    Files(TlsFiles),
    /// A self-signed certificate kept in this directory for these names
    /// (besides localhost and the loopback addresses), made on first start
    /// and made again when the names change or it nears its end.
    SelfSigned { dir: PathBuf, names: Vec<String> },
}

/// How long a self-signed certificate is valid.
const SELF_SIGNED_DAYS: i64 = 365;
/// A self-signed certificate is renewed at start when it has less left.
const RENEW_WITHIN_DAYS: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("could not create the self-signed certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

impl TlsSetup {
    /// The files to serve with, creating the self-signed pair if needed.
    pub fn resolve(&self) -> Result<Option<TlsFiles>, ListenError> {
        match self {
            TlsSetup::Off => Ok(None),
            TlsSetup::Files(files) => Ok(Some(files.clone())),
            TlsSetup::SelfSigned { dir, names } => {
                ensure_self_signed(dir, names, time::OffsetDateTime::now_utc()).map(Some)
            }
        }
    }
}

/// Writes a file; a private one is created 0600 (never readable by others,
/// not even for a moment before a chmod).
fn write_file(path: &Path, contents: &str, private: bool) -> Result<(), ListenError> {
    use std::io::Write;
    let err = |source| ListenError::File {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(err)?;
    file.write_all(contents.as_bytes()).map_err(err)?;
    Ok(())
}

/// Every name the certificate carries: the loopback names, then `extra`
/// (lower-case, without repeats or blanks).
fn certificate_names(extra: &[String]) -> Vec<String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    for name in extra {
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// What a self-signed pair was made for: its names and its end, kept beside
/// it so a start can tell whether to make a new one.
fn read_made_for(path: &Path) -> Option<(Vec<String>, i64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let not_after = lines.next()?.trim().parse().ok()?;
    Some((lines.map(str::to_string).collect(), not_after))
}

fn ensure_self_signed(
    dir: &Path,
    extra_names: &[String],
    now: time::OffsetDateTime,
) -> Result<TlsFiles, ListenError> {
    let files = TlsFiles {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    let made_for_path = dir.join("server.names");
    let names = certificate_names(extra_names);
    let renew_by = (now + time::Duration::days(RENEW_WITHIN_DAYS)).unix_timestamp();
    let current = files.cert.exists() && files.key.exists();
    if current {
        match read_made_for(&made_for_path) {
            Some((made_for, not_after)) if made_for == names && not_after > renew_by => {
                return Ok(files)
            }
            _ => tracing::info!("renewing the self-signed TLS certificate (names or expiry)"),
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| ListenError::File {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut params = rcgen::CertificateParams::new(names.clone())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[names.len() - 1].clone());
    params.not_before = now - time::Duration::hours(1);
    let not_after = now + time::Duration::days(SELF_SIGNED_DAYS);
    params.not_after = not_after;
    let key_pair = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key_pair)?;
    write_file(&files.key, &key_pair.serialize_pem(), true)?;
    write_file(&files.cert, &cert.pem(), false)?;
    let made_for = format!("{}\n{}\n", not_after.unix_timestamp(), names.join("\n"));
    write_file(&made_for_path, &made_for, false)?;
    tracing::info!(cert = %files.cert.display(), names = %names.join(", "), "created a self-signed TLS certificate");
    Ok(files)
}

/// How long a client has to send a request's head (and how long an idle
/// keep-alive connection stays open).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(20);
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HTTP2_PING_INTERVAL: Duration = Duration::from_secs(30);
const HTTP2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// A bound socket and how to speak on it.
pub struct Listener {
    pub socket: std::net::TcpListener,
    pub tls: Option<TlsFiles>,
}

/// Serves `app` until `shutdown` resolves, then lets requests in flight finish.
pub async fn serve(
    listener: Listener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ListenError> {
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    listener.socket.set_nonblocking(true)?;
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let limit = ConnectionLimit::new(MAX_CONNECTIONS, MAX_PER_ADDRESS);
    let mut server = axum_server::from_tcp(listener.socket).handle(handle);
    let http = server.http_builder();
    // A connection that sends no complete request head in time (a new one,
    // or an idle keep-alive one) is closed; so is an HTTP/2 peer that stops
    // answering pings.
    http.http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    http.http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(HTTP2_PING_INTERVAL)
        .keep_alive_timeout(HTTP2_PING_TIMEOUT)
        .max_concurrent_streams(256);
    match listener.tls {
        None => server.acceptor(limit).serve(service).await?,
        Some(files) => {
            // Several servers may start in one process (tests); the first wins.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config = RustlsConfig::from_pem_file(&files.cert, &files.key).await?;
            let tls = axum_server::tls_rustls::RustlsAcceptor::new(config)
                .handshake_timeout(TLS_HANDSHAKE_TIMEOUT)
                .acceptor(limit);
            server.acceptor(tls).serve(service).await?
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_self_signed_certificate_is_remade_for_new_names_and_near_its_end() {
        let dir = std::env::temp_dir().join(format!("flotilla-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let start = time::OffsetDateTime::now_utc();
        let names = vec!["flotilla.example.test".to_string()];
        ensure_self_signed(&dir, &names, start).unwrap();
        let first = std::fs::read_to_string(dir.join("server.pem")).unwrap();
        let (made_for, not_after) = read_made_for(&dir.join("server.names")).unwrap();
        assert_eq!(
            made_for,
            ["localhost", "127.0.0.1", "::1", "flotilla.example.test"]
        );
        let days = (not_after - start.unix_timestamp()) / 86_400;
        assert_eq!(days, SELF_SIGNED_DAYS);
        // The same names a day later: kept.
        ensure_self_signed(&dir, &names, start + time::Duration::days(1)).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("server.pem")).unwrap(),
            first
        );
        // A new name: made again.
        let more = vec!["flotilla.example.test".to_string(), "mac-fleet".to_string()];
        ensure_self_signed(&dir, &more, start + time::Duration::days(1)).unwrap();
        let second = std::fs::read_to_string(dir.join("server.pem")).unwrap();
        assert_ne!(second, first);
        // Near its end: made again.
        ensure_self_signed(&dir, &more, start + time::Duration::days(340)).unwrap();
        assert_ne!(
            std::fs::read_to_string(dir.join("server.pem")).unwrap(),
            second
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
