//! The `flotilla login` and `flotilla gitops` commands as an admin's CI runs
//! them: a real `flotilla serve`, credentials in a config dir, exit statuses.

use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_flotilla");
const PASSWORD: &str = "Correct-horse-1!";

struct Server {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start_server() -> Server {
    let dir = std::env::temp_dir().join(format!(
        "flotilla-cli-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(BIN)
        .args([
            "serve",
            "--no-tls",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let server = Server { child, url, dir };
    for _ in 0..100 {
        if reqwest::get(format!("{}/healthz", server.url))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not start");
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Runs the command with only the environment given (plus PATH).
fn flotilla(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

fn write(path: &Path, contents: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

#[tokio::test]
async fn login_then_gitops_from_saved_credentials_and_from_the_environment() {
    let server = start_server().await;
    let setup: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/setup", server.url))
        .json(&json!({"admin": {"email": "admin@example.com", "password": PASSWORD, "name": "Admin"}, "org_info": {"org_name": "Example"}, "server_url": server.url}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = setup["token"].as_str().unwrap().to_string();
    let config_home = server.dir.join("config");
    let config_home = config_home.to_str().unwrap();

    // A wrong password fails and saves nothing.
    let out = flotilla(
        &[
            "login",
            "--server",
            &server.url,
            "--email",
            "admin@example.com",
            "--password-stdin",
        ],
        &[("XDG_CONFIG_HOME", config_home)],
        Some("wrong-password-1!\n"),
    );
    assert!(!out.status.success());
    assert!(!Path::new(config_home).join("flotilla/config.json").exists());

    let out = flotilla(
        &[
            "login",
            "--server",
            &server.url,
            "--email",
            "admin@example.com",
            "--password-stdin",
        ],
        &[("XDG_CONFIG_HOME", config_home)],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(config_home).join("flotilla/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["server"], server.url.as_str());

    let files = server.dir.join("repo");
    write(
        &files.join("default.yml"),
        "labels:\n- name: Laptops\n  query: SELECT 1 FROM battery;\n  platform: darwin\n",
    );
    let default = files.join("default.yml");
    let default = default.to_str().unwrap();

    // Saved credentials; --json result.
    let out = flotilla(
        &["gitops", "--json", "-f", default],
        &[("XDG_CONFIG_HOME", config_home)],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["global"]["created"], 1);
    assert_eq!(result["teams"], json!([]));

    // CI: the environment alone, no config dir; dry run prints the plan.
    write(&files.join("default.yml"), "labels:\n- name: Laptops\n  query: SELECT 1 FROM battery;\n  platform: darwin\n  description: With a battery\n");
    let ci = [
        ("FLOTILLA_SERVER", server.url.as_str()),
        ("FLOTILLA_API_TOKEN", token.as_str()),
        ("HOME", "/nonexistent"),
    ];
    let out = flotilla(&["gitops", "--dry-run", "-f", default], &ci, None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(plan.contains("Dry run: nothing was changed"), "{plan}");
    assert!(plan.contains("~ label Laptops"), "{plan}");
    let out = flotilla(&["gitops", "-f", default], &ci, None);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("0 created, 1 updated, 0 deleted"),
        "{}",
        text(&out.stdout)
    );

    // An error: non-zero exit, the message on stderr.
    write(
        &files.join("default.yml"),
        "labels:\n- name: Laptops\n  querry: SELECT 1;\n",
    );
    let out = flotilla(&["gitops", "-f", default], &ci, None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("default.yml:3:3: unknown key `querry`"),
        "{stderr}"
    );

    // Not logged in at all.
    let out = flotilla(
        &["gitops", "-f", default],
        &[("HOME", "/nonexistent")],
        None,
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not logged in"),
        "{}",
        text(&out.stderr)
    );
}
