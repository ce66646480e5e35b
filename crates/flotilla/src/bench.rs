//! `flotilla bench`: check-in throughput, latency, CPU and memory of a
//! release server under simulated hosts, on SQLite and on PostgreSQL.

use anyhow::{bail, Context};
use clap::Args;
use flotilla_simulator::{Endpoint, LatencySummary, Scenario, Simulation, SimulatorConfig};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Host counts to run, comma-separated.
    #[arg(
        long,
        env = "FLOTILLA_BENCH_HOSTS",
        value_delimiter = ',',
        default_value = "1000,10000,50000"
    )]
    pub hosts: Vec<usize>,
    /// Check-in interval of every simulated host.
    #[arg(long, env = "FLOTILLA_BENCH_INTERVAL", default_value = "10s", value_parser = crate::serve::duration)]
    pub interval: Duration,
    /// How long to measure once every host has enrolled and answered once.
    #[arg(long, env = "FLOTILLA_BENCH_DURATION", default_value = "60s", value_parser = crate::serve::duration)]
    pub duration: Duration,
    /// The server's detail, label and policy intervals (Fleet's default is 1h).
    #[arg(long, env = "FLOTILLA_BENCH_SERVER_INTERVAL", default_value = "1h")]
    pub server_interval: String,
    /// Also run on PostgreSQL: a fresh database is made on this server per run.
    #[arg(long, env = "FLOTILLA_BENCH_POSTGRES_URL")]
    pub postgres_url: Option<String>,
    /// Skip SQLite.
    #[arg(long, env = "FLOTILLA_BENCH_POSTGRES_ONLY")]
    pub postgres_only: bool,
    /// The agent the simulated Macs run: fleetd adds orbit's config polls and
    /// Fleet Desktop's to osquery's check-ins; osquery is check-ins alone.
    #[arg(
        long,
        env = "FLOTILLA_BENCH_AGENT",
        value_enum,
        default_value = "fleetd"
    )]
    pub agent: crate::simulate::AgentArg,
    /// Run this flotilla binary as the server instead of this one, to
    /// compare two builds under the same simulated load.
    #[arg(long, env = "FLOTILLA_BENCH_SERVER_BIN")]
    pub server_bin: Option<PathBuf>,
    /// Where to write the results table (Markdown).
    #[arg(long, env = "FLOTILLA_BENCH_OUT", default_value = "bench-results.md")]
    pub out: PathBuf,
}

struct RunResult {
    backend: &'static str,
    hosts: usize,
    enroll_secs: f64,
    read_rps: f64,
    write_rps: f64,
    read: Option<LatencySummary>,
    write: Option<LatencySummary>,
    cpu_per_1000: f64,
    peak_rss_mib: f64,
    errors: u64,
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are 14th and 15th.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11).context("utime")?.parse::<f64>()?
        + fields.get(12).context("stime")?.parse::<f64>()?;
    Ok(ticks / 100.0)
}

/// Peak resident memory of a process in MiB (VmHWM).
fn peak_rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("VmHWM")?;
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .context("VmHWM value")?
        .parse()?;
    Ok(kib / 1024.0)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Setup, a team with three Mac policies and two labels; returns the team's enroll secret.
async fn prepare(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let setup: Value = client
        .post(format!("{url}/api/v1/setup"))
        .json(&json!({"admin": {"email": "bench@example.com", "password": "Bench-password-1!", "name": "Bench"},
                      "org_info": {"org_name": "Bench"}, "server_url": url}))
        .send()
        .await?
        .json()
        .await?;
    let token = setup["token"].as_str().context("setup token")?.to_string();
    let post = |path: String, body: Value| {
        let request = client
            .post(format!("{url}{path}"))
            .bearer_auth(&token)
            .json(&body);
        async move {
            anyhow::Ok(
                request
                    .send()
                    .await?
                    .error_for_status()?
                    .json::<Value>()
                    .await?,
            )
        }
    };
    let team = post("/api/v1/fleet/teams".into(), json!({"name": "Bench"})).await?;
    let team_id = team["team"]["id"].as_i64().context("team id")?;
    for (name, query) in [
        (
            "Disk encryption",
            "SELECT 1 FROM disk_encryption WHERE encrypted = 1;",
        ),
        ("Firewall", "SELECT 1 FROM alf WHERE global_state >= 1;"),
        ("Screen lock", "SELECT 1 FROM screenlock WHERE enabled = 1;"),
    ] {
        post(
            format!("/api/v1/fleet/teams/{team_id}/policies"),
            json!({"name": name, "query": query, "platform": "darwin"}),
        )
        .await?;
    }
    for (name, query) in [
        (
            "Has Company Portal",
            "SELECT 1 FROM apps WHERE bundle_identifier = 'com.microsoft.CompanyPortalMac';",
        ),
        ("Sonoma", "SELECT 1 FROM os_version WHERE major = '14';"),
    ] {
        post(
            "/api/v1/fleet/labels".into(),
            json!({"name": name, "query": query, "platform": "darwin"}),
        )
        .await?;
    }
    team["team"]["secrets"][0]["secret"]
        .as_str()
        .map(str::to_string)
        .context("enroll secret")
}

const SCENARIO: &str = r#"
policies:
  - name: "Disk encryption"
    pass: 0.8
    fail: 0.15
    error: 0.05
labels:
  - query_contains: "CompanyPortal"
    match: 0.5
"#;

async fn run_one(
    args: &BenchArgs,
    backend: &'static str,
    database_url: Option<&str>,
    hosts: usize,
) -> anyhow::Result<RunResult> {
    let data_dir = std::env::temp_dir().join(format!(
        "flotilla-bench-{}-{hosts}-{}",
        backend,
        std::process::id()
    ));
    std::fs::create_dir_all(&data_dir)?;
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let server_bin = match &args.server_bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe()?,
    };
    let mut command = tokio::process::Command::new(server_bin);
    command
        .args([
            "serve",
            "--no-tls",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&data_dir)
        .args(["--detail-interval", &args.server_interval])
        .args(["--label-interval", &args.server_interval])
        .args(["--policy-interval", &args.server_interval])
        .env("RUST_LOG", "warn")
        // All the simulated hosts enroll at once from one address (an
        // environment variable, so older servers under --server-bin start too).
        .env("FLOTILLA_ENROLL_BURST", "1000000")
        .stdout(Stdio::null())
        .kill_on_drop(true);
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let mut server = command.spawn().context("starting the server")?;
    let pid = server.id().context("server pid")?;
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{url}/healthz")).send().await.is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the server did not start");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let secret = prepare(&client, &url).await?;

    let simulation = Simulation::start(SimulatorConfig {
        server: url.clone(),
        enroll_secret: secret,
        hosts,
        scenario: Scenario::from_yaml(SCENARIO)?,
        interval: args.interval,
        seed: 1,
        insecure: false,
        progress: true,
        max_in_flight: 512,
        agent: args.agent.into(),
    })?;
    let stats = simulation.stats.clone();
    let enroll_started = Instant::now();
    while (stats.enrolled.load(Ordering::Relaxed) as usize) < hosts {
        if enroll_started.elapsed() > Duration::from_secs(1800) {
            bail!("hosts did not all enroll within 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let enroll_secs = enroll_started.elapsed().as_secs_f64();
    // One more interval, so every host has answered its first full round.
    tokio::time::sleep(args.interval * 2).await;

    stats.reset_latencies();
    let requests_before = stats.requests.load(Ordering::Relaxed);
    let errors_before = stats.errors.load(Ordering::Relaxed);
    let cpu_before = cpu_seconds(pid)?;
    tokio::time::sleep(args.duration).await;
    let cpu = cpu_seconds(pid)? - cpu_before;
    let requests = stats.requests.load(Ordering::Relaxed) - requests_before;
    let errors = stats.errors.load(Ordering::Relaxed) - errors_before;
    let read = stats.latency(Endpoint::DistributedRead);
    let write = stats.latency(Endpoint::DistributedWrite);
    let peak = peak_rss_mib(pid)?;
    simulation.finish().await;
    let _ = server.start_kill();
    let _ = server.wait().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    let secs = args.duration.as_secs_f64();
    Ok(RunResult {
        backend,
        hosts,
        enroll_secs,
        read_rps: read.map_or(0.0, |l| l.count as f64 / secs),
        write_rps: write.map_or(0.0, |l| l.count as f64 / secs),
        read,
        write,
        cpu_per_1000: if requests == 0 {
            0.0
        } else {
            cpu / requests as f64 * 1000.0
        },
        peak_rss_mib: peak,
        errors,
    })
}

fn table(results: &[RunResult], args: &BenchArgs) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Check-in interval {:?}, measured for {:?} after every host enrolled and answered once; \
         server detail/label/policy intervals {}.\n",
        args.interval, args.duration, args.server_interval
    );
    let _ = writeln!(
        out,
        "| backend | hosts | enroll all (s) | read req/s | read p50 / p99 (ms) | write req/s | write p50 / p99 (ms) | server CPU s / 1,000 req | server peak RSS (MiB) | errors |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let latency = |l: Option<LatencySummary>| {
        l.map_or("–".to_string(), |l| {
            format!("{:.1} / {:.1}", l.p50_ms, l.p99_ms)
        })
    };
    for r in results {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0} | {} | {:.1} | {} | {:.3} | {:.0} | {} |",
            r.backend,
            r.hosts,
            r.enroll_secs,
            r.read_rps,
            latency(r.read),
            r.write_rps,
            latency(r.write),
            r.cpu_per_1000,
            r.peak_rss_mib,
            r.errors
        );
    }
    out
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let mut results = Vec::new();
    for &hosts in &args.hosts {
        if !args.postgres_only {
            eprintln!("SQLite, {hosts} hosts");
            results.push(run_one(&args, "sqlite", None, hosts).await?);
        }
        if let Some(admin_url) = &args.postgres_url {
            eprintln!("PostgreSQL, {hosts} hosts");
            let name = format!("flotilla_bench_{}_{hosts}", std::process::id());
            let url = flotilla_store::create_postgres_database(admin_url, &name).await?;
            let result = run_one(&args, "postgres", Some(&url), hosts).await;
            flotilla_store::drop_postgres_database(admin_url, &name).await?;
            results.push(result?);
        }
        let report = table(&results, &args);
        std::fs::write(&args.out, &report)
            .with_context(|| format!("writing {}", args.out.display()))?;
        println!("{report}");
    }
    Ok(())
}
