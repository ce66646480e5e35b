//! Request bodies and query parameters the admin API takes, as Fleet's
//! clients send them. Absent fields take their defaults; unknown ones are ignored,
//! as Fleet does.

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
pub struct CreateTeamBody {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Deserialize)]
pub struct ModifyTeamBody {
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(flatten)]
    pub settings: Map<String, Value>,
}

#[derive(Deserialize)]
pub struct SecretEntry {
    #[serde(default)]
    pub secret: String,
}

#[derive(Deserialize)]
pub struct SecretsBody {
    pub secrets: Vec<SecretEntry>,
}

#[derive(Deserialize)]
pub struct GlobalSecretsBody {
    pub spec: SecretsBody,
}

#[derive(Deserialize)]
pub struct CreateLabelBody {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub query: String,
    #[serde(default)]
    pub platform: String,
    /// Fleet's "manual" or "dynamic"; a host list alone also makes a manual label.
    pub label_membership_type: Option<String>,
    /// Manual membership by hostname (or UUID, serial).
    pub hosts: Option<Vec<String>>,
    pub host_ids: Option<Vec<i64>>,
}

#[derive(Deserialize)]
pub struct ModifyLabelBody {
    pub name: Option<String>,
    pub description: Option<String>,
    pub hosts: Option<Vec<String>>,
    pub host_ids: Option<Vec<i64>>,
}

#[derive(Deserialize)]
pub struct TeamRoleBody {
    pub id: i64,
    pub role: String,
}

#[derive(Deserialize)]
pub struct CreateUserBody {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub password: String,
    pub global_role: Option<String>,
    #[serde(default)]
    pub teams: Vec<TeamRoleBody>,
}

#[derive(Deserialize)]
pub struct ModifyUserBody {
    pub global_role: Option<String>,
    pub teams: Option<Vec<TeamRoleBody>>,
}

#[derive(Deserialize)]
pub struct SetupAdminBody {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Deserialize, Default)]
pub struct SetupOrg {
    #[serde(default)]
    pub org_name: String,
    #[serde(default)]
    pub org_logo_url: String,
}

#[derive(Deserialize)]
pub struct SetupBody {
    pub admin: Option<SetupAdminBody>,
    #[serde(default)]
    pub org_info: SetupOrg,
    #[serde(default)]
    pub server_url: String,
}

#[derive(Deserialize)]
pub struct LoginBody {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
}

/// Every field optional, so one body serves create (defaults) and modify (current values).
#[derive(Deserialize, Default)]
pub struct PolicyBody {
    pub name: Option<String>,
    pub query: Option<String>,
    pub description: Option<String>,
    pub resolution: Option<String>,
    pub platform: Option<String>,
    pub critical: Option<bool>,
    pub calendar_events_enabled: Option<bool>,
    pub conditional_access_enabled: Option<bool>,
    /// Absent: unchanged; null: none; a number: the team's software title to install.
    #[serde(default, deserialize_with = "present")]
    pub software_title_id: Option<Value>,
}

#[derive(Deserialize)]
pub struct DeletePoliciesBody {
    pub ids: Vec<i64>,
}

/// Host filters; pagination comes separately as [`PageParams`] from the same query string.
#[derive(Deserialize, Default)]
pub struct HostListParams {
    pub team_id: Option<i64>,
    pub label_id: Option<i64>,
    pub policy_id: Option<i64>,
    pub policy_response: Option<String>,
    pub query: Option<String>,
}

#[derive(Deserialize)]
pub struct TransferBody {
    pub team_id: Option<i64>,
    pub hosts: Vec<i64>,
}

#[derive(Deserialize)]
pub struct ConnectBody {
    #[serde(default)]
    pub microsoft_tenant_id: String,
}

#[derive(Deserialize)]
pub struct ConsentReturn {
    #[serde(default)]
    pub tenant: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_description: String,
}

#[derive(Deserialize)]
pub struct InstallerParams {
    /// The installer's file name, for its title when it has no metadata.
    #[serde(default)]
    pub filename: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ProfileGetParams {
    pub alt: Option<String>,
}

/// Keeps an explicit `null` as `Some(Null)`, so it differs from an absent key.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// Pagination as Fleet takes it: `page` from 0, `per_page` (default 100, at most 10,000).
#[derive(Debug, Deserialize, Default)]
pub struct PageParams {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
    pub order_key: Option<String>,
    pub order_direction: Option<String>,
}

impl PageParams {
    pub fn page(&self) -> i64 {
        self.page.unwrap_or(0).max(0)
    }

    /// At most [`MAX_PER_PAGE`]: one request can't ask for the whole fleet's
    /// details at once.
    pub fn per_page(&self) -> i64 {
        self.per_page.unwrap_or(100).clamp(1, MAX_PER_PAGE)
    }
}

/// The largest page a list answers.
pub const MAX_PER_PAGE: i64 = 1000;

/// A `?team_id=` query parameter.
#[derive(Debug, Deserialize, Default)]
pub struct TeamParams {
    pub team_id: Option<i64>,
}
