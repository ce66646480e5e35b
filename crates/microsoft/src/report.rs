//! The device report a compliance partner uploads for a Mac.

use serde_json::{json, Value};

/// One Mac's state, as uploaded to Intune's partner device sync service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceReport {
    pub tenant_id: String,
    pub device_id: String,
    pub device_name: String,
    /// The Entra object id of the device's user.
    pub user_id: String,
    pub os_version: String,
    pub managed: bool,
    pub compliant: bool,
    /// RFC 3339.
    pub last_check_in: String,
    /// RFC 3339: when the verdict was decided (Intune's `LastUpdateTime`,
    /// which orders a device's reports).
    pub decided_at: String,
    /// RFC 3339: when this upload is made.
    pub now: String,
}

impl DeviceReport {
    /// The `Content` array: an inventory entry (EntityType 1) and a compliance
    /// entry (EntityType 4).
    pub fn entries(&self) -> Value {
        json!([
            {
                "EntityType": 1,
                "TenantId": self.tenant_id,
                "DeviceManagementState": if self.managed { "managed" } else { "notManaged" },
                "DeviceId": self.device_id,
                "DeviceName": self.device_name,
                "UserId": self.user_id,
                "LastCheckInTime": self.last_check_in,
                "LastUpdateTime": self.decided_at,
                "Os": "macOS",
                "OsVersion": self.os_version,
                "EasIds": [],
                "State": 0
            },
            {
                "EntityType": 4,
                "TenantId": self.tenant_id,
                "DeviceId": self.device_id,
                "UserId": self.user_id,
                "LastUpdateTime": self.decided_at,
                "complianceStatus": if self.compliant { "compliant" } else { "notCompliant" }
            }
        ])
    }

    /// The DataUploadMessages body: `Content` is the entries as a JSON string.
    pub fn upload_body(&self) -> Value {
        json!({
            "TenantId": self.tenant_id,
            "UploadTime": self.now,
            "Content": self.entries().to_string(),
        })
    }
}

/// A Windows device's state, patched onto its Entra device object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsDeviceUpdate {
    pub device_id: String,
    pub display_name: String,
    pub os_version: String,
    pub managed: bool,
    pub compliant: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_a_json_string_of_two_entries() {
        let report = DeviceReport {
            tenant_id: "t".into(),
            device_id: "d".into(),
            device_name: "Mac".into(),
            user_id: "u".into(),
            os_version: "15.1".into(),
            managed: true,
            compliant: false,
            last_check_in: "2026-01-01T00:00:00Z".into(),
            decided_at: "2026-01-01T00:00:01Z".into(),
            now: "2026-01-01T00:00:02Z".into(),
        };
        let body = report.upload_body();
        let content: Value = serde_json::from_str(body["Content"].as_str().unwrap()).unwrap();
        assert_eq!(content[0]["EntityType"], 1);
        assert_eq!(content[0]["DeviceManagementState"], "managed");
        assert_eq!(content[1]["EntityType"], 4);
        assert_eq!(content[1]["complianceStatus"], "notCompliant");
    }
}
