//! Listening: plain HTTP or TLS (a certificate of the admin's own, or a
//! self-signed one made on first start), with graceful shutdown.

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
    /// A self-signed certificate kept in this directory, made on first start.
    SelfSigned { dir: PathBuf },
}

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
            TlsSetup::SelfSigned { dir } => ensure_self_signed(dir).map(Some),
        }
    }
}

fn write_file(path: &Path, contents: &str, private: bool) -> Result<(), ListenError> {
    let err = |source| ListenError::File {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(path, contents).map_err(err)?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    #[cfg(not(unix))]
    let _ = private;
    Ok(())
}

fn ensure_self_signed(dir: &Path) -> Result<TlsFiles, ListenError> {
    let files = TlsFiles {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    if files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    std::fs::create_dir_all(dir).map_err(|source| ListenError::File {
        path: dir.to_path_buf(),
        source,
    })?;
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let certified = rcgen::generate_simple_self_signed(names)?;
    write_file(&files.key, &certified.key_pair.serialize_pem(), true)?;
    write_file(&files.cert, &certified.cert.pem(), false)?;
    tracing::info!(cert = %files.cert.display(), "created a self-signed TLS certificate");
    Ok(files)
}

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
    match listener.tls {
        None => {
            axum_server::from_tcp(listener.socket)
                .handle(handle)
                .serve(service)
                .await?
        }
        Some(files) => {
            // Several servers may start in one process (tests); the first wins.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config = RustlsConfig::from_pem_file(&files.cert, &files.key).await?;
            axum_server::from_tcp_rustls(listener.socket, config)
                .handle(handle)
                .serve(service)
                .await?
        }
    }
    Ok(())
}
