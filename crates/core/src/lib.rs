//! Flotilla's domain: the types every other crate speaks, and the rules that
//! decide what a host is asked, how its answers are read, and who may do what.
//! Nothing here does I/O, so every rule is tested on plain values.

pub mod access;
pub mod activity;
pub mod agent_config;
pub mod clock;
pub mod compliance;
pub mod detail;
pub mod gitops;
pub mod ids;
pub mod package;
pub mod platform;
pub mod plist_bounds;
pub mod profile;
pub mod query_name;
pub mod results;
pub mod schedule;
pub mod settings;
pub mod targeting;
pub mod validation;

pub use ids::{HostId, LabelId, PolicyId, TeamId, UserId};
pub use platform::{HostPlatform, Platform, PlatformSet};
pub use results::{LabelOutcome, PolicyResponse, QueryOutcome};
pub use validation::{FieldError, ValidationErrors};
