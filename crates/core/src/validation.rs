//! Input validation shared by every way of changing objects (API, GitOps, console).

use crate::platform::{Platform, PlatformSet};
use crate::targeting::LabelMembership;
use serde::Serialize;

/// One invalid field: Fleet's `errors[{name, reason}]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub name: String,
    pub reason: String,
}

/// Every problem found in one input, reported together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn add(&mut self, name: &str, reason: impl Into<String>) {
        self.0.push(FieldError {
            name: name.to_string(),
            reason: reason.into(),
        });
    }

    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// Adds `inner`'s errors, each field prefixed with `prefix`.
    pub fn nest(&mut self, prefix: &str, inner: ValidationErrors) {
        for error in inner.0 {
            self.add(&format!("{prefix} {}", error.name), error.reason);
        }
    }

    /// The reasons alone, joined: for showing next to one field.
    pub fn reasons(&self) -> String {
        self.0
            .iter()
            .map(|e| e.reason.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn single(name: &str, reason: impl Into<String>) -> ValidationErrors {
        let mut errors = ValidationErrors::default();
        errors.add(name, reason);
        errors
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.name, e.reason))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}

/// Checks a policy the way Fleet does; returns the normalised platform list.
pub fn validate_policy(
    name: &str,
    query: &str,
    platform: &str,
    conditional_access_enabled: bool,
) -> Result<PlatformSet, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    if name.trim().is_empty() {
        errors.add("name", "policy name must not be empty");
    }
    check_name_length("name", name.trim(), &mut errors);
    if query.trim().is_empty() {
        errors.add("query", "policy query must not be empty");
    }
    let platforms = match PlatformSet::parse(platform) {
        Ok(set) => set,
        Err(unknown) => {
            errors.add(
                "platform",
                format!("unsupported platform \"{unknown}\"; use darwin, windows, linux or chrome"),
            );
            PlatformSet::default()
        }
    };
    if conditional_access_enabled
        && !platforms.is_all()
        && !platforms.contains(Platform::Darwin)
        && !platforms.contains(Platform::Windows)
    {
        errors.add(
            "conditional_access_enabled",
            "conditional access can only be enabled on darwin or windows policies",
        );
    }
    errors.into_result().map(|()| platforms)
}

/// Checks a label; returns its platform (every platform when none is given).
/// Fleet's labels name at most one platform.
pub fn validate_label(
    name: &str,
    query: &str,
    platform: &str,
    membership: LabelMembership,
) -> Result<PlatformSet, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    if let Err(e) = validate_label_name(name) {
        errors.0.extend(e.0);
    }
    let manual = membership == LabelMembership::Manual;
    if manual && !query.trim().is_empty() {
        errors.add("query", "a manual label has hosts, not a query");
    }
    if !manual && query.trim().is_empty() {
        errors.add("query", "a dynamic label needs a query");
    }
    let platform = platform.trim();
    let platforms = if platform.is_empty() {
        PlatformSet::default()
    } else {
        match Platform::from_target_name(platform) {
            Some(p) => PlatformSet::single(p),
            None => {
                errors.add(
                    "platform",
                    format!(
                        "unsupported platform \"{platform}\"; use darwin, windows, linux or chrome"
                    ),
                );
                PlatformSet::default()
            }
        }
    };
    errors.into_result().map(|()| platforms)
}

/// The longest name (of a team, label, policy, query or user) accepted.
pub const MAX_NAME_CHARS: usize = 255;

/// A name no longer than [`MAX_NAME_CHARS`].
pub fn check_name_length(field: &str, name: &str, errors: &mut ValidationErrors) {
    if name.chars().count() > MAX_NAME_CHARS {
        errors.add(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        );
    }
}

/// A label's name: required (trimmed). Returns the trimmed name.
pub fn validate_label_name(name: &str) -> Result<String, ValidationErrors> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ValidationErrors::single(
            "name",
            "label name must not be empty",
        ));
    }
    let mut errors = ValidationErrors::default();
    check_name_length("name", name, &mut errors);
    errors.into_result()?;
    Ok(name.to_string())
}

/// Names a team can't take: Fleet's pseudo-teams, in any case.
const RESERVED_TEAM_NAMES: &[&str] = &["no team", "all teams"];

/// A team's name: required, and not one of the reserved pseudo-team names.
/// Returns the trimmed name.
pub fn validate_team_name(name: &str) -> Result<String, ValidationErrors> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ValidationErrors::single(
            "name",
            "team name must not be empty",
        ));
    }
    let mut errors = ValidationErrors::default();
    check_name_length("name", name, &mut errors);
    errors.into_result()?;
    if RESERVED_TEAM_NAMES
        .iter()
        .any(|reserved| name.eq_ignore_ascii_case(reserved))
    {
        return Err(ValidationErrors::single(
            "name",
            format!("\"{name}\" is reserved"),
        ));
    }
    Ok(name.to_string())
}

/// An uploaded file's name as kept and shown: its last path segment,
/// without control characters, at most 255 bytes (cut on a character).
pub fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base.chars().filter(|c| !c.is_control()).collect();
    let mut cleaned = cleaned.trim().to_string();
    if cleaned == "." || cleaned == ".." {
        return String::new();
    }
    while cleaned.len() > MAX_NAME_CHARS {
        cleaned.pop();
    }
    cleaned
}

/// The shortest enroll secret accepted, as in Fleet.
pub const MIN_ENROLL_SECRET_LEN: usize = 8;

/// A set of enroll secrets: each at least 8 characters (trimmed), none twice.
/// Returns the trimmed secrets.
pub fn validate_enroll_secrets<'a>(
    secrets: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<String>, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let mut accepted: Vec<String> = Vec::new();
    for secret in secrets {
        let secret = secret.trim();
        if secret.chars().count() < MIN_ENROLL_SECRET_LEN {
            errors.add(
                "secrets",
                format!("each enroll secret must be at least {MIN_ENROLL_SECRET_LEN} characters"),
            );
        } else if accepted.iter().any(|s| s == secret) {
            errors.add("secrets", "enroll secrets must be unique");
        } else {
            accepted.push(secret.to_string());
        }
    }
    errors.into_result().map(|()| accepted)
}

/// Fleet's password rule: 12 to 48 characters with at least one number and one symbol.
pub fn validate_password(password: &str) -> Result<(), ValidationErrors> {
    let long_enough = (12..=48).contains(&password.chars().count());
    let has_digit = password.chars().any(|c| c.is_ascii_digit());
    let has_symbol = password
        .chars()
        .any(|c| !c.is_alphanumeric() && !c.is_whitespace());
    if long_enough && has_digit && has_symbol {
        Ok(())
    } else {
        Err(ValidationErrors::single(
            "password",
            "password must be 12 to 48 characters and contain at least one number and one symbol",
        ))
    }
}

/// A minimal shape check: one `@` with text on both sides and a dot in the domain.
pub fn validate_email(email: &str) -> Result<(), ValidationErrors> {
    let valid = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
    });
    if valid {
        Ok(())
    } else {
        Err(ValidationErrors::single(
            "email",
            "email address is not valid",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(platform: &str, ca: bool) -> Result<PlatformSet, ValidationErrors> {
        validate_policy("Disk encryption", "SELECT 1;", platform, ca)
    }

    #[test]
    fn conditional_access_needs_darwin_or_windows() {
        assert!(policy("darwin", true).is_ok());
        assert!(policy("windows,linux", true).is_ok());
        let err = policy("linux", true).unwrap_err();
        assert_eq!(err.0[0].name, "conditional_access_enabled");
        assert!(policy("linux", false).is_ok());
    }

    #[test]
    fn uploaded_file_names_are_cleaned() {
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("C:\\Users\\me\\App.pkg"), "App.pkg");
        assert_eq!(
            clean_file_name("Evil\r\nSet-Cookie: x.pkg"),
            "EvilSet-Cookie: x.pkg"
        );
        assert_eq!(clean_file_name(".."), "");
        let long = format!("{}.pkg", "é".repeat(300));
        let cleaned = clean_file_name(&long);
        assert!(cleaned.len() <= 255 && cleaned.starts_with('é'));
    }

    #[test]
    fn names_are_at_most_255_characters() {
        let long = "n".repeat(MAX_NAME_CHARS + 1);
        assert!(validate_team_name(&long).is_err());
        assert!(validate_label_name(&long).is_err());
        assert_eq!(
            validate_policy(&long, "SELECT 1;", "", false)
                .unwrap_err()
                .0[0]
                .name,
            "name"
        );
        assert!(validate_team_name(&"é".repeat(MAX_NAME_CHARS)).is_ok());
    }

    #[test]
    fn every_bad_field_is_reported() {
        let err = validate_policy(" ", "", "amiga", false).unwrap_err();
        let names: Vec<&str> = err.0.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["name", "query", "platform"]);
    }

    #[test]
    fn labels_are_dynamic_with_a_query_or_manual_without() {
        let dynamic = validate_label("Macs", "SELECT 1", "macOS", LabelMembership::Dynamic);
        assert_eq!(dynamic.unwrap(), PlatformSet::single(Platform::Darwin));
        let manual_with_query =
            validate_label("Macs", "SELECT 1", "darwin", LabelMembership::Manual);
        assert_eq!(manual_with_query.unwrap_err().0[0].name, "query");
        let manual = validate_label("Macs", "", "", LabelMembership::Manual);
        assert!(manual.unwrap().is_all());
    }

    #[test]
    fn team_names_are_required_and_not_reserved() {
        assert_eq!(validate_team_name("  Design ").unwrap(), "Design");
        assert!(validate_team_name(" ").is_err());
        for reserved in ["No team", "no TEAM", "All teams", "ALL TEAMS"] {
            let err = validate_team_name(reserved).unwrap_err();
            assert!(err.0[0].reason.contains("reserved"), "{reserved}: {err}");
        }
    }

    #[test]
    fn enroll_secrets_are_long_and_unique() {
        assert_eq!(
            validate_enroll_secrets([" abcdefgh ", "12345678"]).unwrap(),
            ["abcdefgh", "12345678"]
        );
        let short = validate_enroll_secrets(["short"]).unwrap_err();
        assert!(short.0[0].reason.contains("8 characters"));
        let twice = validate_enroll_secrets(["abcdefgh", "abcdefgh"]).unwrap_err();
        assert!(twice.0[0].reason.contains("unique"));
    }

    #[test]
    fn passwords_follow_fleets_rule() {
        assert!(validate_password("Correct-horse-1!").is_ok());
        assert!(validate_password("short-1!").is_err());
        assert!(validate_password("nodigitsbutlong!").is_err());
        assert!(validate_password("nosymbols12345678").is_err());
    }

    #[test]
    fn emails_need_a_domain() {
        assert!(validate_email("admin@example.com").is_ok());
        assert!(validate_email("admin").is_err());
        assert!(validate_email("@example.com").is_err());
    }
}
