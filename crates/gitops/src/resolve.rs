//! From files to one run: parse every file, follow `path:` / `paths:`,
//! expand the environment, read profiles and scripts, and name every problem
//! (all of them, not just the first) before anything is sent.

use crate::format::{
    self, is_set, Controls, LabelEntry, OrgSettings, PackageEntry, PolicyEntry, ProfileEntry,
    QueryEntry, TeamSettings, TopLevel,
};
use crate::source::{expand_env, read_bytes, read_text, read_yaml, Env, SourceFile};
use flotilla_core::gitops::{
    ApplyRequest, GlobalConfig, LabelDef, LabelMembership, LabelScope, OrgSettings as OrgConfig,
    PackageDef, PolicyDef, ProfileDef, QueryDef, QueryLogging, TeamConfig, NO_TEAM_NAME,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// An installer the run has to fetch or hash before its package is complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallerSource {
    File(PathBuf),
    Url(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingInstaller {
    /// `request.teams[team].packages[package]`.
    pub team: usize,
    pub package: usize,
    pub source: InstallerSource,
}

/// A policy whose `install_software.package_path` names a package whose hash
/// is known only once its installer is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallFixup {
    pub team: usize,
    pub policy: usize,
    pub package: usize,
}

#[derive(Debug, Default)]
pub struct Resolved {
    pub request: ApplyRequest,
    pub installers: Vec<PendingInstaller>,
    pub fixups: Vec<InstallFixup>,
    /// Deprecated spellings and the like: printed, not fatal.
    pub warnings: Vec<String>,
    /// The file each team came from, in `request.teams` order, and the org-wide one.
    pub team_files: Vec<String>,
    pub global_file: Option<String>,
}

impl Resolved {
    /// The file a server-side problem is about: the team file of a
    /// `team "NAME"` it names, else the org-wide file.
    pub fn file_for(&self, reason: &str) -> Option<&str> {
        self.request
            .teams
            .iter()
            .zip(&self.team_files)
            .find(|(team, _)| reason.contains(&format!("team \"{}\"", team.name)))
            .map(|(_, file)| file.as_str())
            .or(self.global_file.as_deref())
    }
}

impl Resolved {
    /// Fills in a fetched installer's hash, and the policies that install it.
    pub fn complete_installer(&mut self, installer: &PendingInstaller, hash: &str) {
        let team = &mut self.request.teams[installer.team];
        team.packages[installer.package].hash_sha256 = hash.to_string();
        for fixup in self
            .fixups
            .iter()
            .filter(|f| f.team == installer.team && f.package == installer.package)
        {
            team.policies[fixup.policy].install_software = Some(hash.to_string());
        }
    }
}

/// A team's packages; for each, the package file it came from (what
/// `package_path` points at); and the installers still to fetch or hash, by index.
#[derive(Default)]
struct TeamPackages {
    packages: Vec<PackageDef>,
    files: Vec<Option<PathBuf>>,
    pending: Vec<(usize, InstallerSource)>,
}

/// Problems found so far; resolution goes on to find the rest.
type Problems = Vec<String>;

pub fn resolve(files: &[PathBuf], env: Env<'_>) -> Result<Resolved, Problems> {
    let mut resolved = Resolved::default();
    let mut problems = Problems::new();
    let mut global_file: Option<String> = None;
    for path in files {
        let file =
            match read_yaml(path, env).and_then(|f| f.parse::<TopLevel>().map(|doc| (f, doc))) {
                Ok(parsed) => parsed,
                Err(problem) => {
                    problems.push(problem);
                    continue;
                }
            };
        let (file, doc) = file;
        let mut context = FileContext {
            file: &file,
            env,
            problems: &mut problems,
            warnings: &mut resolved.warnings,
        };
        match doc.name.clone() {
            None => {
                if let Some(first) = &global_file {
                    context.problem(format!(
                        "{}: a second file without `name` (org-wide settings are already in {first}); team files need a `name`",
                        file.display()
                    ));
                    continue;
                }
                global_file = Some(file.display());
                resolved.request.global = Some(context.global(doc));
            }
            Some(name) => {
                let team_index = resolved.request.teams.len();
                let team = context.team(
                    name,
                    doc,
                    team_index,
                    &mut resolved.installers,
                    &mut resolved.fixups,
                );
                resolved.request.teams.push(team);
                resolved.team_files.push(file.display());
            }
        }
    }
    resolved.global_file = global_file;
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(problems)
    }
}

/// One top-level file being resolved.
struct FileContext<'a> {
    file: &'a SourceFile,
    env: Env<'a>,
    problems: &'a mut Problems,
    warnings: &'a mut Vec<String>,
}

impl FileContext<'_> {
    fn problem(&mut self, message: String) {
        self.problems.push(message);
    }

    fn problem_at(&mut self, key: &str, message: &str) {
        let message = self.file.at_key(key, message);
        self.problems.push(message);
    }

    /// Fleet keys Flotilla can't honour yet: one line each, when they'd change anything.
    fn unsupported(&mut self, keys: &[(&str, &Option<serde_norway::Value>)]) {
        for (key, value) in keys {
            if is_set(value) {
                let leaf = key.rsplit('.').next().unwrap_or(key);
                self.problem_at(
                    leaf,
                    &format!("`{key}` is a Fleet feature Flotilla does not support yet"),
                );
            }
        }
    }

    /// Old and new spelling of one key: the new one wins, both at once is an error.
    fn spelling<T>(&mut self, old: (&str, Option<T>), new: (&str, Option<T>)) -> Option<T> {
        match (old.1, new.1) {
            (Some(_), Some(_)) => {
                self.problem_at(
                    new.0,
                    &format!(
                        "`{}` and `{}` are the same setting; keep only `{}`",
                        old.0, new.0, new.0
                    ),
                );
                None
            }
            (Some(value), None) => {
                let warning = self.file.at_key(
                    old.0,
                    &format!("`{}` is deprecated; use `{}`", old.0, new.0),
                );
                self.warnings.push(warning);
                Some(value)
            }
            (None, new) => new,
        }
    }

    /// Two equal spellings of one key (Fleet's documentation uses both): either, not both.
    fn alias<T>(&mut self, first: (&str, Option<T>), second: (&str, Option<T>)) -> Option<T> {
        match (first.1, second.1) {
            (Some(_), Some(_)) => {
                self.problem_at(
                    second.0,
                    &format!(
                        "`{}` and `{}` are the same setting; keep one",
                        first.0, second.0
                    ),
                );
                None
            }
            (first, second) => first.or(second),
        }
    }

    fn global(&mut self, doc: TopLevel) -> GlobalConfig {
        for (key, given) in [
            ("team_settings", doc.team_settings.is_some()),
            ("settings", doc.settings.is_some()),
        ] {
            if given {
                self.problem_at(
                    key,
                    &format!("`{key}` belongs in a team file; default.yml takes `org_settings`"),
                );
            }
        }
        if doc.software.is_some() {
            self.problem_at(
                "software",
                "`software` belongs in a team file (or teams/no-team.yml), not default.yml",
            );
        }
        if doc
            .controls
            .as_ref()
            .is_some_and(|c| c.macos_settings.is_some() || c.apple_settings.is_some())
        {
            self.problem_at(
                "controls",
                "configuration profiles for hosts without a team go in teams/no-team.yml (`name: No team`)",
            );
        }
        if let Some(controls) = &doc.controls {
            self.unsupported_controls(controls);
        }
        let org_settings = doc
            .org_settings
            .map(|o| self.org_settings(o))
            .unwrap_or_default();
        let queries = self.spelling(("queries", doc.queries), ("reports", doc.reports));
        GlobalConfig {
            org_settings,
            agent_options: self.agent_options(doc.agent_options),
            labels: doc.labels.map(|labels| self.labels(labels)),
            policies: self.policies(doc.policies.unwrap_or_default(), None).0,
            queries: self.queries(queries.unwrap_or_default()),
        }
    }

    fn org_settings(&mut self, org: OrgSettings) -> OrgConfig {
        let integrations = org.integrations.unwrap_or_default();
        self.unsupported(&[
            ("org_settings.features", &org.features),
            ("org_settings.mdm", &org.mdm),
            ("org_settings.sso_settings", &org.sso_settings),
            ("org_settings.smtp_settings", &org.smtp_settings),
            ("org_settings.fleet_desktop", &org.fleet_desktop),
            (
                "org_settings.host_expiry_settings",
                &org.host_expiry_settings,
            ),
            (
                "org_settings.activity_expiry_settings",
                &org.activity_expiry_settings,
            ),
            ("org_settings.webhook_settings", &org.webhook_settings),
            (
                "org_settings.vulnerability_settings",
                &org.vulnerability_settings,
            ),
            (
                "org_settings.certificate_authorities",
                &org.certificate_authorities,
            ),
            ("org_settings.yara_rules", &org.yara_rules),
            ("org_settings.gitops", &org.gitops),
            ("org_settings.integrations.jira", &integrations.jira),
            ("org_settings.integrations.zendesk", &integrations.zendesk),
            (
                "org_settings.integrations.google_calendar",
                &integrations.google_calendar,
            ),
            (
                "org_settings.integrations.ndes_scep_proxy",
                &integrations.ndes_scep_proxy,
            ),
            ("org_settings.integrations.digicert", &integrations.digicert),
            (
                "org_settings.integrations.custom_scep_proxy",
                &integrations.custom_scep_proxy,
            ),
        ]);
        OrgConfig {
            conditional_access_enabled: integrations.conditional_access_enabled.unwrap_or(false),
            server_settings: org.server_settings,
            org_info: org.org_info,
            secrets: org
                .secrets
                .map(|s| s.into_iter().map(|s| s.secret).collect()),
        }
    }

    fn unsupported_controls(&mut self, c: &Controls) {
        self.unsupported(&[
            ("controls.scripts", &c.scripts),
            ("controls.enable_disk_encryption", &c.enable_disk_encryption),
            ("controls.macos_updates", &c.macos_updates),
            ("controls.ios_updates", &c.ios_updates),
            ("controls.ipados_updates", &c.ipados_updates),
            ("controls.windows_updates", &c.windows_updates),
            ("controls.windows_settings", &c.windows_settings),
            ("controls.android_settings", &c.android_settings),
            ("controls.macos_setup", &c.macos_setup),
            ("controls.setup_experience", &c.setup_experience),
            ("controls.macos_migration", &c.macos_migration),
            (
                "controls.windows_enabled_and_configured",
                &c.windows_enabled_and_configured,
            ),
            (
                "controls.windows_migration_enabled",
                &c.windows_migration_enabled,
            ),
            (
                "controls.windows_require_bitlocker_pin",
                &c.windows_require_bitlocker_pin,
            ),
            (
                "controls.enable_turn_on_windows_mdm_manually",
                &c.enable_turn_on_windows_mdm_manually,
            ),
        ]);
    }

    fn team(
        &mut self,
        name: String,
        doc: TopLevel,
        team_index: usize,
        installers: &mut Vec<PendingInstaller>,
        fixups: &mut Vec<InstallFixup>,
    ) -> TeamConfig {
        let no_team = name == NO_TEAM_NAME;
        if doc.org_settings.is_some() {
            self.problem_at(
                "org_settings",
                "`org_settings` belongs in default.yml; a team file takes `settings`",
            );
        }
        if doc.labels.is_some() {
            self.problem_at("labels", "labels are org-wide: define them in default.yml");
        }
        let settings = self.spelling(
            ("team_settings", doc.team_settings),
            ("settings", doc.settings),
        );
        if no_team && (settings.is_some() || doc.agent_options.is_some()) {
            self.problem_at(
                if settings.is_some() {
                    "settings"
                } else {
                    "agent_options"
                },
                "\"No team\" takes its settings and agent options from default.yml",
            );
        }
        let settings: TeamSettings = settings.unwrap_or_default();
        let integrations = settings.integrations.unwrap_or_default();
        self.unsupported(&[
            ("settings.features", &settings.features),
            (
                "settings.host_expiry_settings",
                &settings.host_expiry_settings,
            ),
            ("settings.webhook_settings", &settings.webhook_settings),
            (
                "settings.integrations.google_calendar",
                &integrations.google_calendar,
            ),
        ]);
        let controls = doc.controls.unwrap_or_default();
        self.unsupported_controls(&controls);
        let apple = self.alias(
            ("macos_settings", controls.macos_settings),
            ("apple_settings", controls.apple_settings),
        );
        let profile_entries = apple
            .map(|a| {
                self.unsupported(&[("controls.apple_settings.declarations", &a.declarations)]);
                self.alias(
                    ("custom_settings", a.custom_settings),
                    ("configuration_profiles", a.configuration_profiles),
                )
            })
            .unwrap_or_default()
            .unwrap_or_default();
        let software = doc.software.unwrap_or_default();
        self.unsupported(&[
            ("software.app_store_apps", &software.app_store_apps),
            (
                "software.fleet_maintained_apps",
                &software.fleet_maintained_apps,
            ),
        ]);
        let TeamPackages {
            packages,
            files: package_files,
            pending,
        } = self.packages(software.packages.unwrap_or_default());
        installers.extend(
            pending
                .into_iter()
                .map(|(package, source)| PendingInstaller {
                    team: team_index,
                    package,
                    source,
                }),
        );
        let (policies, policy_fixups) = self.policies(
            doc.policies.unwrap_or_default(),
            Some((&packages, &package_files)),
        );
        fixups.extend(
            policy_fixups
                .into_iter()
                .map(|(policy, package)| InstallFixup {
                    team: team_index,
                    policy,
                    package,
                }),
        );
        let queries = self.spelling(("queries", doc.queries), ("reports", doc.reports));
        TeamConfig {
            name,
            conditional_access_enabled: integrations.conditional_access_enabled.unwrap_or(false),
            secrets: settings
                .secrets
                .map(|s| s.into_iter().map(|s| s.secret).collect()),
            agent_options: self.agent_options(doc.agent_options),
            profiles: self.profiles(profile_entries),
            policies,
            packages,
            queries: self.queries(queries.unwrap_or_default()),
        }
    }

    /// Inline options, or `path:` to a file of them.
    fn agent_options(&mut self, options: Option<serde_norway::Value>) -> Option<Value> {
        let options = options?;
        let path = options
            .as_mapping()
            .filter(|m| m.len() == 1)
            .and_then(|m| m.get("path"))
            .and_then(|p| p.as_str())
            .map(str::to_string);
        let options = match path {
            Some(path) => {
                let path = self.file.dir().join(path);
                match read_yaml(&path, self.env).and_then(|f| f.parse::<serde_norway::Value>()) {
                    Ok(options) => options,
                    Err(problem) => {
                        self.problem(problem);
                        return None;
                    }
                }
            }
            None => options,
        };
        match serde_json::to_value(options) {
            Ok(Value::Null) => None,
            Ok(value) => Some(value),
            Err(e) => {
                self.problem_at("agent_options", &format!("agent_options: {e}"));
                None
            }
        }
    }

    /// Entries inline or from the files `path:` / `paths:` name (relative to this file).
    fn expand_entries<T: DeserializeOwned + HasPaths>(
        &mut self,
        entries: Vec<T>,
        key: &str,
    ) -> Vec<(T, PathBuf)> {
        let mut out = Vec::new();
        for entry in entries {
            let files = match self.paths_of(entry.path(), entry.paths(), key) {
                None => {
                    out.push((entry, self.file.path.clone()));
                    continue;
                }
                Some(files) => files,
            };
            for path in files {
                let parsed = read_yaml(&path, self.env)
                    .and_then(|f| f.parse::<Vec<T>>().map(|items| (f, items)));
                match parsed {
                    Ok((file, items)) => {
                        for item in items {
                            if item.path().is_some() || item.paths().is_some() {
                                self.problem(file.at_key(
                                    "path",
                                    &format!("a {key} file can't point at further files"),
                                ));
                            } else {
                                out.push((item, path.clone()));
                            }
                        }
                    }
                    Err(problem) => self.problem(problem),
                }
            }
        }
        out
    }

    /// `path:` → that file; `paths:` → the glob's matches, sorted; neither → `None`.
    fn paths_of(
        &mut self,
        path: Option<&str>,
        paths: Option<&str>,
        key: &str,
    ) -> Option<Vec<PathBuf>> {
        match (path, paths) {
            (None, None) => None,
            (Some(_), Some(_)) => {
                self.problem_at(
                    "paths",
                    &format!("a {key} entry takes `path` or `paths`, not both"),
                );
                Some(Vec::new())
            }
            (Some(path), None) => Some(vec![self.file.dir().join(path)]),
            (None, Some(pattern)) => {
                let full = self.file.dir().join(pattern);
                let matches = glob::glob(&full.to_string_lossy())
                    .map(|paths| paths.filter_map(Result::ok).collect::<Vec<_>>());
                match matches {
                    Ok(mut found) if !found.is_empty() => {
                        found.sort();
                        Some(found)
                    }
                    Ok(_) => {
                        self.problem_at("paths", &format!("`paths: {pattern}` matches no file"));
                        Some(Vec::new())
                    }
                    Err(e) => {
                        self.problem_at(
                            "paths",
                            &format!("`paths: {pattern}` is not a valid pattern: {e}"),
                        );
                        Some(Vec::new())
                    }
                }
            }
        }
    }

    fn labels(&mut self, entries: Vec<LabelEntry>) -> Vec<LabelDef> {
        let entries = self.expand_entries(entries, "labels");
        let mut labels = Vec::new();
        for (entry, _) in entries {
            self.unsupported(&[("labels.criteria", &entry.criteria)]);
            let membership = match entry.label_membership_type.as_deref() {
                None | Some("dynamic") => LabelMembership::Dynamic,
                Some("manual") => LabelMembership::Manual,
                Some(other) => {
                    let message =
                        format!("label_membership_type \"{other}\": use dynamic or manual");
                    self.problem_at("label_membership_type", &message);
                    LabelMembership::Dynamic
                }
            };
            let Some(name) = entry.name else {
                self.problem_at("labels", "every label needs a `name`");
                continue;
            };
            labels.push(LabelDef {
                name,
                description: entry.description.unwrap_or_default(),
                query: entry.query.unwrap_or_default(),
                platform: entry.platform.unwrap_or_default(),
                membership,
                hosts: entry.hosts,
            });
        }
        labels
    }

    /// Policies, and which of them install a package whose hash isn't known yet.
    fn policies(
        &mut self,
        entries: Vec<PolicyEntry>,
        team_packages: Option<(&[PackageDef], &[Option<PathBuf>])>,
    ) -> (Vec<PolicyDef>, Vec<(usize, usize)>) {
        let entries = self.expand_entries(entries, "policies");
        let mut policies = Vec::new();
        let mut fixups = Vec::new();
        for (entry, from) in entries {
            self.unsupported(&[
                ("policies.run_script", &entry.run_script),
                ("policies.team_id", &entry.team_id),
            ]);
            let Some(name) = entry.name else {
                self.problem_at("policies", "every policy needs a `name`");
                continue;
            };
            let mut install_software = None;
            if let Some(install) = entry.install_software {
                self.unsupported(&[
                    ("install_software.app_store_id", &install.app_store_id),
                    (
                        "install_software.fleet_maintained_app_slug",
                        &install.fleet_maintained_app_slug,
                    ),
                ]);
                match (install.hash_sha256, install.package_path, team_packages) {
                    (_, _, None) => self.problem_at(
                        "install_software",
                        &format!("policy \"{name}\": only team policies (or \"No team\"'s) can install software"),
                    ),
                    (Some(hash), None, Some(_)) => install_software = Some(hash.to_ascii_lowercase()),
                    (None, Some(package_path), Some((packages, files))) => {
                        let wanted = canonical(&from.parent().unwrap_or(Path::new(".")).join(&package_path));
                        match files.iter().position(|f| f.as_ref() == Some(&wanted)) {
                            Some(index) if !packages[index].hash_sha256.is_empty() => {
                                install_software = Some(packages[index].hash_sha256.clone())
                            }
                            Some(index) => fixups.push((policies.len(), index)),
                            None => self.problem_at(
                                "package_path",
                                &format!("policy \"{name}\": package_path {package_path} is not one of this team's software.packages"),
                            ),
                        }
                    }
                    _ => self.problem_at(
                        "install_software",
                        &format!("policy \"{name}\": install_software takes one of package_path or hash_sha256"),
                    ),
                }
            }
            policies.push(PolicyDef {
                name,
                description: entry.description.unwrap_or_default(),
                query: entry.query.unwrap_or_default(),
                platform: entry.platform.unwrap_or_default(),
                resolution: entry.resolution.unwrap_or_default(),
                critical: entry.critical.unwrap_or(false),
                calendar_events_enabled: entry.calendar_events_enabled.unwrap_or(false),
                conditional_access_enabled: entry.conditional_access_enabled.unwrap_or(false),
                install_software,
                labels: LabelScope {
                    labels_include_all: Vec::new(),
                    labels_include_any: entry.labels_include_any,
                    labels_exclude_any: entry.labels_exclude_any,
                },
            });
        }
        (policies, fixups)
    }

    fn queries(&mut self, entries: Vec<QueryEntry>) -> Vec<QueryDef> {
        let entries = self.expand_entries(entries, "queries");
        let mut queries = Vec::new();
        for (entry, _) in entries {
            if !entry.labels_include_any.is_empty() {
                self.problem_at(
                    "labels_include_any",
                    "`queries.labels_include_any` is a Fleet feature Flotilla does not support yet",
                );
            }
            let Some(name) = entry.name else {
                self.problem_at("queries", "every query needs a `name`");
                continue;
            };
            let logging = match entry.logging.as_deref().map(QueryLogging::parse) {
                None => QueryLogging::Snapshot,
                Some(Some(logging)) => logging,
                Some(None) => {
                    self.problem_at("logging", QueryLogging::CHOICES);
                    QueryLogging::Snapshot
                }
            };
            queries.push(QueryDef {
                name,
                description: entry.description.unwrap_or_default(),
                query: entry.query.unwrap_or_default(),
                platform: entry.platform.unwrap_or_default(),
                interval: entry.interval.unwrap_or(0),
                observer_can_run: entry.observer_can_run.unwrap_or(false),
                automations_enabled: entry.automations_enabled.unwrap_or(false),
                logging,
                min_osquery_version: entry.min_osquery_version.unwrap_or_default(),
            });
        }
        queries
    }

    fn profiles(&mut self, entries: Vec<ProfileEntry>) -> Vec<ProfileDef> {
        let mut profiles = Vec::new();
        for entry in entries {
            let mut include_all = entry.labels_include_all;
            if let Some(old) = entry.labels {
                let warning = self
                    .file
                    .at_key("labels", "`labels` is deprecated; use `labels_include_all`");
                self.warnings.push(warning);
                include_all.extend(old);
            }
            let labels = LabelScope {
                labels_include_all: include_all,
                labels_include_any: entry.labels_include_any,
                labels_exclude_any: entry.labels_exclude_any,
            };
            let Some(files) = self.paths_of(
                entry.path.as_deref(),
                entry.paths.as_deref(),
                "configuration profile",
            ) else {
                self.problem_at(
                    "custom_settings",
                    "every configuration profile needs a `path`",
                );
                continue;
            };
            for path in files {
                let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
                if extension != "mobileconfig" && extension != "xml" {
                    self.problem(format!(
                        "{}: only .mobileconfig profiles are supported (declarations (.json) are not yet)",
                        path.display()
                    ));
                    continue;
                }
                match read_bytes(&path).and_then(|bytes| self.expand_profile(&path, bytes)) {
                    Ok(content) => profiles.push(ProfileDef {
                        file_name: path
                            .file_name()
                            .map(|n| n.to_string_lossy().to_string())
                            .unwrap_or_default(),
                        content,
                        labels: labels.clone(),
                    }),
                    Err(problem) => self.problem(problem),
                }
            }
        }
        profiles
    }

    /// Text profiles get `$VAR` expanded, as Fleet does; signed (binary) ones are sent as they are.
    fn expand_profile(&self, path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>, String> {
        match String::from_utf8(bytes) {
            Ok(text) => {
                expand_env(&text, self.env)
                    .map(String::into_bytes)
                    .map_err(|(line, name)| {
                        format!(
                            "{}:{line}: environment variable ${name} is not set",
                            path.display()
                        )
                    })
            }
            Err(e) => Ok(e.into_bytes()),
        }
    }

    /// The team's packages, read from `software.packages` and the package files they name.
    fn packages(&mut self, entries: Vec<PackageEntry>) -> TeamPackages {
        let mut specs: Vec<(PackageEntry, PathBuf, Option<PathBuf>)> = Vec::new();
        for entry in entries {
            let Some(path) = entry.path.as_deref().filter(|p| is_yaml(p)) else {
                specs.push((entry, self.file.dir().to_path_buf(), None));
                continue;
            };
            let full = self.file.dir().join(path);
            let parsed = read_yaml(&full, self.env)
                .and_then(|f| parse_one_or_many::<PackageEntry>(&f).map(|p| (f, p)));
            let (file, in_file) = match parsed {
                Ok(parsed) => parsed,
                Err(problem) => {
                    self.problem(problem);
                    continue;
                }
            };
            for mut spec in in_file {
                if spec.path.as_deref().is_some_and(is_yaml) {
                    self.problem(
                        file.at_key("path", "a package file can't point at a further file"),
                    );
                    continue;
                }
                // The team file's entry may add self-service and targeting.
                spec.self_service = entry.self_service.or(spec.self_service);
                for (mine, theirs) in [
                    (&mut spec.labels_include_all, &entry.labels_include_all),
                    (&mut spec.labels_include_any, &entry.labels_include_any),
                    (&mut spec.labels_exclude_any, &entry.labels_exclude_any),
                ] {
                    if !theirs.is_empty() {
                        *mine = theirs.clone();
                    }
                }
                specs.push((spec, file.dir().to_path_buf(), Some(canonical(&full))));
            }
        }
        let mut team = TeamPackages::default();
        for (spec, dir, file) in specs {
            let index = team.packages.len();
            if let Some(package) = self.package(spec, &dir, index, &mut team.pending) {
                team.packages.push(package);
                team.files.push(file);
            }
        }
        team
    }

    fn package(
        &mut self,
        spec: PackageEntry,
        dir: &Path,
        index: usize,
        pending: &mut Vec<(usize, InstallerSource)>,
    ) -> Option<PackageDef> {
        self.unsupported(&[
            (
                "software.packages.pre_install_query",
                &spec.pre_install_query,
            ),
            (
                "software.packages.post_install_script",
                &spec.post_install_script,
            ),
            ("software.packages.setup_experience", &spec.setup_experience),
        ]);
        for (key, value) in [
            ("categories", &spec.categories),
            ("display_name", &spec.display_name),
            ("icon", &spec.icon),
        ] {
            if is_set(value) {
                let warning = self.file.at_key(
                    key,
                    &format!("`{key}` is for Fleet's self-service catalogue, which Flotilla doesn't have yet; ignored"),
                );
                self.warnings.push(warning);
            }
        }
        let mut script = |script: Option<format::ScriptRef>| -> Option<String> {
            let script = script?;
            match read_text(&dir.join(&script.path)) {
                Ok(text) => Some(text),
                Err(problem) => {
                    self.problems.push(problem);
                    None
                }
            }
        };
        let install_script = script(spec.install_script).unwrap_or_default();
        let uninstall_script = script(spec.uninstall_script).unwrap_or_default();
        let hash = spec
            .hash_sha256
            .map(|h| h.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let (source, file_name) = match (&spec.url, &spec.path) {
            (Some(url), None) => (Some(InstallerSource::Url(url.clone())), url_file_name(url)),
            (None, Some(path)) => {
                let full = dir.join(path);
                let name = full.file_name().map(|n| n.to_string_lossy().to_string());
                (Some(InstallerSource::File(full)), name)
            }
            (None, None) if !hash.is_empty() => (None, None),
            (None, None) => {
                self.problem_at(
                    "packages",
                    "every package needs a `url`, a `hash_sha256` or a `path`",
                );
                return None;
            }
            (Some(_), Some(_)) => {
                self.problem_at("url", "a package takes `url` or `path`, not both");
                return None;
            }
        };
        if let Some(source) = source {
            pending.push((index, source));
        }
        Some(PackageDef {
            hash_sha256: hash,
            url: spec.url,
            file_name,
            install_script,
            uninstall_script,
            self_service: spec.self_service.unwrap_or(false),
            labels: LabelScope {
                labels_include_all: spec.labels_include_all,
                labels_include_any: spec.labels_include_any,
                labels_exclude_any: spec.labels_exclude_any,
            },
        })
    }
}

/// A file holding one entry, or a list of them (Fleet writes both).
fn parse_one_or_many<T: DeserializeOwned>(file: &SourceFile) -> Result<Vec<T>, String> {
    match file.parse::<serde_norway::Value>()? {
        serde_norway::Value::Sequence(_) => file.parse::<Vec<T>>(),
        _ => file.parse::<T>().map(|one| vec![one]),
    }
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yml") || path.ends_with(".yaml")
}

fn url_file_name(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

/// A path with `..` resolved, so two spellings of one file compare equal.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Entries that may stand for a file of entries.
trait HasPaths {
    fn path(&self) -> Option<&str>;
    fn paths(&self) -> Option<&str>;
}

macro_rules! has_paths {
    ($($t:ty),*) => {$(
        impl HasPaths for $t {
            fn path(&self) -> Option<&str> { self.path.as_deref() }
            fn paths(&self) -> Option<&str> { self.paths.as_deref() }
        }
    )*};
}
has_paths!(PolicyEntry, QueryEntry, LabelEntry);
