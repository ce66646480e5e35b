//! The admin REST API's objects: users, teams, enroll secrets, hosts,
//! policies, labels, activities, and the envelopes Fleet wraps them in.

use super::{optional_timestamp, timestamp};
use flotilla_core::access::Scope;
use flotilla_core::compliance::EntraStatus;
use flotilla_core::settings::{Integrations, OrgInfo, OrgSettings};
use flotilla_store::{
    ActivityRecord, CarveRecord, EnrollSecret, EntraClaim, HostPolicy, HostRecord,
    IntegrationStatus, LabelMembership, LabelRecord, LabelType, MsIntegration, PolicyRecord,
    TeamRecord, UserRecord,
};
use serde::Serialize;
use serde_json::Value;

/// A host counts as online when it checked in within this many seconds.
const ONLINE_WINDOW_SECS: i64 = 120;

/// A Fleet object's team: `null` for global, 0 for "No team".
pub fn scope_team_id(scope: Scope) -> Option<i64> {
    match scope {
        Scope::Global => None,
        Scope::NoTeam => Some(0),
        Scope::Team(team) => Some(team.0),
    }
}

#[derive(Debug, Serialize)]
pub struct UserTeam {
    pub id: i64,
    pub name: String,
    pub role: &'static str,
}

#[derive(Debug, Serialize)]
pub struct User {
    pub id: i64,
    pub created_at: String,
    pub updated_at: String,
    pub name: String,
    pub email: String,
    pub global_role: Option<&'static str>,
    pub teams: Vec<UserTeam>,
    pub force_password_reset: bool,
    pub gravatar_url: String,
    pub sso_enabled: bool,
    pub api_only: bool,
}

impl User {
    /// A user, naming their teams from `team_names` (id, name).
    pub fn of(user: &UserRecord, team_names: &[(i64, String)]) -> User {
        let teams = user
            .teams
            .iter()
            .map(|(team, role)| UserTeam {
                id: team.0,
                name: team_names
                    .iter()
                    .find(|(id, _)| *id == team.0)
                    .map(|(_, n)| n.clone())
                    .unwrap_or_default(),
                role: role.as_str(),
            })
            .collect();
        User {
            id: user.id.0,
            created_at: timestamp(user.created_at),
            updated_at: timestamp(user.updated_at),
            name: user.name.clone(),
            email: user.email.clone(),
            global_role: user.global_role.map(|r| r.as_str()),
            teams,
            force_password_reset: false,
            gravatar_url: String::new(),
            sso_enabled: false,
            api_only: false,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Secret {
    pub secret: String,
    pub created_at: String,
    pub team_id: Option<i64>,
}

impl From<&EnrollSecret> for Secret {
    fn from(secret: &EnrollSecret) -> Secret {
        Secret {
            secret: secret.secret.clone(),
            created_at: timestamp(secret.created_at),
            team_id: secret.team_id.map(|t| t.0),
        }
    }
}

pub fn secrets(secrets: &[EnrollSecret]) -> Vec<Secret> {
    secrets.iter().map(Secret::from).collect()
}

#[derive(Debug, Serialize)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: String,
    pub host_count: i64,
    pub agent_options: Option<Value>,
    pub integrations: Integrations,
    pub secrets: Vec<Secret>,
}

impl Team {
    pub fn of(team: &TeamRecord, enroll_secrets: &[EnrollSecret]) -> Team {
        Team {
            id: team.id.0,
            name: team.name.clone(),
            description: team.description.clone(),
            created_at: timestamp(team.created_at),
            host_count: team.host_count,
            agent_options: team.settings.agent_options.clone(),
            integrations: team.settings.integrations.clone(),
            secrets: secrets(enroll_secrets),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct HostIssues {
    pub failing_policies_count: i64,
    pub total_issues_count: i64,
}

#[derive(Debug, Serialize)]
pub struct HostMdm {
    /// Fleet's wording: "On (automatic)", "On (manual)", "Off"; null when unknown.
    pub enrollment_status: Option<&'static str>,
    pub server_url: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Host {
    pub id: i64,
    pub uuid: String,
    pub osquery_host_id: String,
    pub hostname: String,
    pub computer_name: String,
    pub display_name: String,
    pub display_text: String,
    pub hardware_serial: String,
    pub hardware_model: String,
    pub platform: String,
    pub os_version: String,
    pub osquery_version: String,
    pub team_id: Option<i64>,
    pub team_name: Option<String>,
    pub status: &'static str,
    pub seen_time: String,
    pub last_enrolled_at: String,
    pub detail_updated_at: Option<String>,
    pub label_updated_at: Option<String>,
    pub policy_updated_at: Option<String>,
    pub refetch_requested: bool,
    /// Nanoseconds, as Fleet reports uptime.
    pub uptime: i64,
    pub created_at: String,
    pub updated_at: String,
    pub issues: HostIssues,
    pub mdm: HostMdm,
    /// fleetd's versions, from its `orbit_info` table (null on plain osquery).
    pub orbit_version: Option<String>,
    pub fleet_desktop_version: Option<String>,
    pub scripts_enabled: Option<bool>,
}

impl Host {
    /// A host as of `now` (which decides online or offline).
    pub fn of(host: &HostRecord, now: i64) -> Host {
        let display_name = if host.computer_name.is_empty() {
            host.hostname.clone()
        } else {
            host.computer_name.clone()
        };
        let enrollment_status = match host.mdm_enrolled {
            None => None,
            Some(false) => Some("Off"),
            Some(true) if host.mdm_installed_from_dep => Some("On (automatic)"),
            Some(true) => Some("On (manual)"),
        };
        Host {
            id: host.id.0,
            uuid: host.uuid.clone(),
            osquery_host_id: host.osquery_host_id.clone(),
            hostname: host.hostname.clone(),
            computer_name: host.computer_name.clone(),
            display_text: host.hostname.clone(),
            display_name,
            hardware_serial: host.hardware_serial.clone(),
            hardware_model: host.hardware_model.clone(),
            platform: host.platform.as_str().to_string(),
            os_version: host.os_version.clone(),
            osquery_version: host.osquery_version.clone(),
            team_id: host.team_id.map(|t| t.0),
            team_name: host.team_name.clone(),
            status: if now - host.seen_at <= ONLINE_WINDOW_SECS {
                "online"
            } else {
                "offline"
            },
            seen_time: timestamp(host.seen_at),
            last_enrolled_at: timestamp(host.last_enrolled_at),
            detail_updated_at: optional_timestamp(host.detail_updated_at),
            label_updated_at: optional_timestamp(host.label_updated_at),
            policy_updated_at: optional_timestamp(host.policy_updated_at),
            refetch_requested: host.refetch_requested,
            uptime: host.uptime_secs.saturating_mul(1_000_000_000),
            created_at: timestamp(host.created_at),
            updated_at: timestamp(host.updated_at),
            issues: HostIssues {
                failing_policies_count: host.failing_policies,
                total_issues_count: host.failing_policies,
            },
            mdm: HostMdm {
                enrollment_status,
                server_url: (!host.mdm_server_url.is_empty()).then(|| host.mdm_server_url.clone()),
            },
            orbit_version: host.fleetd.orbit_version.clone(),
            fleet_desktop_version: host.fleetd.fleet_desktop_version.clone(),
            scripts_enabled: host.fleetd.scripts_enabled,
        }
    }
}

/// One host's page: the host with its labels and policies.
#[derive(Debug, Serialize)]
pub struct HostDetail {
    #[serde(flatten)]
    pub host: Host,
    pub labels: Vec<HostLabel>,
    pub policies: Vec<HostPolicyEntry>,
    pub flotilla: HostExtras,
}

/// What Flotilla shows of a host beyond Fleet's fields, under a key of its
/// own so no Fleet client mistakes it for one of Fleet's.
#[derive(Debug, Serialize)]
pub struct HostExtras {
    /// The capabilities fleetd's orbit announced (empty for plain osquery).
    pub orbit_capabilities: Vec<String>,
    /// The host whose hardware UUID this one enrolled with, without proof.
    pub duplicate_of: Option<i64>,
    pub entra_identity: EntraIdentityView,
    /// Another host reporting this host's Entra device id, or this host
    /// reporting another's: such a report is not sent to Microsoft.
    pub entra_claims: Vec<EntraClaimView>,
}

#[derive(Debug, Serialize)]
pub struct EntraClaimView {
    pub claimant_host_id: i64,
    pub owner_host_id: i64,
    pub device_id: String,
    pub user_principal_name: String,
    pub claimed_at: String,
}

impl From<&EntraClaim> for EntraClaimView {
    fn from(claim: &EntraClaim) -> EntraClaimView {
        EntraClaimView {
            claimant_host_id: claim.claimant.0,
            owner_host_id: claim.owner.0,
            device_id: claim.device_id.clone(),
            user_principal_name: claim.upn.clone(),
            claimed_at: timestamp(claim.claimed_at),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct EntraIdentityView {
    /// `registered`, `not_registered`, `needs_fleetd` or `not_applicable`.
    pub status: &'static str,
    pub message: &'static str,
    pub device_id: Option<String>,
    pub user_principal_name: Option<String>,
}

impl HostExtras {
    pub fn of(host: &HostRecord, claims: &[EntraClaim]) -> HostExtras {
        let status = EntraStatus::of(&host.platform, host.fleetd.present(), host.entra.is_some());
        HostExtras {
            orbit_capabilities: host.fleetd.capabilities.clone(),
            duplicate_of: host.duplicate_of.map(|h| h.0),
            entra_identity: EntraIdentityView {
                status: status.as_str(),
                message: status.message(),
                device_id: host.entra.as_ref().map(|e| e.device_id.clone()),
                user_principal_name: host.entra.as_ref().map(|e| e.upn.clone()),
            },
            entra_claims: claims.iter().map(EntraClaimView::from).collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct LabelRef {
    pub name: String,
}

/// Fleet's `[{"name": ...}]` label lists; absent (null) when empty.
fn label_refs(names: &[String]) -> Option<Vec<LabelRef>> {
    (!names.is_empty()).then(|| names.iter().map(|n| LabelRef { name: n.clone() }).collect())
}

#[derive(Debug, Serialize)]
pub struct InstallSoftware {
    pub software_title_id: i64,
    pub name: String,
}

/// The fields a policy has wherever it is shown.
#[derive(Debug, Serialize)]
pub struct PolicyFields {
    pub id: i64,
    pub name: String,
    pub query: String,
    pub description: String,
    pub resolution: String,
    pub platform: String,
    pub team_id: Option<i64>,
    pub critical: bool,
    pub calendar_events_enabled: bool,
    pub conditional_access_enabled: bool,
    pub author_id: Option<i64>,
    pub author_name: String,
    pub author_email: String,
    pub created_at: String,
    pub updated_at: String,
    pub install_software: Option<InstallSoftware>,
    pub labels_include_any: Option<Vec<LabelRef>>,
    pub labels_exclude_any: Option<Vec<LabelRef>>,
}

impl From<&PolicyRecord> for PolicyFields {
    fn from(policy: &PolicyRecord) -> PolicyFields {
        PolicyFields {
            id: policy.id.0,
            name: policy.name.clone(),
            query: policy.query.clone(),
            description: policy.description.clone(),
            resolution: policy.resolution.clone(),
            platform: policy.platform.to_list_string(),
            team_id: scope_team_id(policy.scope),
            critical: policy.critical,
            calendar_events_enabled: policy.calendar_events_enabled,
            conditional_access_enabled: policy.conditional_access_enabled,
            author_id: policy.author_id.map(|a| a.0),
            author_name: policy.author_name.clone(),
            author_email: policy.author_email.clone(),
            created_at: timestamp(policy.created_at),
            updated_at: timestamp(policy.updated_at),
            install_software: policy
                .install_software
                .as_ref()
                .map(|(id, name)| InstallSoftware {
                    software_title_id: *id,
                    name: name.clone(),
                }),
            labels_include_any: label_refs(&policy.labels.labels_include_any),
            labels_exclude_any: label_refs(&policy.labels.labels_exclude_any),
        }
    }
}

/// A policy in a list: with its Fleet-wide passing and failing counts.
#[derive(Debug, Serialize)]
pub struct Policy {
    #[serde(flatten)]
    pub fields: PolicyFields,
    pub passing_host_count: i64,
    pub failing_host_count: i64,
}

impl From<&PolicyRecord> for Policy {
    fn from(policy: &PolicyRecord) -> Policy {
        Policy {
            fields: PolicyFields::from(policy),
            passing_host_count: policy.passing_host_count,
            failing_host_count: policy.failing_host_count,
        }
    }
}

/// A policy as it applies to one host: with that host's `response`
/// ("pass", "fail" or "" when unknown).
#[derive(Debug, Serialize)]
pub struct HostPolicyEntry {
    #[serde(flatten)]
    pub fields: PolicyFields,
    pub response: &'static str,
}

impl From<&HostPolicy> for HostPolicyEntry {
    fn from(entry: &HostPolicy) -> HostPolicyEntry {
        HostPolicyEntry {
            fields: PolicyFields::from(&entry.policy),
            response: entry.response.as_api_str(),
        }
    }
}

fn label_type(label: &LabelRecord) -> &'static str {
    match label.label_type {
        LabelType::Builtin => "builtin",
        LabelType::Regular => "regular",
    }
}

fn membership_type(label: &LabelRecord) -> &'static str {
    match label.membership {
        LabelMembership::Dynamic => "dynamic",
        LabelMembership::Manual => "manual",
    }
}

#[derive(Debug, Serialize)]
pub struct Label {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub query: String,
    pub platform: String,
    pub label_type: &'static str,
    pub label_membership_type: &'static str,
    pub created_at: String,
    pub updated_at: String,
    pub host_count: i64,
    pub count: i64,
    pub display_text: String,
}

impl From<&LabelRecord> for Label {
    fn from(label: &LabelRecord) -> Label {
        Label {
            id: label.id.0,
            name: label.name.clone(),
            description: label.description.clone(),
            query: label.query.clone(),
            platform: label.platform.to_list_string(),
            label_type: label_type(label),
            label_membership_type: membership_type(label),
            created_at: timestamp(label.created_at),
            updated_at: timestamp(label.updated_at),
            host_count: label.host_count,
            count: label.host_count,
            display_text: label.name.clone(),
        }
    }
}

/// A label as listed in a host's details.
#[derive(Debug, Serialize)]
pub struct HostLabel {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub label_type: &'static str,
    pub label_membership_type: &'static str,
}

impl From<&LabelRecord> for HostLabel {
    fn from(label: &LabelRecord) -> HostLabel {
        HostLabel {
            id: label.id.0,
            name: label.name.clone(),
            description: label.description.clone(),
            label_type: label_type(label),
            label_membership_type: membership_type(label),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Activity {
    pub id: i64,
    pub created_at: String,
    pub actor_id: Option<i64>,
    pub actor_full_name: String,
    #[serde(rename = "type")]
    pub activity_type: String,
    pub details: Value,
}

impl From<&ActivityRecord> for Activity {
    fn from(a: &ActivityRecord) -> Activity {
        Activity {
            id: a.id,
            created_at: timestamp(a.created_at),
            actor_id: a.actor_id.map(|u| u.0),
            actor_full_name: a.actor_name.clone(),
            activity_type: a.activity_type.clone(),
            details: a.details.clone(),
        }
    }
}

/// Converts a list of records.
pub fn all<'a, R: 'a, W: From<&'a R>>(records: &'a [R]) -> Vec<W> {
    records.iter().map(W::from).collect()
}

// Envelopes: Fleet wraps each object (or list) in a key named after it.

#[derive(Debug, Serialize)]
pub struct UserResponse {
    pub user: User,
}

#[derive(Debug, Serialize)]
pub struct UsersResponse {
    pub users: Vec<User>,
}

#[derive(Debug, Serialize)]
pub struct TeamResponse {
    pub team: Team,
}

#[derive(Debug, Serialize)]
pub struct TeamsResponse {
    pub teams: Vec<Team>,
}

#[derive(Debug, Serialize)]
pub struct SecretsResponse {
    pub secrets: Vec<Secret>,
}

#[derive(Debug, Serialize)]
pub struct GlobalSecretsSpec {
    pub secrets: Vec<Secret>,
}

#[derive(Debug, Serialize)]
pub struct GlobalSecretsResponse {
    pub spec: GlobalSecretsSpec,
}

#[derive(Debug, Serialize)]
pub struct HostsResponse {
    pub hosts: Vec<Host>,
}

#[derive(Debug, Serialize)]
pub struct HostResponse {
    pub host: HostDetail,
}

#[derive(Debug, Serialize)]
pub struct CountResponse {
    pub count: i64,
}

#[derive(Debug, Serialize)]
pub struct PolicyResponse {
    pub policy: Policy,
}

#[derive(Debug, Serialize)]
pub struct PoliciesResponse {
    pub policies: Vec<Policy>,
}

#[derive(Debug, Serialize)]
pub struct DeletedResponse {
    pub deleted: usize,
}

#[derive(Debug, Serialize)]
pub struct LabelResponse {
    pub label: Label,
}

#[derive(Debug, Serialize)]
pub struct LabelsResponse {
    pub labels: Vec<Label>,
}

#[derive(Debug, Serialize)]
pub struct ActivitiesResponse {
    pub activities: Vec<Activity>,
}

#[derive(Debug, Serialize)]
pub struct AvailableTeam {
    pub id: i64,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Serialize)]
pub struct SetupResponse {
    pub admin: User,
    pub org_info: OrgInfo,
    pub server_url: String,
    pub token: String,
}

#[derive(Debug, Serialize)]
pub struct LoginResponse {
    pub user: User,
    pub available_teams: Vec<AvailableTeam>,
    pub token: String,
}

#[derive(Debug, Serialize)]
pub struct MeResponse {
    pub user: User,
    pub available_teams: Vec<AvailableTeam>,
}

#[derive(Debug, Serialize)]
pub struct ConsentUrlResponse {
    pub microsoft_authentication_url: String,
}

#[derive(Debug, Serialize)]
pub struct ConditionalAccessStatus {
    pub configuration_completed: bool,
    pub setup_error: String,
}

/// The empty object Fleet answers changes with.
#[derive(Debug, Serialize, Default)]
pub struct Empty {}

/// `GET/PATCH /config`: the org settings (every stored key, Fleet's and
/// unknown ones alike) with the Entra connection's state.
#[derive(Debug, Serialize)]
pub struct ConfigResponse {
    #[serde(flatten)]
    pub settings: OrgSettings,
    pub conditional_access: ConditionalAccessSettings,
}

#[derive(Debug, Serialize)]
pub struct ConditionalAccessSettings {
    pub microsoft_entra_tenant_id: String,
    pub microsoft_entra_connection_configured: bool,
}

impl ConditionalAccessSettings {
    pub fn of(integration: Option<&MsIntegration>) -> ConditionalAccessSettings {
        ConditionalAccessSettings {
            microsoft_entra_tenant_id: integration.map(|i| i.tenant_id.clone()).unwrap_or_default(),
            microsoft_entra_connection_configured: integration
                .is_some_and(|i| i.status == IntegrationStatus::Active),
        }
    }
}

/// Fleet's host device mapping: the end users' emails and where each came from.
#[derive(Debug, Serialize)]
pub struct DeviceMappingResponse {
    pub host_id: i64,
    pub device_mapping: Vec<DeviceMapping>,
}

#[derive(Debug, Serialize)]
pub struct DeviceMapping {
    pub email: String,
    pub source: &'static str,
}

impl DeviceMappingResponse {
    pub fn of(host: &HostRecord) -> DeviceMappingResponse {
        let email = &host.fleetd.end_user_email;
        DeviceMappingResponse {
            host_id: host.id.0,
            device_mapping: if email.is_empty() {
                Vec::new()
            } else {
                vec![DeviceMapping {
                    email: email.clone(),
                    // Fleet's name for an email fleetd reports.
                    source: "custom",
                }]
            },
        }
    }
}

/// A file carve as Fleet's carve API shows it.
#[derive(Debug, Serialize)]
pub struct Carve {
    pub id: i64,
    pub created_at: String,
    pub host_id: i64,
    pub name: String,
    pub block_count: i64,
    pub block_size: i64,
    pub carve_size: i64,
    pub carve_id: String,
    pub request_id: String,
    pub session_id: String,
    pub expired: bool,
    pub max_block: i64,
    pub error: Option<String>,
}

impl From<&CarveRecord> for Carve {
    fn from(carve: &CarveRecord) -> Carve {
        Carve {
            id: carve.id,
            created_at: timestamp(carve.created_at),
            host_id: carve.host_id.0,
            name: carve.name.clone(),
            block_count: carve.block_count,
            block_size: carve.block_size,
            carve_size: carve.carve_size,
            carve_id: carve.carve_id.clone(),
            request_id: carve.request_id.clone(),
            session_id: carve.session_id.clone(),
            expired: false,
            max_block: carve.max_block,
            error: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CarvesResponse {
    pub carves: Vec<Carve>,
}

#[derive(Debug, Serialize)]
pub struct CarveResponse {
    pub carve: Carve,
}

#[derive(Debug, Serialize)]
pub struct CarveBlockResponse {
    pub data: String,
}
