//! What the store hands back: plain records, one per stored object.

use flotilla_core::access::{Role, Scope};
use flotilla_core::activity::ActivityType;
use flotilla_core::settings::TeamSettings;
pub use flotilla_core::targeting::LabelMembership;
use flotilla_core::targeting::LabelScope;
use flotilla_core::{
    HostId, HostPlatform, LabelId, PlatformSet, PolicyId, PolicyResponse, TeamId, UserId,
};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct TeamRecord {
    pub id: TeamId,
    pub name: String,
    pub description: String,
    pub settings: TeamSettings,
    pub created_at: i64,
    pub host_count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub global_role: Option<Role>,
    pub teams: Vec<(TeamId, Role)>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A new user as the store takes it; the password is already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub global_role: Option<Role>,
    pub teams: Vec<(TeamId, Role)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollSecret {
    pub secret: String,
    pub team_id: Option<TeamId>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRecord {
    pub id: HostId,
    pub uuid: String,
    pub osquery_host_id: String,
    pub team_id: Option<TeamId>,
    pub team_name: Option<String>,
    pub hostname: String,
    pub computer_name: String,
    pub hardware_serial: String,
    pub hardware_model: String,
    pub platform: HostPlatform,
    pub os_version: String,
    pub osquery_version: String,
    pub uptime_secs: i64,
    pub mdm_enrolled: Option<bool>,
    pub mdm_server_url: String,
    pub mdm_installed_from_dep: bool,
    pub detail_updated_at: Option<i64>,
    pub label_updated_at: Option<i64>,
    pub policy_updated_at: Option<i64>,
    pub refetch_requested: bool,
    pub seen_at: i64,
    pub last_enrolled_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Policies that currently fail on this host.
    pub failing_policies: i64,
    /// Set on a host that enrolled with this host's hardware UUID but gave
    /// no proof of being it.
    pub duplicate_of: Option<HostId>,
    /// The Entra registration the host last reported (Platform SSO).
    pub entra: Option<crate::EntraIdentity>,
    pub fleetd: FleetdFacts,
}

/// What fleetd reported about itself; empty for a plain osquery host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetdFacts {
    /// The capabilities orbit announced (`X-Fleet-Capabilities`).
    pub capabilities: Vec<String>,
    /// From fleetd's `orbit_info` table; `None` until it answered.
    pub orbit_version: Option<String>,
    pub fleet_desktop_version: Option<String>,
    pub scripts_enabled: Option<bool>,
    /// The end user's email orbit reported (`PUT /orbit/device_mapping`), "" if none.
    pub end_user_email: String,
}

impl FleetdFacts {
    /// Whether fleetd runs on the host (orbit enrolled or its table answered).
    pub fn present(&self) -> bool {
        !self.capabilities.is_empty() || self.orbit_version.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelType {
    /// Created by Flotilla ("All Hosts", one per platform); membership follows the platform.
    Builtin,
    Regular,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRecord {
    pub id: LabelId,
    pub name: String,
    pub description: String,
    pub query: String,
    /// Parsed once, where it is read from the database.
    pub platform: PlatformSet,
    pub label_type: LabelType,
    pub membership: LabelMembership,
    pub created_at: i64,
    pub updated_at: i64,
    pub host_count: i64,
}

/// A label as it is created or replaced.
#[derive(Debug, Clone)]
pub struct LabelSpec {
    pub name: String,
    pub description: String,
    pub query: String,
    pub platform: PlatformSet,
    pub membership: LabelMembership,
    /// For manual labels: the member hosts.
    pub hosts: Vec<HostId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecord {
    pub id: PolicyId,
    pub scope: Scope,
    pub name: String,
    pub query: String,
    pub description: String,
    pub resolution: String,
    /// Parsed once, where it is read from the database.
    pub platform: PlatformSet,
    pub critical: bool,
    pub calendar_events_enabled: bool,
    pub conditional_access_enabled: bool,
    pub author_id: Option<UserId>,
    pub author_name: String,
    pub author_email: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub passing_host_count: i64,
    pub failing_host_count: i64,
    /// The package installed where the policy fails: (title id, title).
    pub install_software: Option<(i64, String)>,
    /// Which hosts the policy is for, by label name.
    pub labels: LabelScope,
}

/// A policy as it is created or replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySpec {
    pub name: String,
    pub query: String,
    pub description: String,
    pub resolution: String,
    pub platform: String,
    pub critical: bool,
    pub calendar_events_enabled: bool,
    pub conditional_access_enabled: bool,
    /// A software title of the policy's team.
    pub install_software_id: Option<i64>,
}

/// One policy's result on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPolicy {
    pub policy: PolicyRecord,
    pub response: PolicyResponse,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRecord {
    pub id: i64,
    pub actor_id: Option<UserId>,
    pub actor_name: String,
    pub activity_type: String,
    pub details: Value,
    pub created_at: i64,
}

/// Who did something, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: Option<UserId>,
    pub name: String,
}

/// An audit-log entry to write in the same transaction as the change it records.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    pub actor: Actor,
    pub activity_type: ActivityType,
    pub details: Value,
}

pub(crate) fn scope_to_column(scope: Scope) -> Option<i64> {
    match scope {
        Scope::Global => None,
        Scope::NoTeam => Some(0),
        Scope::Team(team) => Some(team.0),
    }
}

pub(crate) fn scope_from_column(team_id: Option<i64>) -> Scope {
    match team_id {
        None => Scope::Global,
        Some(0) => Scope::NoTeam,
        Some(id) => Scope::Team(TeamId(id)),
    }
}
