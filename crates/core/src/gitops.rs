//! GitOps: the configuration a `flotilla gitops` run wants the server to hold,
//! what the server reports back, and the pure rule that turns "what is there"
//! and "what the files say" into creates, updates and deletes.
//!
//! The client reads and resolves the files; the server applies one
//! [`ApplyRequest`] in a single transaction, so an invalid set changes nothing.

use crate::platform::PlatformSet;
use crate::profile::validate_mobileconfig;
use crate::validation::{
    validate_enroll_secrets, validate_label, validate_policy, validate_team_name,
};
use crate::ValidationErrors;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The name GitOps files use for hosts without a team.
pub const NO_TEAM_NAME: &str = "No team";

pub use crate::targeting::{label_scope_applies, LabelMembership, LabelScope};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelDef {
    pub name: String,
    pub description: String,
    pub query: String,
    pub platform: String,
    pub membership: LabelMembership,
    /// Manual labels: member hosts by hostname, serial number or UUID.
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDef {
    pub name: String,
    pub description: String,
    pub query: String,
    pub platform: String,
    pub resolution: String,
    pub critical: bool,
    pub calendar_events_enabled: bool,
    pub conditional_access_enabled: bool,
    /// SHA-256 of a package the same team lists, installed where the policy fails.
    pub install_software: Option<String>,
    pub labels: LabelScope,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryDef {
    pub name: String,
    pub description: String,
    pub query: String,
    pub platform: String,
    /// Seconds between scheduled runs; 0 runs only on demand.
    pub interval: i64,
    pub observer_can_run: bool,
    pub automations_enabled: bool,
    pub logging: QueryLogging,
    pub min_osquery_version: String,
}

/// How a scheduled query's results are logged, as osquery and Fleet name it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryLogging {
    /// Every run logs all its rows.
    #[default]
    Snapshot,
    /// Rows added and removed since the last run.
    Differential,
    /// Rows added since the last run.
    DifferentialIgnoreRemovals,
}

impl QueryLogging {
    pub fn as_str(self) -> &'static str {
        match self {
            QueryLogging::Snapshot => "snapshot",
            QueryLogging::Differential => "differential",
            QueryLogging::DifferentialIgnoreRemovals => "differential_ignore_removals",
        }
    }

    /// Fleet's names; an empty value is the default, snapshot.
    pub fn parse(text: &str) -> Option<QueryLogging> {
        match text.trim() {
            "" | "snapshot" => Some(QueryLogging::Snapshot),
            "differential" => Some(QueryLogging::Differential),
            "differential_ignore_removals" => Some(QueryLogging::DifferentialIgnoreRemovals),
            _ => None,
        }
    }

    /// What a bad value is told.
    pub const CHOICES: &'static str = "use snapshot, differential or differential_ignore_removals";
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileDef {
    /// The file the profile came from, for messages.
    pub file_name: String,
    /// The .mobileconfig bytes.
    #[serde(with = "base64_bytes")]
    pub content: Vec<u8>,
    pub labels: LabelScope,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageDef {
    /// The installer's SHA-256: the server must hold that file (uploaded by
    /// this run, or earlier to any team).
    pub hash_sha256: String,
    /// Where the installer came from, when the files give a URL.
    pub url: Option<String>,
    /// The installer's file name, when the files name a file or URL: the
    /// title of an installer without metadata.
    pub file_name: Option<String>,
    pub install_script: String,
    pub uninstall_script: String,
    pub self_service: bool,
    pub labels: LabelScope,
}

/// Org-wide settings from `default.yml`'s `org_settings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrgSettings {
    /// Conditional access for hosts in "No team".
    pub conditional_access_enabled: bool,
    /// Merged key by key into the stored settings.
    pub server_settings: Option<Map<String, Value>>,
    pub org_info: Option<Map<String, Value>>,
    /// Global enroll secrets; `None` keeps the current ones.
    pub secrets: Option<Vec<String>>,
}

/// What `default.yml` describes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GlobalConfig {
    pub org_settings: OrgSettings,
    pub agent_options: Option<Value>,
    /// `None` leaves the labels as they are; a list is the whole set.
    pub labels: Option<Vec<LabelDef>>,
    pub policies: Vec<PolicyDef>,
    pub queries: Vec<QueryDef>,
}

/// What one team file describes (`name: No team` for hosts without a team).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TeamConfig {
    pub name: String,
    pub conditional_access_enabled: bool,
    /// The team's enroll secrets; `None` keeps the current ones.
    pub secrets: Option<Vec<String>>,
    pub agent_options: Option<Value>,
    pub profiles: Vec<ProfileDef>,
    pub policies: Vec<PolicyDef>,
    pub packages: Vec<PackageDef>,
    pub queries: Vec<QueryDef>,
}

impl TeamConfig {
    pub fn is_no_team(&self) -> bool {
        self.name == NO_TEAM_NAME
    }
}

/// One `flotilla gitops` run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApplyRequest {
    /// Work out the plan and change nothing.
    pub dry_run: bool,
    /// Delete the teams no file names.
    pub delete_other_teams: bool,
    /// Present when `default.yml` is among the files.
    pub global: Option<GlobalConfig>,
    pub teams: Vec<TeamConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Team,
    Settings,
    AgentOptions,
    EnrollSecrets,
    Label,
    Policy,
    Query,
    Profile,
    Software,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Team => "team",
            ObjectKind::Settings => "settings",
            ObjectKind::AgentOptions => "agent options",
            ObjectKind::EnrollSecrets => "enroll secrets",
            ObjectKind::Label => "label",
            ObjectKind::Policy => "policy",
            ObjectKind::Query => "query",
            ObjectKind::Profile => "profile",
            ObjectKind::Software => "software",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub action: Action,
    pub kind: ObjectKind,
    pub name: String,
}

/// The changes to one scope: the org ("global") or one team.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeOutcome {
    pub name: String,
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    pub changes: Vec<Change>,
}

impl ScopeOutcome {
    pub fn named(name: &str) -> ScopeOutcome {
        ScopeOutcome {
            name: name.to_string(),
            ..ScopeOutcome::default()
        }
    }

    pub fn record(&mut self, action: Action, kind: ObjectKind, name: &str) {
        match action {
            Action::Create => self.created += 1,
            Action::Update => self.updated += 1,
            Action::Delete => self.deleted += 1,
        }
        self.changes.push(Change {
            action,
            kind,
            name: name.to_string(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// What a run did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyOutcome {
    pub dry_run: bool,
    pub global: ScopeOutcome,
    pub teams: Vec<ScopeOutcome>,
}

/// One step that brings a named set of objects to the desired one.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a, C, D> {
    Create(&'a D),
    Update(&'a C, &'a D),
    Delete(&'a C),
}

/// Matches current and desired objects by name: missing ones are created,
/// different ones updated, left-over ones deleted, equal ones left alone (so
/// their ids and timestamps stay). Steps come deletes first, then in the
/// desired order, so a rename-by-replace never collides on a unique name.
pub fn reconcile<'a, C, D>(
    current: &'a [C],
    desired: &'a [D],
    current_name: impl Fn(&C) -> &str,
    desired_name: impl Fn(&D) -> &str,
    unchanged: impl Fn(&C, &D) -> bool,
) -> Vec<Step<'a, C, D>> {
    let mut steps: Vec<Step<'a, C, D>> = current
        .iter()
        .filter(|c| !desired.iter().any(|d| desired_name(d) == current_name(c)))
        .map(Step::Delete)
        .collect();
    for d in desired {
        match current.iter().find(|c| current_name(c) == desired_name(d)) {
            None => steps.push(Step::Create(d)),
            Some(c) if !unchanged(c, d) => steps.push(Step::Update(c, d)),
            Some(_) => {}
        }
    }
    steps
}

/// Names that appear more than once, each reported once.
pub fn duplicate_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = std::collections::BTreeSet::new();
    let mut duplicates = Vec::new();
    for name in names {
        if !seen.insert(name) && !duplicates.contains(&name) {
            duplicates.push(name);
        }
    }
    duplicates
}

/// Is `hash` a SHA-256 written as 64 hex digits?
pub fn is_sha256_hex(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks a whole run and normalises platform lists, the same way on the
/// client (before anything is sent) and on the server. Each error is named
/// by where it sits, e.g. `team "A" policy "B" platform`.
pub fn validate_request(request: &mut ApplyRequest) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::default();
    if let Some(global) = &mut request.global {
        for label in global.labels.iter_mut().flatten() {
            let manual = label.membership == LabelMembership::Manual;
            match validate_label(&label.name, &label.query, &label.platform, label.membership) {
                Ok(platform) => label.platform = platform.to_list_string(),
                Err(e) => errors.nest(&format!("label \"{}\"", label.name), e),
            }
            if !manual && !label.hosts.is_empty() {
                errors.add(
                    &format!("label \"{}\" hosts", label.name),
                    "only a manual label lists hosts",
                );
            }
        }
        if let Some(labels) = &global.labels {
            for name in duplicate_names(labels.iter().map(|l| l.name.as_str())) {
                errors.add("labels", format!("label \"{name}\" is defined twice"));
            }
        }
        validate_policies("global", &mut global.policies, &[], &mut errors);
        validate_queries("global", &global.queries, &mut errors);
        if let Some(options) = &global.agent_options {
            validate_agent_options("global agent_options", options, &mut errors);
        }
        if let Some(secrets) = &mut global.org_settings.secrets {
            match validate_enroll_secrets(secrets.iter().map(String::as_str)) {
                Ok(trimmed) => *secrets = trimmed,
                Err(e) => errors.nest("global", e),
            }
        }
    }
    for name in duplicate_names(request.teams.iter().map(|t| t.name.as_str())) {
        errors.add(
            "teams",
            format!("team \"{name}\" is given by more than one file"),
        );
    }
    for team in &mut request.teams {
        let scope = format!("team \"{}\"", team.name);
        if team.name.trim().is_empty() {
            errors.add("name", "a team file needs a team name");
        } else if !team.is_no_team() {
            if let Err(e) = validate_team_name(&team.name) {
                errors.nest(&scope, e);
            }
        }
        if let Some(secrets) = &mut team.secrets {
            match validate_enroll_secrets(secrets.iter().map(String::as_str)) {
                Ok(trimmed) => *secrets = trimmed,
                Err(e) => errors.nest(&scope, e),
            }
        }
        if let Some(options) = &team.agent_options {
            validate_agent_options(&format!("{scope} agent_options"), options, &mut errors);
        }
        let hashes: Vec<&str> = team
            .packages
            .iter()
            .map(|p| p.hash_sha256.as_str())
            .collect();
        for package in &team.packages {
            if !is_sha256_hex(&package.hash_sha256) {
                errors.add(
                    &format!("{scope} software"),
                    format!(
                        "\"{}\" is not a SHA-256 (64 hex digits)",
                        package.hash_sha256
                    ),
                );
            }
            check_label_modes(
                &format!("{scope} software {}", package.hash_sha256),
                &package.labels,
                &mut errors,
            );
        }
        for hash in duplicate_names(hashes.iter().copied()) {
            errors.add(
                &format!("{scope} software"),
                format!("the package with SHA-256 {hash} is listed twice"),
            );
        }
        validate_policies(&scope, &mut team.policies, &hashes, &mut errors);
        validate_queries(&scope, &team.queries, &mut errors);
        let mut summaries = Vec::new();
        for profile in &team.profiles {
            let field = format!("{scope} profile {}", profile.file_name);
            match validate_mobileconfig(&profile.content) {
                Ok(summary) => summaries.push(summary),
                Err(e) => errors.nest(&field, e),
            }
            check_label_modes(&field, &profile.labels, &mut errors);
        }
        for identifier in duplicate_names(summaries.iter().map(|s| s.identifier.as_str())) {
            errors.add(
                &format!("{scope} profiles"),
                format!("two profiles have the PayloadIdentifier \"{identifier}\""),
            );
        }
        for name in duplicate_names(summaries.iter().map(|s| s.name.as_str())) {
            errors.add(
                &format!("{scope} profiles"),
                format!("two profiles are named \"{name}\""),
            );
        }
    }
    errors.into_result()
}

fn check_label_modes(field: &str, labels: &LabelScope, errors: &mut ValidationErrors) {
    if labels.modes_used() > 1 {
        errors.add(
            field,
            "use only one of labels_include_all, labels_include_any, labels_exclude_any",
        );
    }
}

fn validate_policies(
    scope: &str,
    policies: &mut [PolicyDef],
    package_hashes: &[&str],
    errors: &mut ValidationErrors,
) {
    for name in duplicate_names(policies.iter().map(|p| p.name.as_str())) {
        errors.add(
            &format!("{scope} policies"),
            format!("policy \"{name}\" is defined twice"),
        );
    }
    for policy in policies.iter_mut() {
        let field = format!("{scope} policy \"{}\"", policy.name);
        match validate_policy(
            &policy.name,
            &policy.query,
            &policy.platform,
            policy.conditional_access_enabled,
        ) {
            Ok(platforms) => policy.platform = platforms.to_list_string(),
            Err(e) => errors.nest(&field, e),
        }
        if policy.labels.modes_used() > 1 || !policy.labels.labels_include_all.is_empty() {
            errors.add(
                &field,
                "a policy takes one of labels_include_any or labels_exclude_any",
            );
        }
        if let Some(hash) = &policy.install_software {
            if !package_hashes.contains(&hash.as_str()) {
                errors.add(
                    &format!("{field} install_software"),
                    format!(
                        "the package with SHA-256 {hash} is not in this team's software.packages"
                    ),
                );
            }
        }
    }
}

fn validate_queries(scope: &str, queries: &[QueryDef], errors: &mut ValidationErrors) {
    for name in duplicate_names(queries.iter().map(|q| q.name.as_str())) {
        errors.add(
            &format!("{scope} queries"),
            format!("query \"{name}\" is defined twice"),
        );
    }
    for query in queries {
        let field = format!("{scope} query \"{}\"", query.name);
        if query.name.trim().is_empty() {
            errors.add(&format!("{scope} queries"), "a query needs a name");
        }
        if query.query.trim().is_empty() {
            errors.add(&format!("{field} query"), "query must not be empty");
        }
        if query.interval < 0 {
            errors.add(
                &format!("{field} interval"),
                "interval must be 0 or more seconds",
            );
        }
        if let Err(unknown) = PlatformSet::parse(&query.platform) {
            errors.add(
                &format!("{field} platform"),
                format!("unsupported platform \"{unknown}\""),
            );
        }
    }
}

fn validate_agent_options(field: &str, options: &Value, errors: &mut ValidationErrors) {
    let Some(object) = options.as_object() else {
        errors.add(
            field,
            "must be a map with config, overrides, command_line_flags or extensions",
        );
        return;
    };
    for (key, value) in object {
        if ![
            "config",
            "overrides",
            "command_line_flags",
            "extensions",
            "script_execution_timeout",
            "update_channels",
        ]
        .contains(&key.as_str())
        {
            errors.add(
                &format!("{field}.{key}"),
                "unknown agent option; use config, overrides, command_line_flags or extensions",
            );
        } else if key == "config" && !value.is_object() {
            errors.add(
                &format!("{field}.config"),
                "must be a map of osquery options",
            );
        }
    }
}

mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconcile_creates_updates_deletes_and_leaves_equal_ones() {
        let current = [("a", 1), ("b", 2), ("c", 3)];
        let desired = [("b", 2), ("c", 4), ("d", 5)];
        let steps = reconcile(&current, &desired, |c| c.0, |d| d.0, |c, d| c.1 == d.1);
        assert_eq!(
            steps,
            vec![
                Step::Delete(&("a", 1)),
                Step::Update(&("c", 3), &("c", 4)),
                Step::Create(&("d", 5)),
            ]
        );
        let again = reconcile(&desired, &desired, |c| c.0, |d| d.0, |c, d| c.1 == d.1);
        assert!(again.is_empty());
    }

    #[test]
    fn duplicates_and_hashes() {
        assert_eq!(
            duplicate_names(["a", "b", "a", "a", "c", "b"]),
            vec!["a", "b"]
        );
        assert!(is_sha256_hex(&"ab".repeat(32)));
        assert!(!is_sha256_hex("abc"));
        assert!(!is_sha256_hex(&"zz".repeat(32)));
    }

    #[test]
    fn profile_content_travels_as_base64() {
        let profile = ProfileDef {
            file_name: "p.mobileconfig".into(),
            content: vec![0, 159, 255],
            labels: LabelScope::default(),
        };
        let json = serde_json::to_value(&profile).unwrap();
        assert_eq!(json["content"], "AJ//");
        assert_eq!(serde_json::from_value::<ProfileDef>(json).unwrap(), profile);
    }
}
