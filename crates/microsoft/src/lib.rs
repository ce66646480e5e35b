//! The Microsoft side of conditional access, as an onboarded Intune compliance
//! partner calls it: client-credentials tokens, Intune endpoint discovery
//! through Graph, partner activation, the partner compliance policy and its
//! assignment, and device compliance reports.
//!
//! Every base URL is configurable, so the same client talks to Microsoft or to
//! Flotilla's emulator.

mod client;
mod error;
mod report;

pub use client::{MicrosoftClient, MicrosoftConfig, Scope, UploadStatus};
pub use error::MicrosoftError;
pub use report::{DeviceReport, WindowsDeviceUpdate};

/// Intune's application id, whose service principal lists the partner endpoints.
pub const INTUNE_APP_ID: &str = "0000000a-0000-0000-c000-000000000000";
