//! `flotilla simulate`.

use anyhow::Context;
use clap::Args;
use flotilla_simulator::{Agent, Scenario, SimulatorConfig};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Server base URL, e.g. https://127.0.0.1:8080.
    #[arg(long, env = "FLOTILLA_SERVER")]
    pub server: String,
    #[arg(long, env = "FLOTILLA_ENROLL_SECRET")]
    pub enroll_secret: String,
    /// Number of simulated Macs.
    #[arg(long, env = "FLOTILLA_HOSTS", default_value_t = 10)]
    pub hosts: usize,
    /// Scenario YAML: policy answers, label matches, timed flips.
    #[arg(long, env = "FLOTILLA_SCENARIO")]
    pub scenario: Option<PathBuf>,
    /// Stop after this long (e.g. 60s); until Ctrl-C otherwise.
    #[arg(long, env = "FLOTILLA_DURATION", value_parser = crate::serve::duration)]
    pub duration: Option<Duration>,
    /// How often each host checks in.
    #[arg(long, env = "FLOTILLA_INTERVAL", default_value = "10s", value_parser = crate::serve::duration)]
    pub interval: Duration,
    /// Fixes every host's identity and answers.
    #[arg(long, env = "FLOTILLA_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Accept the server's certificate without checking it (self-signed servers).
    #[arg(long, env = "FLOTILLA_INSECURE")]
    pub insecure: bool,
    /// Write each host's identity and current answers here as JSON at exit.
    #[arg(long, env = "FLOTILLA_REPORT")]
    pub report: Option<PathBuf>,
    /// The agent each Mac runs: fleetd (orbit, its osquery and Fleet
    /// Desktop) or plain osquery.
    #[arg(long, env = "FLOTILLA_AGENT", value_enum, default_value = "fleetd")]
    pub agent: AgentArg,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentArg {
    Fleetd,
    Osquery,
}

impl From<AgentArg> for Agent {
    fn from(agent: AgentArg) -> Agent {
        match agent {
            AgentArg::Fleetd => Agent::Fleetd,
            AgentArg::Osquery => Agent::Osquery,
        }
    }
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let scenario = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Scenario::from_yaml(&text).with_context(|| format!("scenario {}", path.display()))?
        }
        None => Scenario::default(),
    };
    let config = SimulatorConfig {
        server: args.server.clone(),
        enroll_secret: args.enroll_secret.clone(),
        hosts: args.hosts,
        scenario,
        interval: args.interval,
        seed: args.seed,
        insecure: args.insecure,
        progress: true,
        max_in_flight: 512,
        agent: args.agent.into(),
    };
    let report = flotilla_simulator::run(config, args.duration, crate::shutdown_signal()).await?;
    let enrolled = report
        .hosts
        .iter()
        .filter(|h| !h.policies.is_empty() || !h.labels.is_empty())
        .count();
    eprintln!(
        "{} hosts simulated, {enrolled} answered queries",
        report.hosts.len()
    );
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    Ok(())
}
