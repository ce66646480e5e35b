//! The device API (My device, Fleet Desktop): keyed by the device token.

use super::admin::{Host, HostPolicyEntry};
use serde::Serialize;

/// A host as its own user sees it: with its policies.
#[derive(Debug, Serialize)]
pub struct DeviceHost {
    #[serde(flatten)]
    pub host: Host,
    pub policies: Vec<HostPolicyEntry>,
}

#[derive(Debug, Serialize)]
pub struct DeviceResponse {
    pub host: DeviceHost,
    pub org_logo_url: String,
    pub org_contact_url: String,
    pub self_service: bool,
}

#[derive(Debug, Serialize)]
pub struct DevicePoliciesResponse {
    pub policies: Vec<HostPolicyEntry>,
}
