//! Counters and latencies of a simulation run, and its live one-line summary.

use crate::host::Agent;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The agent calls a simulated host makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    OrbitEnroll,
    OrbitConfig,
    DeviceToken,
    Enroll,
    Config,
    DistributedRead,
    DistributedWrite,
    Log,
    Device,
}

impl Endpoint {
    /// The path, with osquery's routes under the prefix the agent uses:
    /// fleetd starts osquery with `/api/v1/osquery/...`, plain osquery is
    /// configured with `/api/osquery/...`.
    pub fn path_for(self, agent: Agent) -> String {
        let osquery = match agent {
            Agent::Fleetd => "/api/v1/osquery",
            Agent::Osquery => "/api/osquery",
        };
        match self {
            Endpoint::Enroll => format!("{osquery}/enroll"),
            Endpoint::Config => format!("{osquery}/config"),
            Endpoint::DistributedRead => format!("{osquery}/distributed/read"),
            Endpoint::DistributedWrite => format!("{osquery}/distributed/write"),
            Endpoint::Log => format!("{osquery}/log"),
            other => other.path().to_string(),
        }
    }

    /// orbit's and Fleet Desktop's paths.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::OrbitEnroll => "/api/fleet/orbit/enroll",
            Endpoint::OrbitConfig => "/api/fleet/orbit/config",
            Endpoint::DeviceToken => "/api/fleet/orbit/device_token",
            Endpoint::Device => "/api/latest/fleet/device",
            Endpoint::Enroll => "/api/osquery/enroll",
            Endpoint::Config => "/api/osquery/config",
            Endpoint::DistributedRead => "/api/osquery/distributed/read",
            Endpoint::DistributedWrite => "/api/osquery/distributed/write",
            Endpoint::Log => "/api/osquery/log",
        }
    }
}

/// Shared by every simulated host of a run.
#[derive(Default)]
pub struct Stats {
    pub enrolled: AtomicU64,
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    latencies: Mutex<HashMap<Endpoint, Vec<u32>>>,
}

/// Latency figures for one endpoint, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Stats {
    pub fn record(&self, endpoint: Endpoint, took: Duration, ok: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut latencies) = self.latencies.lock() {
            latencies
                .entry(endpoint)
                .or_default()
                .push(took.as_micros().min(u128::from(u32::MAX)) as u32);
        }
    }

    /// Forgets latencies so far (after a warm-up).
    pub fn reset_latencies(&self) {
        if let Ok(mut latencies) = self.latencies.lock() {
            latencies.clear();
        }
    }

    pub fn latency(&self, endpoint: Endpoint) -> Option<LatencySummary> {
        let latencies = self.latencies.lock().ok()?;
        let mut samples = latencies.get(&endpoint)?.clone();
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at =
            |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
        Some(LatencySummary {
            count: samples.len(),
            p50_ms: at(0.50),
            p99_ms: at(0.99),
        })
    }
}

/// Prints "hosts enrolled, requests/s, errors" once a second until dropped
/// (in place on a terminal, every ten seconds otherwise).
pub async fn print_summary(stats: std::sync::Arc<Stats>, hosts: usize) {
    let terminal = std::io::stderr().is_terminal();
    let mut last_requests = 0;
    let mut last = Instant::now();
    let mut ticks = 0u64;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        ticks += 1;
        let requests = stats.requests.load(Ordering::Relaxed);
        let rate = (requests - last_requests) as f64 / last.elapsed().as_secs_f64();
        last_requests = requests;
        last = Instant::now();
        let line = format!(
            "hosts enrolled {}/{hosts} · {rate:.0} requests/s · errors {}",
            stats.enrolled.load(Ordering::Relaxed),
            stats.errors.load(Ordering::Relaxed)
        );
        if terminal {
            eprint!("\r{line}   ");
            let _ = std::io::stderr().flush();
        } else if ticks.is_multiple_of(10) {
            eprintln!("{line}");
        }
    }
}
