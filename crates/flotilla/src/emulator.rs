//! `flotilla ms-emulator`.

use anyhow::Context;
use clap::Args;
use flotilla_ms_emulator::{EmulatorConfig, Faults, TenantsFile};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct EmulatorArgs {
    #[arg(
        long,
        env = "FLOTILLA_EMULATOR_LISTEN",
        default_value = "127.0.0.1:8090"
    )]
    pub listen: String,
    /// The partner app's client id the emulator accepts.
    #[arg(long, env = "FLOTILLA_EMULATOR_CLIENT_ID")]
    pub client_id: String,
    #[arg(long, env = "FLOTILLA_EMULATOR_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: String,
    /// YAML: tenants with their groups, users and consent behaviour.
    #[arg(long, env = "FLOTILLA_EMULATOR_TENANTS")]
    pub tenants: Option<PathBuf>,
    /// Faults to inject from the start: inline JSON, or a JSON/YAML file.
    #[arg(long, env = "FLOTILLA_EMULATOR_FAULTS")]
    pub faults: Option<String>,
    /// Lifetime of issued tokens.
    #[arg(long, env = "FLOTILLA_EMULATOR_TOKEN_LIFETIME", default_value = "1h", value_parser = crate::serve::duration)]
    pub token_lifetime: Duration,
    /// How long uploads stay Pending.
    #[arg(long, env = "FLOTILLA_EMULATOR_PROCESSING_DELAY", default_value = "200ms", value_parser = crate::serve::duration)]
    pub processing_delay: Duration,
}

/// With no tenants file: one tenant that consents, with the default group.
const DEFAULT_TENANTS: &str = r#"
tenants:
  - id: 6f1c3a52-0c1e-4b8e-9a61-3f0d2b7c9e10
    groups: ["Flotilla conditional access"]
    users: "user{n}@contoso.com"
    user_count: 1000
    consent: grant
"#;

pub async fn run(args: EmulatorArgs) -> anyhow::Result<()> {
    let tenants_text = match &args.tenants {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => DEFAULT_TENANTS.to_string(),
    };
    let tenants = TenantsFile::from_yaml(&tenants_text).context("tenants file")?;
    let faults = match &args.faults {
        None => Faults::default(),
        Some(inline) if inline.trim_start().starts_with('{') => {
            serde_norway::from_str(inline).context("--faults")?
        }
        Some(path) => serde_norway::from_str(
            &std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        )
        .context("--faults")?,
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let config = EmulatorConfig {
        client_id: args.client_id,
        client_secret: args.client_secret,
        tenants,
        token_lifetime: args.token_lifetime,
        processing_delay: args.processing_delay,
        faults,
    };
    println!("Microsoft emulator listening on {base_url}");
    let app = flotilla_ms_emulator::router(config, base_url);
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::shutdown_signal())
        .await?;
    Ok(())
}
