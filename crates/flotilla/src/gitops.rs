//! `flotilla login` and `flotilla gitops`.

use anyhow::Context;
use clap::Args;
use flotilla_gitops::client::{Client, Connection};
use flotilla_gitops::credentials::{self, Credentials};
use flotilla_gitops::{report, RunOptions};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// How to trust the server's certificate.
#[derive(Args, Debug, Clone, Default)]
pub struct TrustArgs {
    /// A PEM certificate to trust (e.g. the self-signed one `flotilla serve` prints).
    #[arg(long, env = "FLOTILLA_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Don't check the server's certificate.
    #[arg(long, env = "FLOTILLA_INSECURE")]
    pub insecure: bool,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The server's URL, e.g. https://flotilla.example.com:8080
    #[arg(long)]
    pub server: String,
    #[arg(long)]
    pub email: String,
    /// Read the password from standard input instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub trust: TrustArgs,
}

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        rpassword::prompt_password(format!("Password for {}: ", args.email))
            .context("reading the password")?
    };
    let connection = Connection {
        server: args.server.clone(),
        ca_cert: args.trust.ca_cert.clone(),
        insecure: args.trust.insecure,
    };
    let token = Client::new(&connection, None)?
        .login(&args.email, &password)
        .await?;
    let path = credentials::config_path(&env_var)?;
    credentials::save(
        &path,
        &Credentials {
            server: args.server,
            token,
            ca_cert: args.trust.ca_cert,
            insecure: args.trust.insecure,
        },
    )?;
    println!("Logged in; credentials saved in {}", path.display());
    Ok(())
}

#[derive(Args, Debug)]
pub struct GitopsArgs {
    /// A GitOps file: default.yml (org-wide) or a team file. Repeat for each file.
    #[arg(short = 'f', long = "file", required = true)]
    pub files: Vec<PathBuf>,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete the teams that no file names.
    #[arg(long)]
    pub delete_other_teams: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub trust: TrustArgs,
}

pub async fn run(args: GitopsArgs) -> anyhow::Result<()> {
    let saved = credentials::load(&env_var)?;
    let connection = Connection {
        server: saved.server,
        ca_cert: args.trust.ca_cert.or(saved.ca_cert),
        insecure: args.trust.insecure || saved.insecure,
    };
    let client = Client::new(&connection, Some(saved.token))?;
    let options = RunOptions {
        files: args.files,
        dry_run: args.dry_run,
        delete_other_teams: args.delete_other_teams,
        show_progress: std::io::stderr().is_terminal(),
    };
    let result = flotilla_gitops::run(&client, &options, &env_var).await?;
    for warning in &result.warnings {
        eprintln!("warning: {warning}");
    }
    if args.json {
        println!("{}", report::json(&result.outcome));
    } else {
        print!("{}", report::text(&result.outcome));
    }
    Ok(())
}
