//! Host vitals: the detail queries sent to agents, and how their rows become
//! fields of the host record.

use crate::platform::{HostPlatform, PlatformSet};
use serde_json::{Map, Value};

/// One row of a query result, as osquery sends it (column → text).
pub type Row = Map<String, Value>;

/// A detail query: its wire name (after `fleet_detail_query_`), SQL, and who gets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetailQuery {
    pub name: &'static str,
    pub sql: &'static str,
    /// Sent first; the query runs only when this returns a row (a table that
    /// needs an extension, for example).
    pub discovery: Option<&'static str>,
    /// Empty: every platform.
    pub platforms: &'static str,
}

impl DetailQuery {
    /// Whether a host of this platform runs the query.
    pub fn runs_on(&self, host: &HostPlatform) -> bool {
        PlatformSet::parse(self.platforms).is_ok_and(|set| set.targets_host(host))
    }
}

/// The vitals every host reports.
pub const DETAIL_QUERIES: &[DetailQuery] = &[
    DetailQuery {
        name: "os_version",
        sql: "SELECT * FROM os_version LIMIT 1;",
        discovery: None,
        platforms: "",
    },
    DetailQuery {
        name: "osquery_info",
        sql: "SELECT * FROM osquery_info LIMIT 1;",
        discovery: None,
        platforms: "",
    },
    DetailQuery {
        name: "system_info",
        sql: "SELECT * FROM system_info LIMIT 1;",
        discovery: None,
        platforms: "",
    },
    DetailQuery {
        name: "uptime",
        sql: "SELECT * FROM uptime LIMIT 1;",
        discovery: None,
        platforms: "",
    },
    DetailQuery {
        // fleetd's own table: orbit's and Fleet Desktop's versions, and
        // whether scripts may run. Plain osquery hosts don't have it.
        name: "orbit_info",
        sql: "SELECT version, desktop_version, scripts_enabled FROM orbit_info;",
        discovery: Some(
            "SELECT 1 FROM osquery_registry WHERE active = true AND registry = 'table' AND name = 'orbit_info';",
        ),
        platforms: "",
    },
    DetailQuery {
        // The `mdm` table comes with the macadmins extension that fleetd ships.
        name: "mdm",
        sql: "SELECT enrolled, server_url, installed_from_dep, payload_identifier FROM mdm;",
        discovery: Some(
            "SELECT 1 FROM osquery_registry WHERE active = true AND registry = 'table' AND name = 'mdm';",
        ),
        platforms: "darwin",
    },
];

/// Platform SSO's registration of the Mac with Entra: the Entra device id and
/// the user. Sent only to hosts whose team has conditional access on.
pub const ENTRA_IDENTITY_QUERY: DetailQuery = DetailQuery {
    name: "conditional_access_microsoft_device_id",
    sql: "SELECT * FROM app_sso_platform WHERE extension_identifier = 'com.microsoft.CompanyPortalMac.ssoextension' AND realm = 'KERBEROS.MICROSOFTONLINE.COM';",
    discovery: Some(
        "SELECT 1 FROM osquery_registry WHERE active = true AND registry = 'table' AND name = 'app_sso_platform';",
    ),
    platforms: "darwin",
};

/// The detail queries a host of this platform is sent.
pub fn detail_queries_for(
    host_platform: &HostPlatform,
) -> impl Iterator<Item = &'static DetailQuery> + '_ {
    DETAIL_QUERIES
        .iter()
        .filter(move |q| host_platform.is_unknown() || q.runs_on(host_platform))
}

/// MDM enrollment state as the `mdm` detail query reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdmState {
    pub enrolled: bool,
    pub server_url: String,
    pub installed_from_dep: bool,
}

/// Fields of the host record that detail results change. `None`: not reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VitalsUpdate {
    pub hostname: Option<String>,
    pub computer_name: Option<String>,
    pub hardware_serial: Option<String>,
    pub hardware_model: Option<String>,
    pub platform: Option<String>,
    pub os_version: Option<String>,
    pub osquery_version: Option<String>,
    pub uptime_secs: Option<i64>,
    pub mdm: Option<MdmState>,
    pub orbit: Option<OrbitInfo>,
    /// What the host answered about its Entra registration, when it was asked.
    pub entra_identity: Option<EntraAnswer>,
}

/// fleetd's `orbit_info` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrbitInfo {
    pub orbit_version: String,
    pub fleet_desktop_version: String,
    pub scripts_enabled: bool,
}

/// A host's answer to the Entra identity query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntraAnswer {
    /// Not registered with Entra (no Platform SSO registration).
    Unregistered,
    Registered(EntraRegistration),
}

impl EntraAnswer {
    pub fn registration(&self) -> Option<&EntraRegistration> {
        match self {
            EntraAnswer::Unregistered => None,
            EntraAnswer::Registered(registration) => Some(registration),
        }
    }
}

/// A Mac's Entra registration as Platform SSO reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraRegistration {
    pub device_id: String,
    pub user_principal_name: String,
}

fn text(row: &Row, column: &str) -> Option<String> {
    match row.get(column)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn truthy(row: &Row, column: &str) -> bool {
    matches!(
        text(row, column).as_deref(),
        Some("1" | "true" | "True" | "yes")
    )
}

/// "macOS 14.4.1" from os_version's `name` and `version`, as Fleet shows it.
fn os_display(row: &Row) -> Option<String> {
    let name = text(row, "name")?;
    let version = text(row, "version").or_else(|| {
        let parts: Vec<String> = ["major", "minor", "patch"]
            .iter()
            .filter_map(|c| text(row, c))
            .collect();
        (!parts.is_empty()).then(|| parts.join("."))
    });
    Some(match version {
        Some(v) => format!("{name} {v}"),
        None => name,
    })
}

impl VitalsUpdate {
    /// Folds one detail query's rows into the update. Unknown names are ignored.
    pub fn absorb(&mut self, query_name: &str, rows: &[Row]) {
        if query_name == ENTRA_IDENTITY_QUERY.name {
            let registration = rows.first().and_then(|row| {
                Some(EntraRegistration {
                    device_id: text(row, "device_id")?,
                    user_principal_name: text(row, "user_principal_name")?,
                })
            });
            self.entra_identity =
                Some(registration.map_or(EntraAnswer::Unregistered, EntraAnswer::Registered));
            return;
        }
        let Some(row) = rows.first() else {
            if query_name == "mdm" {
                // The table exists but reports nothing: not enrolled.
                self.mdm = Some(MdmState {
                    enrolled: false,
                    server_url: String::new(),
                    installed_from_dep: false,
                });
            }
            return;
        };
        match query_name {
            "os_version" => {
                self.os_version = os_display(row);
                self.platform = text(row, "platform");
            }
            "osquery_info" => self.osquery_version = text(row, "version"),
            "system_info" => {
                self.hostname = text(row, "hostname");
                self.computer_name = text(row, "computer_name");
                self.hardware_serial = text(row, "hardware_serial");
                self.hardware_model = text(row, "hardware_model");
            }
            "uptime" => {
                self.uptime_secs = text(row, "total_seconds").and_then(|s| s.parse().ok());
            }
            "orbit_info" => {
                self.orbit = Some(OrbitInfo {
                    orbit_version: text(row, "version").unwrap_or_default(),
                    fleet_desktop_version: text(row, "desktop_version").unwrap_or_default(),
                    scripts_enabled: truthy(row, "scripts_enabled"),
                });
            }
            "mdm" => {
                self.mdm = Some(MdmState {
                    enrolled: truthy(row, "enrolled"),
                    server_url: text(row, "server_url").unwrap_or_default(),
                    installed_from_dep: truthy(row, "installed_from_dep"),
                });
            }
            _ => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == VitalsUpdate::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Row {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn mdm_query_goes_to_macs_only() {
        let mac: Vec<&str> = detail_queries_for(&"darwin".into())
            .map(|q| q.name)
            .collect();
        let linux: Vec<&str> = detail_queries_for(&"ubuntu".into())
            .map(|q| q.name)
            .collect();
        assert!(mac.contains(&"mdm"));
        assert!(!linux.contains(&"mdm"));
        assert!(linux.contains(&"os_version"));
    }

    #[test]
    fn rows_become_vitals() {
        let mut update = VitalsUpdate::default();
        update.absorb(
            "os_version",
            &[row(
                json!({"name": "macOS", "version": "14.4.1", "platform": "darwin"}),
            )],
        );
        update.absorb(
            "system_info",
            &[row(json!({"hostname": "mac-1.local", "hardware_serial": "C02X", "hardware_model": "Mac14,2", "computer_name": "Mac 1"}))],
        );
        update.absorb("uptime", &[row(json!({"total_seconds": "3600"}))]);
        // fleetd's orbit_info, as osquery-perf's macOS template gives it.
        update.absorb(
            "orbit_info",
            &[row(
                json!({"version": "1.22.0", "desktop_version": "1.22.0", "scripts_enabled": "1"}),
            )],
        );
        update.absorb(
            "mdm",
            &[row(json!({"enrolled": "true", "server_url": "https://mdm.example.com", "installed_from_dep": "false"}))],
        );
        assert_eq!(update.os_version.as_deref(), Some("macOS 14.4.1"));
        assert_eq!(update.platform.as_deref(), Some("darwin"));
        assert_eq!(update.hardware_serial.as_deref(), Some("C02X"));
        assert_eq!(update.uptime_secs, Some(3600));
        let orbit = update.orbit.clone().unwrap();
        assert_eq!(orbit.orbit_version, "1.22.0");
        assert_eq!(orbit.fleet_desktop_version, "1.22.0");
        assert!(orbit.scripts_enabled);
        let mdm = update.mdm.unwrap();
        assert!(mdm.enrolled);
        assert_eq!(mdm.server_url, "https://mdm.example.com");
    }

    #[test]
    fn entra_identity_or_its_absence_is_recorded() {
        let mut update = VitalsUpdate::default();
        update.absorb(
            ENTRA_IDENTITY_QUERY.name,
            &[row(
                json!({"device_id": "5f1c", "user_principal_name": "user1@contoso.com"}),
            )],
        );
        let answer = update.entra_identity.unwrap();
        let identity = answer.registration().unwrap();
        assert_eq!(identity.device_id, "5f1c");
        assert_eq!(identity.user_principal_name, "user1@contoso.com");
        let mut unregistered = VitalsUpdate::default();
        unregistered.absorb(ENTRA_IDENTITY_QUERY.name, &[]);
        assert_eq!(unregistered.entra_identity, Some(EntraAnswer::Unregistered));
    }

    #[test]
    fn empty_mdm_answer_means_not_enrolled() {
        let mut update = VitalsUpdate::default();
        update.absorb("mdm", &[]);
        assert_eq!(update.mdm.map(|m| m.enrolled), Some(false));
        let mut other = VitalsUpdate::default();
        other.absorb("os_version", &[]);
        assert!(other.is_empty());
    }
}
