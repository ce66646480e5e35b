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
        match self {
            MicrosoftError::Transport(_) => true,
            MicrosoftError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}
