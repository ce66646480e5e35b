//! `flotilla gitops`: apply Fleet-format GitOps files (default.yml and team
//! files) to a server through its REST API, and `flotilla login`'s
//! credentials. The files are read, resolved and validated here; the server
//! applies the whole run in one transaction.

pub mod client;
pub mod credentials;
mod format;
pub mod report;
pub mod resolve;
pub mod source;

use client::Client;
use flotilla_core::gitops::{validate_request, ApplyOutcome};
use resolve::{InstallerSource, PendingInstaller};
use sha2::{Digest, Sha256};
use source::Env;
use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum GitopsError {
    /// Problems in the files, each naming its file (and line where there is one).
    #[error("{}", .0.join("\n"))]
    Files(Vec<String>),
    #[error("server refused the run ({status} {message}):\n  {}", .reasons.join("\n  "))]
    Server {
        status: u16,
        message: String,
        reasons: Vec<String>,
    },
    #[error("can't reach {0}")]
    Unreachable(String),
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    #[error("{0}")]
    Setup(String),
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub files: Vec<PathBuf>,
    pub dry_run: bool,
    pub delete_other_teams: bool,
    /// Draw progress bars for uploads (on a terminal).
    pub show_progress: bool,
}

#[derive(Debug)]
pub struct RunReport {
    pub outcome: ApplyOutcome,
    pub warnings: Vec<String>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An installer fetched and hashed, held until it is uploaded.
struct Fetched {
    hash: String,
    file_name: String,
    bytes: Vec<u8>,
}

pub async fn run(
    client: &Client,
    options: &RunOptions,
    env: Env<'_>,
) -> Result<RunReport, GitopsError> {
    let mut resolved = resolve::resolve(&options.files, env).map_err(GitopsError::Files)?;
    resolved.request.dry_run = options.dry_run;
    resolved.request.delete_other_teams = options.delete_other_teams;
    let mut to_upload = Vec::new();
    for installer in resolved.installers.clone() {
        if let Some(fetched) = fetch(client, &mut resolved, &installer).await? {
            to_upload.push(fetched);
        }
    }
    validate_request(&mut resolved.request).map_err(|errors| {
        GitopsError::Files(
            errors
                .0
                .iter()
                .map(|e| format!("{}: {}", e.name, e.reason))
                .collect(),
        )
    })?;
    if !options.dry_run {
        for fetched in to_upload {
            upload(client, fetched, options.show_progress).await?;
        }
    }
    let outcome = match client.apply(&resolved.request).await {
        Ok(outcome) => outcome,
        // Name the file each of the server's reasons is about.
        Err(GitopsError::Server {
            status,
            message,
            reasons,
        }) => {
            let reasons = reasons
                .into_iter()
                .map(|reason| match resolved.file_for(&reason) {
                    Some(file) => format!("{file}: {reason}"),
                    None => reason,
                })
                .collect();
            return Err(GitopsError::Server {
                status,
                message,
                reasons,
            });
        }
        Err(other) => return Err(other),
    };
    Ok(RunReport {
        outcome,
        warnings: resolved.warnings,
    })
}

/// Hashes a local installer or downloads one, unless the server already has
/// the hash the files give. Returns what still has to be uploaded.
async fn fetch(
    client: &Client,
    resolved: &mut resolve::Resolved,
    installer: &PendingInstaller,
) -> Result<Option<Fetched>, GitopsError> {
    let package = &resolved.request.teams[installer.team].packages[installer.package];
    let expected = package.hash_sha256.clone();
    let file_name = package
        .file_name
        .clone()
        .unwrap_or_else(|| "installer".into());
    if !expected.is_empty() && client.has_installer(&expected).await? {
        return Ok(None);
    }
    let (bytes, origin) = match &installer.source {
        InstallerSource::File(path) => (client::read_installer(path)?, path.display().to_string()),
        InstallerSource::Url(url) => (client.download(url).await?, url.clone()),
    };
    let hash = sha256_hex(&bytes);
    if !expected.is_empty() && expected != hash {
        return Err(GitopsError::Files(vec![format!(
            "{origin}: SHA-256 is {hash}, but the files say hash_sha256: {expected}"
        )]));
    }
    resolved.complete_installer(installer, &hash);
    if client.has_installer(&hash).await? {
        return Ok(None);
    }
    Ok(Some(Fetched {
        hash,
        file_name,
        bytes,
    }))
}

async fn upload(client: &Client, fetched: Fetched, show_progress: bool) -> Result<(), GitopsError> {
    let bar = if show_progress {
        indicatif::ProgressBar::new(fetched.bytes.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(format!("uploading {}", fetched.file_name));
    let progress = bar.clone();
    client
        .put_installer(
            &fetched.hash,
            &fetched.file_name,
            fetched.bytes,
            move |sent| progress.set_position(sent),
        )
        .await?;
    bar.finish_and_clear();
    Ok(())
}
