//! The web console in a real browser: headless Chromium driven over
//! WebDriver (chromedriver) against a real server with the Microsoft emulator
//! and simulated Macs. Every screen is saved under `target/screenshots/`.
//! Without Chromium and chromedriver installed the test says so and skips,
//! except under CI, where it fails.

mod common;

use common::microsoft::{settings, start_emulator};
use common::TestServer;
use fantoccini::{Client, ClientBuilder, Locator};
use flotilla_ms_emulator::Faults;
use flotilla_simulator::{Scenario, SimulatorConfig};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const TENANT: &str = "6f1c3a52-0c1e-4b8e-9a61-3f0d2b7c9e10";
const PASSWORD: &str = "Correct-horse-1!";
const RESOLUTION: &str =
    "Open System Settings and allow apps from the App Store and identified developers.";

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

struct Driver {
    process: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

async fn start_driver(chromedriver: &Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let process = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        process,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if reqwest::get(format!("{}/status", driver.url)).await.is_ok() {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

async fn browser(driver: &Driver, chromium: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1100"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

struct Shots {
    dir: PathBuf,
}

impl Shots {
    fn new() -> Shots {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        Shots { dir }
    }

    async fn take(&self, client: &Client, name: &str) {
        let png = client.screenshot().await.expect("screenshot");
        std::fs::write(self.dir.join(format!("{name}.png")), png).unwrap();
    }
}

async fn fill(client: &Client, css: &str, text: &str) {
    let field = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("no field {css}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("nothing to click at {css}"))
        .click()
        .await
        .unwrap();
}

/// Clicks something that loads a new page, and waits until it has.
async fn submit(client: &Client, css: &str) {
    client
        .execute("window.flotillaOldPage = true; return true;", vec![])
        .await
        .unwrap();
    click(client, css).await;
    for _ in 0..100 {
        let loaded = client
            .execute(
                "return window.flotillaOldPage !== true && document.readyState === 'complete';",
                vec![],
            )
            .await;
        if matches!(loaded, Ok(serde_json::Value::Bool(true))) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("clicking {css} loaded no new page");
}

async fn text(client: &Client) -> String {
    client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn path(client: &Client) -> String {
    client.current_url().await.unwrap().path().to_string()
}

fn simulator(server: &TestServer, secret: &str, hosts: usize) -> SimulatorConfig {
    let scenario = "policies:\n  - name: \"Gatekeeper enabled\"\n    fail: 1.0\nentra:\n  upn_pattern: \"user{n}@contoso.com\"\n  registered: 1.0\nmdm:\n  enrolled: 1.0\n";
    SimulatorConfig {
        server: server.url.clone(),
        enroll_secret: secret.to_string(),
        hosts,
        scenario: Scenario::from_yaml(scenario).unwrap(),
        interval: Duration::from_millis(500),
        seed: 11,
        insecure: false,
        progress: false,
        max_in_flight: 16,
        agent: flotilla_simulator::Agent::Fleetd,
    }
}

#[tokio::test]
async fn an_admin_sets_up_conditional_access_in_the_browser() {
    let (Some(chromium), Some(chromedriver)) = (
        find_binary(&["chromium", "chromium-browser", "google-chrome"]),
        find_binary(&["chromedriver"]),
    ) else {
        common::missing("chromium or chromedriver (apt-get install chromium chromium-driver)");
        return;
    };
    let tenants = format!(
        "tenants:\n  - id: {TENANT}\n    groups: [\"Flotilla conditional access\"]\n    users: \"user{{n}}@contoso.com\"\n    user_count: 10\n"
    );
    let emulator = start_emulator(&tenants, Faults::default()).await;
    // One backend is enough here: the pages use the same store calls the API tests cover on both.
    let server = TestServer::start_with(common::sqlite_database(), settings(&emulator)).await;
    let driver = start_driver(&chromedriver).await;
    let client = browser(&driver, &chromium).await;
    let shots = Shots::new();
    let url = |p: &str| format!("{}{p}", server.url);

    // First run: / leads to setup.
    client.goto(&url("/")).await.unwrap();
    assert_eq!(path(&client).await, "/setup");
    fill(&client, "#name", "Ada Admin").await;
    fill(&client, "#email", "ada@example.com").await;
    fill(&client, "#password", "short").await;
    fill(&client, "#org_name", "Example").await;
    submit(&client, "button[type=submit]").await;
    assert!(
        text(&client).await.contains("12"),
        "the password rule is shown next to the field"
    );
    shots.take(&client, "01-setup-error").await;
    fill(&client, "#password", PASSWORD).await;
    submit(&client, "button[type=submit]").await;
    assert_eq!(path(&client).await, "/hosts");
    assert!(text(&client).await.contains("No hosts yet"));
    shots.take(&client, "02-hosts-empty").await;

    // Log out and back in; a wrong password says so without saying which part.
    submit(&client, "form.signout button").await;
    assert_eq!(path(&client).await, "/login");
    fill(&client, "#email", "ada@example.com").await;
    fill(&client, "#password", "Wrong-horse-1!").await;
    submit(&client, "button[type=submit]").await;
    assert!(text(&client)
        .await
        .contains("The email or password is not right."));
    shots.take(&client, "03-login-failed").await;
    fill(&client, "#email", "ada@example.com").await;
    fill(&client, "#password", PASSWORD).await;
    submit(&client, "button[type=submit]").await;
    assert_eq!(path(&client).await, "/hosts");

    // A team, a dynamic label and a policy.
    client.goto(&url("/teams")).await.unwrap();
    fill(&client, "#name", "Workstations").await;
    submit(&client, "form.toolbar button").await;
    assert!(text(&client).await.contains("Workstations"));
    shots.take(&client, "04-teams").await;
    let team = server
        .store
        .teams()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.name == "Workstations")
        .unwrap();

    client.goto(&url("/labels/new?type=dynamic")).await.unwrap();
    fill(&client, "#name", "Company Portal installed").await;
    fill(
        &client,
        "#query",
        "SELECT 1 FROM apps WHERE bundle_identifier = 'com.microsoft.CompanyPortalMac';",
    )
    .await;
    shots.take(&client, "05-label-new").await;
    submit(&client, "main form button[type=submit]").await;
    assert_eq!(path(&client).await, "/labels", "{}", text(&client).await);
    assert!(text(&client).await.contains("Company Portal installed"));
    shots.take(&client, "06-labels").await;

    client
        .goto(&url(&format!("/policies/new?team_id={}", team.id.0)))
        .await
        .unwrap();
    fill(&client, "#name", "Gatekeeper enabled").await;
    fill(
        &client,
        "#query",
        "SELECT 1 FROM gatekeeper WHERE assessments_enabled = 1;",
    )
    .await;
    fill(&client, "#resolution", RESOLUTION).await;
    fill(&client, "#platform", "amiga").await;
    submit(&client, "main form button[type=submit]").await;
    assert!(
        text(&client).await.contains("unsupported platform"),
        "the error is shown next to the field"
    );
    shots.take(&client, "07-policy-error").await;
    fill(&client, "#platform", "darwin").await;
    submit(&client, "main form button[type=submit]").await;
    assert!(text(&client).await.contains("Gatekeeper enabled"));
    shots.take(&client, "08-policies").await;

    // Settings > Integrations > Conditional access: consent through "Microsoft".
    client
        .goto(&url("/settings/integrations/conditional-access"))
        .await
        .unwrap();
    shots.take(&client, "09-conditional-access-empty").await;
    fill(&client, "#tenant_id", TENANT).await;
    submit(&client, "main form button[type=submit]").await;
    assert_eq!(
        path(&client).await,
        "/settings/integrations/conditional-access"
    );
    let page = text(&client).await;
    assert!(
        page.contains("Connected to Microsoft Entra tenant"),
        "{page}"
    );
    shots.take(&client, "10-conditional-access-connected").await;

    // Policies > Automations > Conditional access: on for the team, tick the policy, Save.
    client
        .goto(&url(&format!(
            "/policies/automations/conditional-access?team_id={}",
            team.id.0
        )))
        .await
        .unwrap();
    click(&client, "#enabled").await;
    let policy = server
        .store
        .policies(flotilla_core::access::Scope::Team(team.id))
        .await
        .unwrap()
        .remove(0);
    click(&client, &format!("#policy-{}", policy.id.0)).await;
    shots.take(&client, "11-automation").await;
    submit(&client, "main form button[type=submit]").await;
    assert!(text(&client).await.contains("Counts"));

    // Simulated Macs enroll into the team; the failing policy makes them non-compliant.
    let secret = server
        .store
        .enroll_secrets(Some(team.id))
        .await
        .unwrap()
        .remove(0)
        .secret;
    // One run for the whole test: a Mac that enrolled keeps its keys, as
    // fleetd does across restarts (enrolling again would be a new host).
    let simulation = flotilla_simulator::Simulation::start(simulator(&server, &secret, 3)).unwrap();
    let enrolled_by = std::time::Instant::now() + Duration::from_secs(30);
    while simulation
        .stats
        .enrolled
        .load(std::sync::atomic::Ordering::Relaxed)
        < 3
    {
        assert!(
            std::time::Instant::now() < enrolled_by,
            "the simulated Macs did not enroll"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let device_token = simulation.device_token(0).unwrap();
    let mut non_compliant = false;
    for _ in 0..40 {
        client
            .goto(&url("/hosts?compliance=noncompliant"))
            .await
            .unwrap();
        if text(&client).await.contains("Not compliant") {
            non_compliant = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(non_compliant, "a simulated Mac shows as not compliant");
    shots.take(&client, "12-hosts-noncompliant").await;
    submit(&client, "table tbody a").await;
    let host_page = text(&client).await;
    assert!(
        host_page.contains("Gatekeeper enabled") && host_page.contains("Entra device ID"),
        "{host_page}"
    );
    shots.take(&client, "13-host").await;

    // Software > Add software > Custom package, and Controls > Add profile targeted at the label.
    let uploads = std::env::temp_dir().join(format!("flotilla-browser-{}", std::process::id()));
    std::fs::create_dir_all(&uploads).unwrap();
    let pkg = uploads.join("CompanyPortal-Installer.pkg");
    std::fs::write(&pkg, common::company_portal_pkg()).unwrap();
    client
        .goto(&url(&format!("/software?team_id={}", team.id.0)))
        .await
        .unwrap();
    client
        .find(Locator::Css("#software"))
        .await
        .unwrap()
        .send_keys(pkg.to_str().unwrap())
        .await
        .unwrap();
    fill(
        &client,
        "#install_script",
        "installer -pkg \"$INSTALLER_PATH\" -target /",
    )
    .await;
    submit(&client, "main form button[type=submit]").await;
    let software = text(&client).await;
    assert!(
        software.contains("Company Portal") && software.contains("5.2504.0"),
        "{software}"
    );
    shots.take(&client, "14-software").await;
    let profile = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/seed-gitops/lib/team-name/profiles/company-portal-single-signon-extension.mobileconfig");
    client
        .goto(&url(&format!("/controls?team_id={}", team.id.0)))
        .await
        .unwrap();
    client
        .find(Locator::Css("#profile"))
        .await
        .unwrap()
        .send_keys(profile.to_str().unwrap())
        .await
        .unwrap();
    click(&client, "#target-custom").await;
    let label = server
        .store
        .labels()
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.name == "Company Portal installed")
        .unwrap();
    click(&client, &format!("#label-{}", label.id.0)).await;
    submit(&client, "main form button[type=submit]").await;
    let controls = text(&client).await;
    assert!(
        controls.contains("include all: Company Portal installed"),
        "{controls}"
    );
    shots.take(&client, "15-controls").await;
    std::fs::remove_dir_all(&uploads).unwrap();
    // The label now targets a profile: deleting it is refused, next to the label.
    client.goto(&url("/labels")).await.unwrap();
    submit(
        &client,
        &format!("form[action='/labels/{}/delete'] button", label.id.0),
    )
    .await;
    let labels = text(&client).await;
    assert!(labels.contains("can't be deleted: profile"), "{labels}");
    shots.take(&client, "15b-label-in-use").await;
    client.goto(&url("/activities")).await.unwrap();
    assert!(text(&client).await.contains("created macos profile"));
    shots.take(&client, "16-activities").await;

    // My device: the failing policy first with its resolution; Refetch shows progress.
    client
        .goto(&url(&format!("/device/{device_token}")))
        .await
        .unwrap();
    let device_page = text(&client).await;
    assert!(
        device_page.contains("Gatekeeper enabled") && device_page.contains(RESOLUTION),
        "{device_page}"
    );
    shots.take(&client, "17-my-device").await;
    // A marker that a reload clears: the page reloads itself once new results arrive.
    client
        .execute("window.flotillaMarker = true; return true;", vec![])
        .await
        .unwrap();
    click(&client, "form[data-refetch] button").await;
    let shows_progress =
        |p: &str| p.contains("Refetching") || p.contains("Waiting") || p.contains("Updated");
    let mut progress = String::new();
    for _ in 0..50 {
        progress = client
            .find(Locator::Id("refetch-status"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if shows_progress(&progress) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(shows_progress(&progress), "{progress}");
    shots.take(&client, "18-my-device-refetching").await;
    let mut updated = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let reloaded = client
            .execute("return window.flotillaMarker !== true;", vec![])
            .await
            .unwrap();
        if reloaded == serde_json::Value::Bool(true) {
            updated = true;
            break;
        }
    }
    assert!(updated, "the refetch finished and the page reloaded");
    shots.take(&client, "19-my-device-refetched").await;
    for (page, name) in [
        ("/microsoft-compliance-partner/enroll", "20-enroll"),
        ("/microsoft-compliance-partner/remediate", "21-remediate"),
    ] {
        client.goto(&url(page)).await.unwrap();
        shots.take(&client, name).await;
    }

    // Log out: the console asks for a login again.
    client.goto(&url("/hosts")).await.unwrap();
    submit(&client, "form.signout button").await;
    client
        .goto(&url("/settings/integrations/conditional-access"))
        .await
        .unwrap();
    assert_eq!(path(&client).await, "/login");
    shots.take(&client, "22-login").await;

    simulation.finish().await;
    client.close().await.unwrap();
    server.finish().await;
}
