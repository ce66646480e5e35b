//! Fleet's GitOps file format as written: every key Flotilla reads, every
//! Fleet key it knows but doesn't support yet (kept as raw values so the
//! run can name them), and nothing else — an unknown key is an error.

use serde::{Deserialize, Deserializer};
use serde_norway::Value as Yaml;

/// `key:` given with no value reads as an empty list or map, not as "absent".
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(
        Option::<T>::deserialize(deserializer)?.unwrap_or_default(),
    ))
}

/// A top-level file: `default.yml` (org-wide) or a team file (has `name`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopLevel {
    pub name: Option<String>,
    pub org_settings: Option<OrgSettings>,
    /// Deprecated spelling of `settings`.
    pub team_settings: Option<TeamSettings>,
    pub settings: Option<TeamSettings>,
    pub agent_options: Option<Yaml>,
    pub controls: Option<Controls>,
    #[serde(default, deserialize_with = "present")]
    pub policies: Option<Vec<PolicyEntry>>,
    /// Deprecated spelling of `reports`.
    #[serde(default, deserialize_with = "present")]
    pub queries: Option<Vec<QueryEntry>>,
    #[serde(default, deserialize_with = "present")]
    pub reports: Option<Vec<QueryEntry>>,
    #[serde(default, deserialize_with = "present")]
    pub labels: Option<Vec<LabelEntry>>,
    pub software: Option<Software>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgSettings {
    pub integrations: Option<OrgIntegrations>,
    pub server_settings: Option<serde_json::Map<String, serde_json::Value>>,
    pub org_info: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, deserialize_with = "present")]
    pub secrets: Option<Vec<Secret>>,
    // Fleet settings Flotilla doesn't have yet.
    pub features: Option<Yaml>,
    pub mdm: Option<Yaml>,
    pub sso_settings: Option<Yaml>,
    pub smtp_settings: Option<Yaml>,
    pub fleet_desktop: Option<Yaml>,
    pub host_expiry_settings: Option<Yaml>,
    pub activity_expiry_settings: Option<Yaml>,
    pub webhook_settings: Option<Yaml>,
    pub vulnerability_settings: Option<Yaml>,
    pub certificate_authorities: Option<Yaml>,
    pub yara_rules: Option<Yaml>,
    pub gitops: Option<Yaml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgIntegrations {
    pub conditional_access_enabled: Option<bool>,
    pub jira: Option<Yaml>,
    pub zendesk: Option<Yaml>,
    pub google_calendar: Option<Yaml>,
    pub ndes_scep_proxy: Option<Yaml>,
    pub digicert: Option<Yaml>,
    pub custom_scep_proxy: Option<Yaml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamSettings {
    pub integrations: Option<TeamIntegrations>,
    #[serde(default, deserialize_with = "present")]
    pub secrets: Option<Vec<Secret>>,
    pub features: Option<Yaml>,
    pub host_expiry_settings: Option<Yaml>,
    pub webhook_settings: Option<Yaml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamIntegrations {
    pub conditional_access_enabled: Option<bool>,
    pub google_calendar: Option<Yaml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    pub secret: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Controls {
    /// Also spelt `apple_settings`.
    pub macos_settings: Option<AppleSettings>,
    pub apple_settings: Option<AppleSettings>,
    pub scripts: Option<Yaml>,
    pub enable_disk_encryption: Option<Yaml>,
    pub macos_updates: Option<Yaml>,
    pub ios_updates: Option<Yaml>,
    pub ipados_updates: Option<Yaml>,
    pub windows_updates: Option<Yaml>,
    pub windows_settings: Option<Yaml>,
    pub android_settings: Option<Yaml>,
    pub macos_setup: Option<Yaml>,
    pub setup_experience: Option<Yaml>,
    pub macos_migration: Option<Yaml>,
    pub windows_enabled_and_configured: Option<Yaml>,
    pub windows_migration_enabled: Option<Yaml>,
    pub windows_require_bitlocker_pin: Option<Yaml>,
    pub enable_turn_on_windows_mdm_manually: Option<Yaml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppleSettings {
    /// Also spelt `configuration_profiles`.
    #[serde(default, deserialize_with = "present")]
    pub custom_settings: Option<Vec<ProfileEntry>>,
    #[serde(default, deserialize_with = "present")]
    pub configuration_profiles: Option<Vec<ProfileEntry>>,
    pub declarations: Option<Yaml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileEntry {
    pub path: Option<String>,
    pub paths: Option<String>,
    #[serde(default)]
    pub labels_include_all: Vec<String>,
    #[serde(default)]
    pub labels_include_any: Vec<String>,
    #[serde(default)]
    pub labels_exclude_any: Vec<String>,
    /// Fleet's oldest spelling of `labels_include_all`.
    pub labels: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyEntry {
    pub path: Option<String>,
    pub paths: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub query: Option<String>,
    pub platform: Option<String>,
    pub resolution: Option<String>,
    pub critical: Option<bool>,
    pub calendar_events_enabled: Option<bool>,
    pub conditional_access_enabled: Option<bool>,
    pub install_software: Option<InstallSoftware>,
    #[serde(default)]
    pub labels_include_any: Vec<String>,
    #[serde(default)]
    pub labels_exclude_any: Vec<String>,
    pub run_script: Option<Yaml>,
    pub team_id: Option<Yaml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallSoftware {
    pub package_path: Option<String>,
    pub hash_sha256: Option<String>,
    pub app_store_id: Option<Yaml>,
    pub fleet_maintained_app_slug: Option<Yaml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryEntry {
    pub path: Option<String>,
    pub paths: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub query: Option<String>,
    pub platform: Option<String>,
    pub interval: Option<i64>,
    pub observer_can_run: Option<bool>,
    pub automations_enabled: Option<bool>,
    pub logging: Option<String>,
    pub min_osquery_version: Option<String>,
    /// Flotilla keeps no query results, so results are always discarded.
    #[serde(default, rename = "discard_data")]
    pub _discard_data: Option<bool>,
    #[serde(default)]
    pub labels_include_any: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelEntry {
    pub path: Option<String>,
    pub paths: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub query: Option<String>,
    pub platform: Option<String>,
    pub label_membership_type: Option<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    pub criteria: Option<Yaml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Software {
    #[serde(default, deserialize_with = "present")]
    pub packages: Option<Vec<PackageEntry>>,
    pub app_store_apps: Option<Yaml>,
    pub fleet_maintained_apps: Option<Yaml>,
}

/// A package in `software.packages`, or the whole of a package file that one names by `path`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageEntry {
    pub path: Option<String>,
    pub url: Option<String>,
    pub hash_sha256: Option<String>,
    pub install_script: Option<ScriptRef>,
    pub uninstall_script: Option<ScriptRef>,
    pub self_service: Option<bool>,
    #[serde(default)]
    pub labels_include_all: Vec<String>,
    #[serde(default)]
    pub labels_include_any: Vec<String>,
    #[serde(default)]
    pub labels_exclude_any: Vec<String>,
    pub pre_install_query: Option<Yaml>,
    pub post_install_script: Option<Yaml>,
    pub setup_experience: Option<Yaml>,
    // Shown in Fleet's self-service catalogue only; Flotilla has none yet.
    pub categories: Option<Yaml>,
    pub display_name: Option<Yaml>,
    pub icon: Option<Yaml>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptRef {
    pub path: String,
}

/// Values Fleet writes into exported files by default: they ask for nothing
/// beyond what Flotilla does, so they don't count as using the feature.
const FLEET_DEFAULTS: &[(&str, &str)] = &[
    ("enable_host_users", "true"),
    ("enable_software_inventory", "true"),
    ("interval", "24h0m0s"),
];

/// Is a value of an unsupported key set to something that would matter?
/// `false`, `0`, empty strings, lists and maps, and Fleet's exported
/// defaults change nothing.
pub fn is_set(value: &Option<Yaml>) -> bool {
    value.as_ref().is_some_and(matters)
}

fn matters(value: &Yaml) -> bool {
    match value {
        Yaml::Null | Yaml::Bool(false) => false,
        Yaml::Number(n) => n.as_f64() != Some(0.0),
        Yaml::String(s) => !s.is_empty(),
        Yaml::Sequence(s) => !s.is_empty(),
        Yaml::Mapping(m) => m.iter().any(|(key, value)| {
            let is_default = FLEET_DEFAULTS.iter().any(|(k, v)| {
                key.as_str() == Some(*k)
                    && serde_norway::from_str::<Yaml>(v).is_ok_and(|d| &d == value)
            });
            !is_default && matters(value)
        }),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> bool {
        is_set(&Some(serde_norway::from_str(text).unwrap()))
    }

    #[test]
    fn defaults_and_empty_values_are_not_uses_of_a_feature() {
        assert!(!set("null"));
        assert!(!set(
            "{enable_host_users: true, enable_software_inventory: true}"
        ));
        assert!(!set("{host_expiry_enabled: false, host_expiry_window: 0}"));
        assert!(!set("{interval: 24h0m0s, activities_webhook: {destination_url: '', enable_activities_webhook: false}}"));
        assert!(!set("{deadline: '', minimum_version: ''}"));
        assert!(set("{enable_sso: true}"));
        assert!(set("{interval: 1h}"));
        assert!(set("[{path: a.sh}]"));
        assert!(set("true"));
    }
}
