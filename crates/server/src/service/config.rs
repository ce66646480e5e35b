//! Org settings (`GET/PATCH /config`, the console's switches) and the rules
//! their parts follow wherever they are set.

use super::{Caller, ServiceError, ServiceResult};
use crate::AppState;
use flotilla_core::access::Scope;
use flotilla_core::activity::ActivityType;
use flotilla_core::settings::OrgSettings;
use flotilla_core::ValidationErrors;
use flotilla_store::MsIntegration;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// Top-level settings keys a settings patch takes.
const SETTINGS_KEYS: &[&str] = &[
    "org_info",
    "server_settings",
    "integrations",
    "agent_options",
    "fleet_desktop",
];
const ORG_INFO_KEYS: &[&str] = &[
    "org_name",
    "org_logo_url",
    "org_logo_url_light_background",
    "contact_url",
];

/// A server URL must be absolute http(s) so agents and Microsoft can reach it.
pub fn check_server_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| "server URL must start with https:// or http://".to_string())?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err("server URL must name a host".into());
    }
    Ok(())
}

/// Integration switches are booleans; the error names the key.
pub fn check_integrations(integrations: &Map<String, Value>, errors: &mut ValidationErrors) {
    if let Some(value) = integrations.get("conditional_access_enabled") {
        if !value.is_boolean() {
            errors.add(
                "integrations.conditional_access_enabled",
                "must be true or false",
            );
        }
    }
}

/// Agent options carry osquery's options as an object under `config`, and
/// orbit's parts under Fleet's names.
pub fn check_agent_options(options: &Value, errors: &mut ValidationErrors) {
    if let Some(config) = options.get("config") {
        if !config.is_object() {
            errors.add(
                "agent_options.config",
                "must be an object of osquery options",
            );
        }
    }
    for key in ["command_line_flags", "extensions", "overrides"] {
        if options
            .get(key)
            .is_some_and(|v| !v.is_object() && !v.is_null())
        {
            errors.add(&format!("agent_options.{key}"), "must be an object");
        }
    }
    if let Some(channels) = options.get("update_channels").filter(|v| !v.is_null()) {
        let valid = channels.as_object().is_some_and(|c| {
            c.iter().all(|(name, channel)| {
                ["orbit", "osqueryd", "desktop"].contains(&name.as_str()) && channel.is_string()
            })
        });
        if !valid {
            errors.add(
                "agent_options.update_channels",
                "must name channels (strings) for orbit, osqueryd or desktop",
            );
        }
    }
    if let Some(timeout) = options
        .get("script_execution_timeout")
        .filter(|v| !v.is_null())
    {
        if !timeout
            .as_i64()
            .is_some_and(|t| (0..=3600 * 5).contains(&t))
        {
            errors.add(
                "agent_options.script_execution_timeout",
                "must be a number of seconds from 0 to 18000",
            );
        }
    }
}

/// The org settings a new installation starts with.
pub fn initial_settings(org_name: &str, org_logo_url: &str, server_url: &str) -> OrgSettings {
    OrgSettings::initial(
        org_name,
        org_logo_url,
        server_url,
        crate::agent::default_agent_config_value(),
    )
}

/// The org settings as one caller may see them, with the Entra connection.
pub struct OrgView {
    pub settings: OrgSettings,
    pub integration: Option<MsIntegration>,
}

/// The org settings as the caller may see them, with the conditional access state.
pub async fn get(state: &AppState, caller: &Caller) -> ServiceResult<OrgView> {
    let mut settings = state.store.org_settings().await?.unwrap_or_default();
    // Only admins and maintainers see how agents are configured.
    if !caller.principal.can_write(Scope::Global) {
        settings.agent_options = None;
    }
    Ok(OrgView {
        settings,
        integration: state.store.ms_integration().await?,
    })
}

/// The configured server URL ("" before setup).
pub async fn server_url(state: &AppState) -> ServiceResult<String> {
    Ok(state
        .store
        .org_settings()
        .await?
        .map(|org| org.server_settings.server_url)
        .unwrap_or_default())
}

fn validate_patch(patch: &Map<String, Value>) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::default();
    for (key, value) in patch {
        if !SETTINGS_KEYS.contains(&key.as_str()) {
            errors.add(
                key,
                format!(
                    "unknown setting; valid settings are {}",
                    SETTINGS_KEYS.join(", ")
                ),
            );
            continue;
        }
        if !value.is_object() {
            errors.add(key, "must be an object");
        }
    }
    if let Some(Value::Object(org)) = patch.get("org_info") {
        for (key, value) in org {
            if !ORG_INFO_KEYS.contains(&key.as_str()) {
                errors.add(&format!("org_info.{key}"), "unknown setting");
            } else if !value.is_string() {
                errors.add(&format!("org_info.{key}"), "must be a string");
            }
        }
        if org
            .get("org_name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.trim().is_empty())
        {
            errors.add("org_info.org_name", "organization name must not be empty");
        }
    }
    if let Some(url) = patch
        .get("server_settings")
        .and_then(|s| s.get("server_url"))
    {
        match url.as_str() {
            Some(url) => {
                if let Err(reason) = check_server_url(url) {
                    errors.add("server_settings.server_url", reason);
                }
            }
            None => errors.add("server_settings.server_url", "must be a string"),
        }
    }
    if let Some(options) = patch.get("agent_options") {
        check_agent_options(options, &mut errors);
    }
    if let Some(Value::Object(integrations)) = patch.get("integrations") {
        check_integrations(integrations, &mut errors);
    }
    errors.into_result()
}

/// Settings with a checked patch applied (see [`merge`]); a value of the
/// wrong type for a key Flotilla reads is refused.
pub(crate) fn patched<T: Serialize + DeserializeOwned>(
    current: &T,
    patch: &Map<String, Value>,
) -> ServiceResult<T> {
    let mut document = serde_json::to_value(current).map_err(|_| ServiceError::Internal)?;
    merge(&mut document, &Value::Object(patch.clone()));
    serde_json::from_value(document).map_err(|e| ServiceError::invalid("settings", e.to_string()))
}

/// Objects merge key by key; anything else replaces. `agent_options` is
/// replaced whole, as in Fleet.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                match target.get_mut(key) {
                    Some(existing)
                        if existing.is_object() && value.is_object() && key != "agent_options" =>
                    {
                        merge(existing, value)
                    }
                    _ => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// Applies a settings patch (global admins only); returns the new settings.
pub async fn modify(
    state: &AppState,
    caller: &Caller,
    patch: Map<String, Value>,
) -> ServiceResult<OrgView> {
    caller.require_global_admin()?;
    validate_patch(&patch)?;
    let current = state.store.org_settings().await?.unwrap_or_default();
    let settings = patched(&current, &patch)?;
    let activity = caller.activity(ActivityType::EditedOrgSettings, json!({}));
    state
        .store
        .save_org_settings(&settings, Some(activity))
        .await?;
    Ok(OrgView {
        settings,
        integration: state.store.ms_integration().await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_merge_objects_and_replace_agent_options() {
        let mut config = json!({"org_info": {"org_name": "A", "org_logo_url": "x"}, "agent_options": {"config": {"a": 1}, "overrides": {}}});
        merge(
            &mut config,
            &json!({"org_info": {"org_name": "B"}, "agent_options": {"config": {"b": 2}}}),
        );
        assert_eq!(
            config["org_info"],
            json!({"org_name": "B", "org_logo_url": "x"})
        );
        assert_eq!(config["agent_options"], json!({"config": {"b": 2}}));
    }

    #[test]
    fn unknown_and_mistyped_settings_are_named() {
        let patch = json!({"org_inf": {}, "server_settings": {"server_url": "ftp://x"}});
        let errors = validate_patch(patch.as_object().unwrap()).unwrap_err();
        let names: Vec<&str> = errors.0.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["org_inf", "server_settings.server_url"]);
    }

    #[test]
    fn server_urls_must_be_absolute() {
        assert!(check_server_url("https://flotilla.example.com").is_ok());
        assert!(check_server_url("http://127.0.0.1:8080").is_ok());
        assert!(check_server_url("flotilla.example.com").is_err());
        assert!(check_server_url("https://").is_err());
    }
}
