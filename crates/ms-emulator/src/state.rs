//! The emulator's state: tenants (from the tenants file), tokens, partner
//! registrations, compliance policies, devices and uploads.

use crate::faults::Faults;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `--tenants` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantsFile {
    pub tenants: Vec<TenantSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSpec {
    pub id: String,
    #[serde(default)]
    pub groups: Vec<String>,
    /// `{n}` is replaced by 1..=user_count.
    #[serde(default = "default_users")]
    pub users: String,
    #[serde(default = "default_user_count")]
    pub user_count: u64,
    #[serde(default)]
    pub consent: Consent,
}

fn default_users() -> String {
    "user{n}@contoso.com".into()
}

fn default_user_count() -> u64 {
    100
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Consent {
    #[default]
    Grant,
    Refuse,
}

impl TenantsFile {
    pub fn from_yaml(text: &str) -> Result<TenantsFile, serde_norway::Error> {
        serde_norway::from_str(text)
    }
}

#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub client_id: String,
    pub client_secret: String,
    pub tenants: TenantsFile,
    pub token_lifetime: Duration,
    /// How long an upload stays Pending before it is processed.
    pub processing_delay: Duration,
    pub faults: Faults,
}

pub struct Token {
    pub tenant: String,
    pub scope: String,
    pub expires: Instant,
}

pub struct CompliancePolicy {
    pub id: String,
    pub display_name: String,
    pub platform: String,
    pub assignments: Vec<String>,
}

pub struct Tenant {
    pub spec: TenantSpec,
    /// Group display name → id.
    pub groups: Vec<(String, String)>,
    pub provisioned: u8,
    pub enrollment_url: String,
    pub remediation_url: String,
    pub policies: Vec<CompliancePolicy>,
}

impl Tenant {
    /// The user id of a user principal name, if the tenant has that user.
    pub fn user_id(&self, upn: &str) -> Option<String> {
        let (prefix, suffix) = self.spec.users.split_once("{n}")?;
        let upn = upn.to_lowercase();
        let n: u64 = upn
            .strip_prefix(&prefix.to_lowercase())?
            .strip_suffix(&suffix.to_lowercase())?
            .parse()
            .ok()?;
        (1..=self.spec.user_count)
            .contains(&n)
            .then(|| stable_id(&self.spec.id, &format!("user:{n}")))
    }

    pub fn has_user_id(&self, id: &str) -> bool {
        // User ids are derived from the user's number; look it up by number.
        (1..=self.spec.user_count).any(|n| stable_id(&self.spec.id, &format!("user:{n}")) == id)
    }
}

#[derive(Debug, Clone)]
pub struct Device {
    pub device_id: String,
    pub tenant: String,
    pub user_id: String,
    pub device_name: String,
    pub os: String,
    pub os_version: String,
    pub management_state: String,
    pub compliance_status: String,
    pub last_update: String,
    pub uploads: u64,
    pub is_managed: Option<bool>,
    pub is_compliant: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct Upload {
    pub tenant: String,
    pub status: String,
    pub error_detail: String,
}

pub struct World {
    pub tokens: HashMap<String, Token>,
    pub tenants: Vec<Tenant>,
    pub devices: HashMap<String, Device>,
    pub uploads: HashMap<String, Upload>,
    pub faults: Faults,
    /// (tenant, scope) pairs whose first token the "fresh token rejected
    /// once" fault has refused.
    pub rejected_once: std::collections::HashSet<(String, String)>,
}

pub struct Emulator {
    pub config: EmulatorConfig,
    pub base_url: String,
    pub world: Mutex<World>,
}

/// A GUID fixed by a namespace and a name, so ids stay the same across restarts.
pub fn stable_id(namespace: &str, name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut g: u64 = 0x8422_2325_cbf2_9ce4;
    for byte in namespace.bytes().chain([0]).chain(name.bytes()) {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        g = (g ^ u64::from(byte))
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(7);
    }
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        g >> 52,
        g & 0xffff_ffff_ffff
    )
}

impl Emulator {
    pub fn new(config: EmulatorConfig, base_url: String) -> Emulator {
        let tenants = config
            .tenants
            .tenants
            .iter()
            .map(|spec| Tenant {
                groups: spec
                    .groups
                    .iter()
                    .map(|g| (g.clone(), stable_id(&spec.id, &format!("group:{g}"))))
                    .collect(),
                spec: spec.clone(),
                provisioned: 0,
                enrollment_url: String::new(),
                remediation_url: String::new(),
                policies: Vec::new(),
            })
            .collect();
        let faults = config.faults.clone();
        Emulator {
            config,
            base_url,
            world: Mutex::new(World {
                tokens: HashMap::new(),
                tenants,
                devices: HashMap::new(),
                uploads: HashMap::new(),
                faults,
                rejected_once: Default::default(),
            }),
        }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, World> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl World {
    pub fn tenant(&self, id: &str) -> Option<&Tenant> {
        self.tenants
            .iter()
            .find(|t| t.spec.id.eq_ignore_ascii_case(id))
    }

    pub fn tenant_mut(&mut self, id: &str) -> Option<&mut Tenant> {
        self.tenants
            .iter_mut()
            .find(|t| t.spec.id.eq_ignore_ascii_case(id))
    }
}

pub async fn inspect(State(emulator): State<Arc<Emulator>>) -> Json<Value> {
    let world = emulator.lock();
    let tenants: Vec<Value> = world
        .tenants
        .iter()
        .map(|t| {
            json!({
                "id": t.spec.id,
                "provisioned": t.provisioned,
                "enrollment_url": t.enrollment_url,
                "remediation_url": t.remediation_url,
                "compliance_policies": t.policies.iter().map(|p| json!({
                    "id": p.id, "display_name": p.display_name, "platform": p.platform, "assignments": p.assignments
                })).collect::<Vec<_>>(),
                "assigned_groups": t.policies.iter().flat_map(|p| p.assignments.iter().map(|g| {
                    t.groups.iter().find(|(_, id)| id == g).map_or(g.clone(), |(name, _)| name.clone())
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut devices: Vec<&Device> = world.devices.values().collect();
    devices.sort_by(|a, b| a.device_id.cmp(&b.device_id));
    let devices: Vec<Value> = devices
        .iter()
        .map(|d| {
            json!({
                "device_id": d.device_id, "tenant_id": d.tenant, "user_id": d.user_id, "device_name": d.device_name,
                "os": d.os, "os_version": d.os_version,
                "management_state": d.management_state, "compliance_status": d.compliance_status,
                "is_managed": d.is_managed, "is_compliant": d.is_compliant,
                "last_update": d.last_update, "uploads": d.uploads
            })
        })
        .collect();
    let pending_uploads = world
        .uploads
        .values()
        .filter(|u| u.status == "Pending")
        .count();
    Json(json!({ "tenants": tenants, "devices": devices, "pending_uploads": pending_uploads }))
}
