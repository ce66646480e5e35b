//! Org and team settings. The parts Flotilla reads are typed; every other key
//! (Fleet sections this version does not use, keys a newer version wrote) is
//! kept as it came, so saving the settings never drops what an admin set.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The org settings (`GET/PATCH /config`, GitOps' `org_settings`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrgSettings {
    #[serde(default)]
    pub org_info: OrgInfo,
    #[serde(default)]
    pub server_settings: ServerSection,
    #[serde(default)]
    pub integrations: Integrations,
    #[serde(default)]
    pub fleet_desktop: FleetDesktopSettings,
    /// osquery's options for agents (`config`, `overrides`, orbit's keys), passed on as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_options: Option<Value>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrgInfo {
    pub org_name: String,
    pub org_logo_url: String,
    pub org_logo_url_light_background: String,
    pub contact_url: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerSection {
    /// Where agents, browsers and Microsoft reach this server.
    pub server_url: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Fleet Desktop's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FleetDesktopSettings {
    /// Where the tray's "About Fleet" goes; "" for Fleet's page.
    pub transparency_url: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Fleet's page on what Fleet Desktop can see, when the org sets none.
pub const DEFAULT_TRANSPARENCY_URL: &str = "https://fleetdm.com/transparency";

impl FleetDesktopSettings {
    pub fn transparency_url(&self) -> &str {
        if self.transparency_url.trim().is_empty() {
            DEFAULT_TRANSPARENCY_URL
        } else {
            &self.transparency_url
        }
    }
}

/// `integrations`, in the org settings and in each team's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Integrations {
    /// Whether this team's (or, in the org settings, "No team"'s) hosts are reported to Entra.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conditional_access_enabled: Option<bool>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Integrations {
    pub fn conditional_access(&self) -> bool {
        self.conditional_access_enabled == Some(true)
    }
}

/// A team's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TeamSettings {
    /// The team's own agent options; `None` (or null) uses the org's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_options: Option<Value>,
    #[serde(default)]
    pub integrations: Integrations,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl OrgSettings {
    /// The settings a new installation starts with.
    pub fn initial(
        org_name: &str,
        org_logo_url: &str,
        server_url: &str,
        agent_config: Value,
    ) -> Self {
        OrgSettings {
            org_info: OrgInfo {
                org_name: org_name.to_string(),
                org_logo_url: org_logo_url.to_string(),
                ..OrgInfo::default()
            },
            server_settings: ServerSection {
                server_url: server_url.to_string(),
                ..ServerSection::default()
            },
            agent_options: Some(serde_json::json!({ "config": agent_config })),
            ..OrgSettings::default()
        }
    }

    /// The org's agent options, when set (null counts as unset).
    pub fn agent_options(&self) -> Option<&Value> {
        self.agent_options.as_ref().filter(|o| !o.is_null())
    }
}

impl TeamSettings {
    /// The team's own agent options, when set (null counts as unset).
    pub fn agent_options(&self) -> Option<&Value> {
        self.agent_options.as_ref().filter(|o| !o.is_null())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_survive_a_round_trip() {
        let stored = json!({
            "org_info": {"org_name": "Contoso", "org_logo_url": "", "org_logo_url_light_background": "", "contact_url": "", "custom": 1},
            "server_settings": {"server_url": "https://fleet.contoso.com", "live_query_disabled": true},
            "integrations": {"conditional_access_enabled": true, "jira": []},
            "fleet_desktop": {"transparency_url": ""},
            "features": {"enable_host_users": false},
        });
        let settings: OrgSettings = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(settings.org_info.org_name, "Contoso");
        assert!(settings.integrations.conditional_access());
        assert_eq!(
            settings.other["features"],
            json!({"enable_host_users": false})
        );
        assert_eq!(serde_json::to_value(&settings).unwrap(), stored);
    }

    #[test]
    fn a_team_without_settings_uses_the_orgs_agent_options() {
        let team: TeamSettings = serde_json::from_value(json!({"agent_options": null})).unwrap();
        assert!(team.agent_options().is_none());
        assert!(!team.integrations.conditional_access());
        let team: TeamSettings = serde_json::from_value(json!({})).unwrap();
        assert_eq!(team, TeamSettings::default());
    }

    #[test]
    fn a_mistyped_known_key_is_refused() {
        let wrong = json!({"org_info": {"org_name": 7}});
        assert!(serde_json::from_value::<OrgSettings>(wrong).is_err());
        let wrong = json!({"integrations": {"conditional_access_enabled": "yes"}});
        assert!(serde_json::from_value::<TeamSettings>(wrong).is_err());
    }
}
