//! Microsoft Graph: the Intune service principal and its endpoints, users,
//! groups, and (Windows) devices.

use crate::faults::error_body;
use crate::state::{stable_id, Device, Emulator, World};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
pub const INTUNE_SCOPE: &str = "https://api.manage.microsoft.com//.default";
const INTUNE_APP_ID: &str = "0000000a-0000-0000-c000-000000000000";

pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    value.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}

/// A refused call: its status and Microsoft's error code.
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, Json(error_body(self.code))).into_response()
    }
}

fn unauthorized(code: &'static str) -> Refusal {
    Refusal {
        status: StatusCode::UNAUTHORIZED,
        code,
    }
}

pub fn not_found(code: &str) -> Response {
    (StatusCode::NOT_FOUND, Json(error_body(code))).into_response()
}

/// The tenant a valid, unexpired token of this scope was issued for.
pub fn authorize(world: &World, headers: &HeaderMap, scope: &str) -> Result<String, Refusal> {
    let token = bearer(headers).ok_or_else(|| unauthorized("InvalidAuthenticationToken"))?;
    let issued = world
        .tokens
        .get(&token)
        .ok_or_else(|| unauthorized("InvalidAuthenticationToken"))?;
    if Instant::now() >= issued.expires {
        return Err(unauthorized("ExpiredAuthenticationToken"));
    }
    if issued.scope != scope {
        return Err(unauthorized("InvalidAudience"));
    }
    Ok(issued.tenant.clone())
}

/// The quoted value in `name eq 'value'` or `key('value')`.
fn quoted(text: &str) -> Option<String> {
    let start = text.find('\'')? + 1;
    let end = text[start..].rfind('\'')? + start;
    Some(text[start..end].replace("''", "'"))
}

pub async fn get(
    State(emulator): State<Arc<Emulator>>,
    Path(rest): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let world = emulator.lock();
    let tenant_id = match authorize(&world, &headers, GRAPH_SCOPE) {
        Ok(tenant) => tenant,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(tenant) = world.tenant(&tenant_id) else {
        return not_found("Tenant");
    };
    let principal_id = stable_id(&tenant.spec.id, "intune-service-principal");
    let filter = query.get("$filter").cloned().unwrap_or_default();
    if rest == "servicePrincipals" {
        let value = if quoted(&filter).as_deref() == Some(INTUNE_APP_ID) {
            vec![
                json!({"id": principal_id, "appId": INTUNE_APP_ID, "displayName": "Microsoft Intune"}),
            ]
        } else {
            Vec::new()
        };
        return Json(json!({ "value": value })).into_response();
    }
    if rest == format!("servicePrincipals/{principal_id}/endPoints") {
        let base = format!("{}/intune/{}", emulator.base_url, tenant.spec.id);
        return Json(json!({"value": [
            {"providerName": "PartnerTenantDataSyncService", "uri": format!("{base}/tenant-sync")},
            {"providerName": "PartnerDeviceDataSyncService", "uri": format!("{base}/device-sync")},
        ]}))
        .into_response();
    }
    if rest == "groups" {
        let wanted = quoted(&filter);
        let value: Vec<Value> = tenant
            .groups
            .iter()
            .filter(|(name, _)| wanted.as_deref().is_none_or(|w| w == name))
            .map(|(name, id)| json!({"id": id, "displayName": name}))
            .collect();
        return Json(json!({ "value": value })).into_response();
    }
    if let Some(user) = rest.strip_prefix("users") {
        let upn = quoted(user)
            .or_else(|| user.strip_prefix('/').map(str::to_string))
            .unwrap_or_default();
        return match tenant.user_id(&upn) {
            Some(id) => Json(json!({"id": id, "userPrincipalName": upn})).into_response(),
            None => not_found("Request_ResourceNotFound"),
        };
    }
    not_found("Request_UnsupportedQuery")
}

/// `PATCH /v1.0/devices(deviceId='...')`: a Windows device's compliance.
pub async fn patch(
    State(emulator): State<Arc<Emulator>>,
    Path(rest): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut world = emulator.lock();
    let tenant = match authorize(&world, &headers, GRAPH_SCOPE) {
        Ok(tenant) => tenant,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(device_id) = rest.strip_prefix("devices").and_then(quoted) else {
        return not_found("Request_UnsupportedQuery");
    };
    let device = world
        .devices
        .entry(device_id.clone())
        .or_insert_with(|| Device {
            device_id,
            tenant: tenant.clone(),
            user_id: String::new(),
            device_name: String::new(),
            os: "Windows".into(),
            os_version: String::new(),
            management_state: String::new(),
            compliance_status: String::new(),
            last_update: String::new(),
            uploads: 0,
            is_managed: None,
            is_compliant: None,
        });
    if device.tenant != tenant {
        return not_found("Request_ResourceNotFound");
    }
    if let Some(name) = body["displayName"].as_str() {
        device.device_name = name.to_string();
    }
    if let Some(version) = body["operatingSystemVersion"].as_str() {
        device.os_version = version.to_string();
    }
    device.is_managed = body["isManaged"].as_bool().or(device.is_managed);
    device.is_compliant = body["isCompliant"].as_bool().or(device.is_compliant);
    device.management_state = if device.is_managed == Some(true) {
        "managed"
    } else {
        "notManaged"
    }
    .into();
    device.compliance_status = if device.is_compliant == Some(true) {
        "compliant"
    } else {
        "notCompliant"
    }
    .into();
    device.uploads += 1;
    StatusCode::NO_CONTENT.into_response()
}
