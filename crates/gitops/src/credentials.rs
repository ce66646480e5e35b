//! Where `flotilla login` keeps the server and token: `config.json` in the
//! user's config directory (`$XDG_CONFIG_HOME/flotilla`, else
//! `~/.config/flotilla`), readable by the user alone.
//! `FLOTILLA_SERVER` and `FLOTILLA_API_TOKEN` override it, for CI.

use crate::GitopsError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub server: String,
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    #[serde(default)]
    pub insecure: bool,
}

/// The config file, from the environment given (a parameter so tests can pick it).
pub fn config_path(env: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf, GitopsError> {
    let base = env("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            env("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })
        .ok_or_else(|| GitopsError::Setup("neither XDG_CONFIG_HOME nor HOME is set".into()))?;
    Ok(base.join("flotilla").join("config.json"))
}

pub fn save(path: &std::path::Path, credentials: &Credentials) -> Result<(), GitopsError> {
    let io = |e: std::io::Error| GitopsError::Setup(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let text =
        serde_json::to_string_pretty(credentials).map_err(|e| GitopsError::Setup(e.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut file = options.open(path).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    Ok(())
}

/// The saved credentials with the environment's overrides applied.
pub fn load(env: &dyn Fn(&str) -> Option<String>) -> Result<Credentials, GitopsError> {
    let path = config_path(env)?;
    let mut credentials = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| GitopsError::Setup(format!("{}: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Credentials::default(),
        Err(e) => return Err(GitopsError::Setup(format!("{}: {e}", path.display()))),
    };
    if let Some(server) = env("FLOTILLA_SERVER").filter(|s| !s.is_empty()) {
        credentials.server = server;
    }
    if let Some(token) = env("FLOTILLA_API_TOKEN").filter(|s| !s.is_empty()) {
        credentials.token = token;
    }
    if credentials.server.is_empty() || credentials.token.is_empty() {
        return Err(GitopsError::Setup(
            "not logged in: run `flotilla login --server URL --email E`, or set FLOTILLA_SERVER and FLOTILLA_API_TOKEN".into(),
        ));
    }
    Ok(credentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_credentials_load_and_the_environment_overrides_them() {
        let dir = std::env::temp_dir().join(format!("flotilla-credentials-{}", std::process::id()));
        let home = dir.to_string_lossy().to_string();
        let only_home = |name: &str| (name == "XDG_CONFIG_HOME").then(|| home.clone());
        assert!(matches!(load(&only_home), Err(GitopsError::Setup(_))));
        let saved = Credentials {
            server: "https://a.example".into(),
            token: "t1".into(),
            ca_cert: None,
            insecure: false,
        };
        save(&config_path(&only_home).unwrap(), &saved).unwrap();
        assert_eq!(load(&only_home).unwrap(), saved);
        let with_env = |name: &str| match name {
            "XDG_CONFIG_HOME" => Some(home.clone()),
            "FLOTILLA_API_TOKEN" => Some("t2".into()),
            _ => None,
        };
        let loaded = load(&with_env).unwrap();
        assert_eq!(
            (loaded.server.as_str(), loaded.token.as_str()),
            ("https://a.example", "t2")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(config_path(&only_home).unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the token file is private");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
