//! The device API (My device, Fleet Desktop): keyed by the device token.

use super::admin::{Host, HostPolicyEntry};
use flotilla_core::settings::OrgInfo;
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

/// `GET /device/{token}/desktop`: what Fleet Desktop's tray shows (Fleet's
/// `DesktopSummary`).
#[derive(Debug, Serialize)]
pub struct DesktopSummary {
    pub failing_policies_count: usize,
    pub self_service: bool,
    pub notifications: DesktopNotifications,
    pub config: DesktopConfig,
}

#[derive(Debug, Serialize, Default)]
pub struct DesktopNotifications {
    pub needs_mdm_migration: bool,
    pub renew_enrollment_profile: bool,
}

#[derive(Debug, Serialize)]
pub struct DesktopConfig {
    pub org_info: DesktopOrgInfo,
    pub mdm: DesktopMdm,
}

#[derive(Debug, Serialize)]
pub struct DesktopOrgInfo {
    pub org_name: String,
    pub org_logo_url: String,
    pub org_logo_url_light_background: String,
    pub contact_url: String,
}

impl From<&OrgInfo> for DesktopOrgInfo {
    fn from(org: &OrgInfo) -> DesktopOrgInfo {
        DesktopOrgInfo {
            org_name: org.org_name.clone(),
            org_logo_url: org.org_logo_url.clone(),
            org_logo_url_light_background: org.org_logo_url_light_background.clone(),
            contact_url: org.contact_url.clone(),
        }
    }
}

#[derive(Debug, Serialize, Default)]
pub struct DesktopMdm {
    pub macos_migration: MacosMigration,
}

/// MDM migration is not offered: Flotilla's own MDM comes later.
#[derive(Debug, Serialize, Default)]
pub struct MacosMigration {
    pub mode: String,
}
