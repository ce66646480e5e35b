//! TLS by default: a self-signed certificate made on first start, kept, and
//! usable by a client that pins it (as osquery's --tls_server_certs does).

use flotilla_server::{AppState, Listener, ServerSettings, TlsSetup};
use flotilla_store::Store;

#[tokio::test]
async fn self_signed_certificate_is_created_kept_and_pinnable() {
    let dir = std::env::temp_dir().join(format!("flotilla-tls-{}", uuid::Uuid::new_v4().simple()));
    let setup = TlsSetup::SelfSigned {
        dir: dir.clone(),
        names: vec!["flotilla.example.test".into()],
    };
    let files = setup.resolve().expect("certificate").expect("TLS on");
    let first = std::fs::read_to_string(&files.cert).unwrap();
    let again = setup.resolve().unwrap().unwrap();
    assert_eq!(
        std::fs::read_to_string(&again.cert).unwrap(),
        first,
        "the certificate is kept across starts"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the private key is readable by its owner only"
        );
    }

    let store = Store::open_sqlite(
        &dir.join("flotilla.db"),
        flotilla_store::ServerKey::from_secret("the TLS test server's sealing key").unwrap(),
    )
    .await
    .unwrap();
    let state = AppState::new(store, ServerSettings::default());
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let app = flotilla_server::router(state);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(flotilla_server::serve(
        Listener {
            socket,
            tls: Some(files),
        },
        app,
        async {
            let _ = stopped.await;
        },
    ));

    let pinned = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(first.as_bytes()).unwrap())
        .build()
        .unwrap();
    let response = pinned
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .expect("TLS request");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let unpinned = reqwest::Client::new()
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await;
    assert!(
        unpinned.is_err(),
        "a client that does not trust the certificate is refused"
    );
    let plain = reqwest::Client::new()
        .get(format!("http://localhost:{port}/healthz"))
        .send()
        .await;
    assert!(
        plain.map(|r| !r.status().is_success()).unwrap_or(true),
        "plain HTTP is not served on a TLS port"
    );

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
