//! Simulated Macs for load and end-to-end tests: each one enrolls through
//! fleetd's and osquery's real protocols and answers the server's queries as a
//! scenario file says, deterministically from a seed.

mod host;
pub mod identity;
pub mod scenario;
pub mod stats;

pub use host::{Agent, ORBIT_CAPABILITIES};
pub use scenario::{parse_duration, Answer, Scenario, ScenarioError};
pub use stats::{Endpoint, LatencySummary, Stats};

use host::{Shared, SimHost};
use identity::Identity;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Base URL of the server, e.g. `https://127.0.0.1:8080`.
    pub server: String,
    pub enroll_secret: String,
    pub hosts: usize,
    pub scenario: Scenario,
    /// How often each host checks in for distributed queries.
    pub interval: Duration,
    pub seed: u64,
    /// Accept any TLS certificate (a self-signed server).
    pub insecure: bool,
    /// Print the live one-line summary to stderr.
    pub progress: bool,
    /// Most requests in flight at once, across all hosts.
    pub max_in_flight: usize,
    /// The agent every simulated Mac runs.
    pub agent: Agent,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("could not build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("the server answered outside the protocol")]
    Protocol,
}

/// The report written at exit: each host's identity and current answers.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub hosts: Vec<HostReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub uuid: String,
    pub serial: String,
    pub hostname: String,
    pub enroll_secret: String,
    pub device_token: String,
    /// Policy id → the answer the host gives now.
    pub policies: BTreeMap<String, Answer>,
    /// Label id → whether the host matches.
    pub labels: BTreeMap<String, bool>,
    pub entra: Option<EntraReport>,
    pub mdm_enrolled: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct EntraReport {
    pub device_id: String,
    pub upn: String,
}

/// A running simulation; `stats` can be read while it runs.
pub struct Simulation {
    pub stats: Arc<Stats>,
    shared: Arc<Shared>,
    hosts: Vec<Arc<SimHost>>,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
    summary: Option<tokio::task::JoinHandle<()>>,
}

impl Simulation {
    /// Starts every host (spread over the first interval).
    pub fn start(config: SimulatorConfig) -> Result<Simulation, SimError> {
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(config.insecure)
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(config.max_in_flight)
            .build()?;
        let stats = Arc::new(Stats::default());
        let shared = Arc::new(Shared {
            agent: config.agent,
            client,
            server: config.server.trim_end_matches('/').to_string(),
            enroll_secret: config.enroll_secret.clone(),
            scenario: config.scenario.clone(),
            seed: config.seed,
            interval: config.interval,
            started: Instant::now(),
            stats: stats.clone(),
            in_flight: tokio::sync::Semaphore::new(config.max_in_flight.max(1)),
            policy_names: Default::default(),
        });
        let (stop, stopped) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        let hosts: Vec<Arc<SimHost>> = (0..config.hosts as u64)
            .map(|i| Arc::new(SimHost::new(Identity::new(config.seed, i), config.seed)))
            .collect();
        for host in &hosts {
            tasks.spawn(host.clone().run(shared.clone(), stopped.clone()));
        }
        let summary = config
            .progress
            .then(|| tokio::spawn(stats::print_summary(stats.clone(), config.hosts)));
        Ok(Simulation {
            stats,
            shared,
            hosts,
            stop,
            tasks,
            summary,
        })
    }

    /// The device token host `index` uses now (registered once it enrolled).
    pub fn device_token(&self, index: usize) -> Option<String> {
        self.hosts.get(index).map(|host| host.device_token())
    }

    /// Stops every host and reports what each one answers now.
    pub async fn finish(mut self) -> Report {
        let _ = self.stop.send(true);
        // Hosts stop between requests; one stuck on a slow request is cut off.
        let all_stopped = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(30), all_stopped)
            .await
            .is_err()
        {
            self.tasks.abort_all();
        }
        if let Some(summary) = self.summary.take() {
            summary.abort();
            eprintln!();
        }
        self.report()
    }

    fn report(&self) -> Report {
        let shared = &self.shared;
        let elapsed = shared.started.elapsed();
        let hosts = self
            .hosts
            .iter()
            .map(|host| {
                let asked = host.asked.lock().map(|a| a.clone()).unwrap_or_default();
                let id = &host.identity;
                HostReport {
                    uuid: id.uuid.clone(),
                    serial: id.serial.clone(),
                    hostname: id.hostname.clone(),
                    enroll_secret: shared.enroll_secret.clone(),
                    device_token: host.device_token(),
                    policies: asked
                        .policies
                        .iter()
                        .map(|(pid, (name, query))| {
                            (
                                pid.to_string(),
                                host.policy_answer(shared, name.as_deref(), query, elapsed),
                            )
                        })
                        .collect(),
                    labels: asked
                        .labels
                        .iter()
                        .map(|(lid, m)| (lid.to_string(), *m))
                        .collect(),
                    entra: shared.scenario.entra_upn(shared.seed, id.index).map(|upn| {
                        EntraReport {
                            device_id: host.entra_device_id(shared),
                            upn,
                        }
                    }),
                    mdm_enrolled: shared.scenario.mdm_enrolled(shared.seed, id.index),
                }
            })
            .collect();
        Report { hosts }
    }
}

/// Runs a simulation until `duration` passes (if given) or `stop` resolves.
pub async fn run(
    config: SimulatorConfig,
    duration: Option<Duration>,
    stop: impl Future<Output = ()>,
) -> Result<Report, SimError> {
    let simulation = Simulation::start(config)?;
    match duration {
        Some(duration) => {
            tokio::select! {
                _ = tokio::time::sleep(duration) => {}
                _ = stop => {}
            }
        }
        None => stop.await,
    }
    Ok(simulation.finish().await)
}
