//! The use-case layer: every change and every read a front door (REST API,
//! console, GitOps endpoint) needs. Each use case checks who may do it (the
//! caller's [`Principal`]), validates with the core's pure rules, writes the
//! change and its audit activity in one store transaction, and leaves the
//! follow-on work to data (the store marks affected hosts dirty; a worker
//! re-decides them). Front doors decode, call one use case, and render.

pub mod activities;
pub mod agent;
pub mod carves;
pub mod conditional_access;
pub mod config;
pub mod device;
pub mod gitops;
pub mod hosts;
pub mod labels;
pub mod policies;
pub mod profiles;
pub mod queries;
pub mod software;
pub mod teams;
pub mod users;

use flotilla_core::access::{Principal, Scope};
use flotilla_core::activity::ActivityType;
use flotilla_core::{TeamId, ValidationErrors};
use flotilla_store::{Activity, Actor, StoreError, UserRecord};
use serde_json::Value;

/// Who is asking: their roles, and how the audit log names them.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub actor: Actor,
}

impl Caller {
    pub fn of(user: &UserRecord) -> Caller {
        Caller {
            principal: crate::auth::principal_of(user),
            actor: crate::auth::actor_of(user),
        }
    }

    /// An audit-log entry by this caller.
    pub fn activity(&self, activity_type: ActivityType, details: Value) -> Activity {
        Activity {
            actor: self.actor.clone(),
            activity_type,
            details,
        }
    }

    pub fn require_read(&self, scope: Scope) -> Result<(), ServiceError> {
        allow(
            self.principal.can_read(scope),
            "Your role doesn't show this.",
        )
    }

    pub fn require_write(&self, scope: Scope) -> Result<(), ServiceError> {
        allow(
            self.principal.can_write(scope),
            "Your role doesn't allow this change.",
        )
    }

    /// Before an upload's file is read: the target scope when the form named
    /// it already, else any scope this caller may change.
    pub fn require_upload(&self, scope: Option<Scope>) -> Result<(), ServiceError> {
        match scope {
            Some(scope) => self.require_write(scope),
            None => allow(
                self.principal.can_write_anywhere(),
                "Your role doesn't allow this change.",
            ),
        }
    }

    pub fn require_global_admin(&self) -> Result<(), ServiceError> {
        allow(
            self.principal.is_global_admin(),
            "Only global admins can do this.",
        )
    }

    pub fn require_team_admin(&self, team: TeamId) -> Result<(), ServiceError> {
        allow(
            self.principal.can_administer_team(team),
            "Your role doesn't allow changing this team.",
        )
    }
}

pub(crate) fn allow(allowed: bool, reason: &'static str) -> Result<(), ServiceError> {
    if allowed {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(reason))
    }
}

/// The longest a CPU-heavy parse (profiles, packages, GitOps runs) may take.
const PARSE_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs a CPU-heavy parse on the blocking pool, off the async workers,
/// within [`PARSE_BUDGET`]: past it the caller gets an error naming `field`
/// (the parse finishes on its own thread and its result is dropped; every
/// parser is bounded, so that thread is freed too).
pub async fn parse_off_the_workers<T: Send + 'static>(
    field: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> ServiceResult<T> {
    match tokio::time::timeout(PARSE_BUDGET, tokio::task::spawn_blocking(work)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) => Err(ServiceError::Internal),
        Err(_) => Err(ServiceError::invalid(
            field,
            "took too long to read: it is too large or too complex",
        )),
    }
}

/// Why a use case did not happen. Front doors render it: the API as Fleet's
/// error body, the console as a page or a message next to a field.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("wrong email or password")]
    Unauthenticated,
    #[error("{0} was not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Well-formed input that breaks a rule; each field named.
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// An agent's key or enroll secret is unknown: it must enroll again.
    #[error("{0}")]
    NodeInvalid(&'static str),
    /// Too many failed attempts from this client; try again later.
    #[error("too many requests")]
    Throttled,
    /// The server or the database failed; logged where it happened.
    #[error("internal error")]
    Internal,
}

impl ServiceError {
    pub fn invalid(field: &str, reason: impl Into<String>) -> ServiceError {
        ServiceError::Invalid(ValidationErrors::single(field, reason))
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => ServiceError::NotFound(what.to_string()),
            StoreError::Conflict(msg) => ServiceError::Conflict(msg),
            StoreError::Rejected(errors) => ServiceError::Invalid(errors),
            other => {
                tracing::error!(error = %other, "storage failure");
                ServiceError::Internal
            }
        }
    }
}

impl From<ValidationErrors> for ServiceError {
    fn from(errors: ValidationErrors) -> Self {
        ServiceError::Invalid(errors)
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// A blob store failure: logged here, an internal error to the caller.
pub(crate) fn blob_error(err: std::io::Error) -> ServiceError {
    tracing::error!(error = %err, "blob store");
    ServiceError::Internal
}
