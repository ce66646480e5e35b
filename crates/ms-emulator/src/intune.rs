//! Intune's partner sync services: PartnerTenants, PartnerCompliancePolicies
//! (+ Assign) on the tenant service, DataUploadMessages on the device service.

use crate::graph::{authorize, not_found, Refusal, INTUNE_SCOPE};
use crate::state::{stable_id, CompliancePolicy, Device, Emulator, Upload};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

/// `Name(guid'id')/Action` → (Name, Some(id), Some(Action)).
fn parse_resource(rest: &str) -> (String, Option<String>, Option<String>) {
    let (resource, action) = match rest.split_once('/') {
        Some((resource, action)) => (resource, Some(action.to_string())),
        None => (rest, None),
    };
    match resource.split_once("(guid'") {
        Some((name, id)) => (
            name.to_string(),
            Some(id.trim_end_matches("')").to_string()),
            action,
        ),
        None => (resource.to_string(), None, action),
    }
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": {"code": "BadRequest", "message": message}})),
    )
        .into_response()
}

/// Checks the Intune token and that it is for the tenant in the path.
fn check(emulator: &Emulator, headers: &HeaderMap, tenant: &str) -> Result<(), Refusal> {
    let world = emulator.lock();
    let token_tenant = authorize(&world, headers, INTUNE_SCOPE)?;
    if !token_tenant.eq_ignore_ascii_case(tenant) || world.tenant(tenant).is_none() {
        return Err(Refusal {
            status: StatusCode::FORBIDDEN,
            code: "Forbidden",
        });
    }
    Ok(())
}

pub async fn put(
    State(emulator): State<Arc<Emulator>>,
    Path((tenant, service, rest)): Path<(String, String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(refusal) = check(&emulator, &headers, &tenant) {
        return refusal.into_response();
    }
    let (resource, id, _) = parse_resource(&rest);
    match (service.as_str(), resource.as_str(), id) {
        ("tenant-sync", "PartnerTenants", Some(id)) => {
            if !id.eq_ignore_ascii_case(&tenant) {
                return bad_request("the partner tenant must be the caller's tenant");
            }
            let Some(provisioned) = body["Provisioned"].as_u64().filter(|p| matches!(p, 1 | 2))
            else {
                return bad_request("Provisioned must be 1 or 2");
            };
            let mut world = emulator.lock();
            let Some(t) = world.tenant_mut(&tenant) else {
                return not_found("Tenant");
            };
            t.provisioned = provisioned as u8;
            t.enrollment_url = body["PartnerEnrollmentUrl"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            t.remediation_url = body["PartnerRemediationUrl"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            StatusCode::NO_CONTENT.into_response()
        }
        ("device-sync", "DataUploadMessages", Some(id)) => {
            {
                let mut world = emulator.lock();
                world.uploads.insert(
                    id.clone(),
                    Upload {
                        tenant: tenant.clone(),
                        status: "Pending".into(),
                        error_detail: String::new(),
                    },
                );
            }
            let worker = emulator.clone();
            tokio::spawn(async move {
                tokio::time::sleep(worker.config.processing_delay).await;
                process_upload(&worker, &tenant, &id, &body);
            });
            (StatusCode::ACCEPTED, Json(json!({"Status": "Pending"}))).into_response()
        }
        _ => not_found("ResourceNotFound"),
    }
}

/// Applies an upload, or fails it with the reason Intune would give.
fn process_upload(emulator: &Emulator, tenant: &str, id: &str, body: &Value) {
    let outcome = apply_upload(emulator, tenant, body);
    let mut world = emulator.lock();
    if let Some(upload) = world.uploads.get_mut(id) {
        match outcome {
            Ok(()) => upload.status = "Completed".into(),
            Err(detail) => {
                upload.status = "Failed".into();
                upload.error_detail = detail;
            }
        }
    }
}

fn apply_upload(emulator: &Emulator, tenant_id: &str, body: &Value) -> Result<(), String> {
    let mut world = emulator.lock();
    let tenant = world.tenant(tenant_id).ok_or("unknown tenant")?;
    if tenant.provisioned != 1 {
        return Err("the partner is not provisioned for this tenant".into());
    }
    let content = body["Content"]
        .as_str()
        .ok_or("Content must be a JSON string")?;
    let entries: Value =
        serde_json::from_str(content).map_err(|e| format!("Content is not valid JSON: {e}"))?;
    let entries = entries
        .as_array()
        .ok_or("Content must be a JSON array")?
        .clone();
    // Validate everything before changing anything.
    for entry in &entries {
        match entry["EntityType"].as_u64() {
            Some(1) | Some(4) => {}
            other => return Err(format!("unknown EntityType {other:?}")),
        }
        let user = entry["UserId"].as_str().unwrap_or_default();
        if !tenant.has_user_id(user) {
            return Err(format!("unknown user {user}"));
        }
        let device = entry["DeviceId"].as_str().unwrap_or_default();
        if device.is_empty() {
            return Err("DeviceId is required".into());
        }
        if let Some(existing) = world.devices.get(device) {
            if existing.user_id != user && !existing.user_id.is_empty() {
                return Err(format!("device {device} is registered to another user"));
            }
        }
    }
    let upload_time = body["UploadTime"].as_str().unwrap_or_default().to_string();
    for entry in entries {
        let device_id = entry["DeviceId"].as_str().unwrap_or_default().to_string();
        let user_id = entry["UserId"].as_str().unwrap_or_default().to_string();
        // A device seen for the first time was registered by this user (Platform SSO).
        let device = world
            .devices
            .entry(device_id.clone())
            .or_insert_with(|| Device {
                device_id,
                tenant: tenant_id.to_string(),
                user_id: user_id.clone(),
                device_name: String::new(),
                os: String::new(),
                os_version: String::new(),
                management_state: String::new(),
                compliance_status: String::new(),
                last_update: String::new(),
                uploads: 0,
                is_managed: None,
                is_compliant: None,
            });
        device.user_id = user_id;
        match entry["EntityType"].as_u64() {
            Some(1) => {
                device.management_state = entry["DeviceManagementState"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                device.device_name = entry["DeviceName"].as_str().unwrap_or_default().to_string();
                device.os = entry["Os"].as_str().unwrap_or_default().to_string();
                device.os_version = entry["OsVersion"].as_str().unwrap_or_default().to_string();
                device.uploads += 1;
            }
            _ => {
                device.compliance_status = entry["complianceStatus"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            }
        }
        device.last_update = upload_time.clone();
    }
    Ok(())
}

pub async fn get(
    State(emulator): State<Arc<Emulator>>,
    Path((tenant, service, rest)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = check(&emulator, &headers, &tenant) {
        return refusal.into_response();
    }
    let (resource, id, _) = parse_resource(&rest);
    let world = emulator.lock();
    match (service.as_str(), resource.as_str(), id) {
        ("tenant-sync", "PartnerCompliancePolicies", None) => {
            let Some(t) = world.tenant(&tenant) else {
                return not_found("Tenant");
            };
            let value: Vec<Value> = t
                .policies
                .iter()
                .map(|p| json!({"Id": p.id, "DisplayName": p.display_name, "Platform": p.platform}))
                .collect();
            Json(json!({ "value": value })).into_response()
        }
        ("device-sync", "DataUploadMessages", Some(id)) => match world.uploads.get(&id) {
            Some(upload) if upload.tenant.eq_ignore_ascii_case(&tenant) => {
                Json(json!({"Id": id, "Status": upload.status, "ErrorDetail": upload.error_detail}))
                    .into_response()
            }
            _ => not_found("ResourceNotFound"),
        },
        _ => not_found("ResourceNotFound"),
    }
}

pub async fn post(
    State(emulator): State<Arc<Emulator>>,
    Path((tenant, service, rest)): Path<(String, String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(refusal) = check(&emulator, &headers, &tenant) {
        return refusal.into_response();
    }
    let (resource, id, action) = parse_resource(&rest);
    let mut world = emulator.lock();
    let Some(t) = world.tenant_mut(&tenant) else {
        return not_found("Tenant");
    };
    match (service.as_str(), resource.as_str(), id, action.as_deref()) {
        ("tenant-sync", "PartnerCompliancePolicies", None, None) => {
            if t.provisioned != 1 {
                return bad_request("the partner is not provisioned for this tenant");
            }
            let platform = body["Platform"].as_str().unwrap_or_default().to_string();
            if t.policies.iter().any(|p| p.platform == platform) {
                return (StatusCode::CONFLICT, Json(json!({"error": {"code": "Conflict", "message": "a partner compliance policy for this platform exists"}})))
                    .into_response();
            }
            let policy = CompliancePolicy {
                id: stable_id(&t.spec.id, &format!("policy:{platform}")),
                display_name: body["DisplayName"].as_str().unwrap_or_default().to_string(),
                platform,
                assignments: Vec::new(),
            };
            let id = policy.id.clone();
            t.policies.push(policy);
            (StatusCode::CREATED, Json(json!({"Id": id}))).into_response()
        }
        ("tenant-sync", "PartnerCompliancePolicies", Some(id), Some("Assign")) => {
            let groups: Vec<String> = body["assignments"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|g| g.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(unknown) = groups
                .iter()
                .find(|g| !t.groups.iter().any(|(_, id)| id == *g))
            {
                return bad_request(&format!("unknown group {unknown}"));
            }
            let Some(policy) = t.policies.iter_mut().find(|p| p.id == id) else {
                return not_found("ResourceNotFound");
            };
            policy.assignments = groups;
            StatusCode::NO_CONTENT.into_response()
        }
        _ => not_found("ResourceNotFound"),
    }
}
