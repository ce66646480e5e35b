//! The `flotilla` command.

mod bench;
mod emulator;
mod gitops;
mod serve;
mod simulate;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "flotilla",
    version,
    about = "Device compliance for Microsoft Entra conditional access, Fleet-compatible"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<serve::ServeArgs>),
    /// Run simulated Macs against a server.
    Simulate(simulate::SimulateArgs),
    /// Run the Microsoft emulator: login, Graph and Intune partner sync, for tests and demos.
    MsEmulator(emulator::EmulatorArgs),
    /// Measure check-in throughput, latency, CPU and memory of a release server.
    Bench(bench::BenchArgs),
    /// Log in to a server and keep its URL and an API token for `flotilla gitops`.
    Login(gitops::LoginArgs),
    /// Apply Fleet-format GitOps files (default.yml, teams/*.yml) to a server.
    Gitops(gitops::GitopsArgs),
}

/// Errors end the process with status 1 and one readable message (with its causes).
fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(*args).await,
            Command::Simulate(args) => simulate::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::MsEmulator(args) => emulator::run(args).await,
            Command::Login(args) => gitops::login(args).await,
            Command::Gitops(args) => gitops::run(args).await,
        }
    })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
