use thiserror::Error;

#[derive(Debug, Error)]
pub enum MicrosoftError {
    #[error("the Microsoft partner app is not configured (client id and secret)")]
    NotConfigured,
    #[error("could not reach Microsoft: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("Microsoft refused the partner app's credentials: {0}")]
    Credentials(String),
    #[error("Microsoft answered {status} to {call}: {body}")]
    Status {
        call: &'static str,
        status: u16,
        body: String,
    },
    /// Throttled (429) or server trouble (5xx): worth trying again, after
    /// Microsoft's Retry-After when it gave one.
    #[error("Microsoft is unavailable for {call} ({status}): {body}")]
    Unavailable {
        call: &'static str,
        status: u16,
        retry_after: Option<std::time::Duration>,
        body: String,
    },
    #[error("the Entra group \"{0}\" does not exist; create it in Entra and assign the compliance policy's users to it")]
    GroupMissing(String),
    #[error("the Entra user \"{0}\" does not exist")]
    UserMissing(String),
    #[error("Intune's partner endpoints were not found for this tenant (is Intune licensed?)")]
    EndpointsMissing,
    #[error("unexpected answer from Microsoft to {call}: {detail}")]
    Protocol { call: &'static str, detail: String },
}

impl MicrosoftError {
    /// Worth retrying later: throttling, server trouble, the network.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            MicrosoftError::Transport(_) | MicrosoftError::Unavailable { .. }
        )
    }

    /// How long Microsoft asked to be left alone, when it said.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            MicrosoftError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
