//! Configuration profiles (.mobileconfig): what makes one acceptable.

use crate::validation::ValidationErrors;

/// Payload types the server must own itself: the MDM enrollment, and the
/// FileVault escrow that disk-encryption management sets up.
const RESERVED_PAYLOAD_TYPES: &[(&str, &str)] = &[
    (
        "com.apple.mdm",
        "the MDM enrollment payload is managed by Flotilla's own MDM enrollment",
    ),
    (
        "com.apple.security.FDERecoveryKeyEscrow",
        "FileVault key escrow is managed by disk encryption settings",
    ),
    (
        "com.apple.MCX.FileVault2",
        "FileVault is managed by disk encryption settings",
    ),
    (
        "com.apple.security.FDERecoveryRedirect",
        "FileVault key escrow is managed by disk encryption settings",
    ),
];

/// What the server keeps from a valid profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSummary {
    pub identifier: String,
    /// `PayloadDisplayName`, or the identifier when there is none.
    pub name: String,
    pub uuid: String,
    pub payload_types: Vec<String>,
}

/// Checks a .mobileconfig (XML or binary plist; signed profiles are not read here).
pub fn validate_mobileconfig(bytes: &[u8]) -> Result<ProfileSummary, ValidationErrors> {
    let field = "profile";
    // Bounded before any value tree is built: parsing and dropping a tree
    // recurse once per level.
    crate::plist_bounds::check(bytes).map_err(|reason| ValidationErrors::single(field, reason))?;
    let value = plist::Value::from_reader(std::io::Cursor::new(bytes))
        .map_err(|e| ValidationErrors::single(field, format!("not a property list: {e}")))?;
    let dict = value.as_dictionary().ok_or_else(|| {
        ValidationErrors::single(field, "the profile must be a dictionary at the top level")
    })?;
    let text = |key: &str| {
        dict.get(key)
            .and_then(plist::Value::as_string)
            .map(str::to_string)
    };
    let mut errors = ValidationErrors::default();
    let identifier = text("PayloadIdentifier").unwrap_or_default();
    if identifier.trim().is_empty() {
        errors.add(field, "PayloadIdentifier is missing");
    }
    if text("PayloadType").as_deref() != Some("Configuration") {
        errors.add(field, "PayloadType must be \"Configuration\"");
    }
    let uuid = text("PayloadUUID").unwrap_or_default();
    if uuid.trim().is_empty() {
        errors.add(field, "PayloadUUID is missing");
    }
    let mut payload_types = Vec::new();
    match dict.get("PayloadContent").and_then(plist::Value::as_array) {
        None => errors.add(field, "PayloadContent must be an array of payloads"),
        Some(payloads) => {
            for payload in payloads {
                let kind = payload
                    .as_dictionary()
                    .and_then(|p| p.get("PayloadType"))
                    .and_then(plist::Value::as_string)
                    .unwrap_or_default()
                    .to_string();
                if let Some((_, why)) = RESERVED_PAYLOAD_TYPES.iter().find(|(t, _)| *t == kind) {
                    errors.add(
                        field,
                        format!("payload type {kind} can't be in a custom profile: {why}"),
                    );
                }
                payload_types.push(kind);
            }
        }
    }
    errors.into_result()?;
    let name = text("PayloadDisplayName")
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| identifier.clone());
    Ok(ProfileSummary {
        identifier,
        name,
        uuid,
        payload_types,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(identifier: &str, kind: &str, payload: &str) -> Vec<u8> {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>PayloadContent</key><array><dict><key>PayloadType</key><string>{payload}</string></dict></array>
<key>PayloadDisplayName</key><string>Company Portal SSO</string>
<key>PayloadIdentifier</key><string>{identifier}</string>
<key>PayloadType</key><string>{kind}</string>
<key>PayloadUUID</key><string>9E8C2B3A-0F7D-4C55-8E0B-6E3E3E1F2A10</string>
</dict></plist>"#
        )
        .into_bytes()
    }

    #[test]
    fn a_configuration_profile_is_read() {
        let summary = validate_mobileconfig(&profile(
            "com.example.sso",
            "Configuration",
            "com.apple.extensiblesso",
        ))
        .unwrap();
        assert_eq!(summary.identifier, "com.example.sso");
        assert_eq!(summary.name, "Company Portal SSO");
        assert_eq!(summary.payload_types, ["com.apple.extensiblesso"]);
    }

    #[test]
    fn bad_profiles_say_why() {
        let reason = |bytes: &[u8]| {
            validate_mobileconfig(bytes).unwrap_err().0[0]
                .reason
                .clone()
        };
        assert!(reason(b"not a plist").contains("not a property list"));
        assert!(
            reason(&profile("x", "Something", "com.apple.extensiblesso")).contains("Configuration")
        );
        assert!(
            reason(&profile("", "Configuration", "com.apple.extensiblesso"))
                .contains("PayloadIdentifier")
        );
        assert!(reason(&profile("x", "Configuration", "com.apple.mdm")).contains("com.apple.mdm"));
    }
}
