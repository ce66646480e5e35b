//! Applying a GitOps run: the whole desired state in one transaction, so an
//! invalid set changes nothing and a dry run is the same work rolled back.
//! Objects equal to what the files say are not touched (ids and timestamps stay).

use crate::config::{record_activity, upsert_org_settings};
use crate::labels::{
    ensure_label_unused, insert_label, label_from_row, membership_column, replace_members,
    LABEL_SELECT_UNCOUNTED,
};
use crate::policies::{insert_policy, policy_from_row, update_policy_row, POLICY_SELECT_UNCOUNTED};
use crate::profiles::insert_profile;
use crate::queries::{query_from_row, scope_filter, QUERY_SELECT};
use crate::records::{scope_to_column, Activity, Actor, LabelSpec, LabelType, PolicySpec};
use crate::software::insert_package;
use crate::teams::{delete_team_rows, insert_secret, insert_team, replace_secrets};
use crate::{
    as_flag, flag, now, settings, settings_text, LabelTarget, NewProfile, Result, SoftwarePackage,
    Store, StoreError, Tx,
};
use flotilla_core::access::Scope;
use flotilla_core::gitops::{
    reconcile, Action, ApplyOutcome, GlobalConfig, LabelDef, LabelMembership, LabelScope,
    ObjectKind, PackageDef, PolicyDef, QueryDef, ScopeOutcome, Step, TeamConfig,
};
use flotilla_core::settings::{OrgSettings, TeamSettings};
use flotilla_core::{HostId, LabelId, PlatformSet, PolicyId, TeamId, ValidationErrors};
use flotilla_secrets::ServerKey;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};
use sqlx::Row;
use std::collections::HashMap;

/// What the server read off an installer: the parts the files don't give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFacts {
    pub title: String,
    pub version: String,
    pub bundle_id: String,
    pub filename: String,
    pub size_bytes: i64,
}

/// A profile the server has validated.
#[derive(Debug, Clone)]
pub struct DesiredProfile {
    /// The id the profile gets if it is created (the caller's id rule).
    pub new_uuid: String,
    pub identifier: String,
    pub name: String,
    pub content: Vec<u8>,
    pub checksum: String,
    pub labels: LabelScope,
}

#[derive(Debug, Clone)]
pub struct DesiredPackage {
    pub facts: PackageFacts,
    pub def: PackageDef,
}

#[derive(Debug, Clone)]
pub struct DesiredTeam<'a> {
    pub config: &'a TeamConfig,
    pub profiles: Vec<DesiredProfile>,
    pub packages: Vec<DesiredPackage>,
    /// The enroll secret a new team gets when the file names none.
    pub new_secret: String,
}

#[derive(Debug, Clone)]
pub struct DesiredState<'a> {
    pub dry_run: bool,
    pub delete_other_teams: bool,
    pub global: Option<&'a GlobalConfig>,
    pub teams: Vec<DesiredTeam<'a>>,
}

fn rejected(field: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Rejected(ValidationErrors::single(field, reason))
}

/// A platform list from a run core has already checked.
fn checked_platforms(list: &str) -> Result<PlatformSet> {
    PlatformSet::parse(list)
        .map_err(|unknown| rejected("platform", format!("unsupported platform \"{unknown}\"")))
}

impl Store {
    pub async fn apply_gitops(
        &self,
        desired: &DesiredState<'_>,
        actor: Actor,
    ) -> Result<ApplyOutcome> {
        let mut tx = self.begin().await?;
        let mut outcome = ApplyOutcome {
            dry_run: desired.dry_run,
            global: ScopeOutcome::named("global"),
            teams: Vec::new(),
        };
        let mut labels_to_delete = Vec::new();
        if let Some(global) = desired.global {
            apply_org_settings(&mut tx, &self.server_key, global, &mut outcome.global).await?;
            if let Some(labels) = &global.labels {
                labels_to_delete = reconcile_labels(&mut tx, labels, &mut outcome.global).await?;
            }
        }
        let label_ids = label_ids(&mut tx).await?;
        if let Some(global) = desired.global {
            let resolver = Resolver {
                label_ids: &label_ids,
                packages: HashMap::new(),
            };
            reconcile_policies(
                &mut tx,
                Scope::Global,
                &global.policies,
                &resolver,
                &mut outcome.global,
            )
            .await?;
            reconcile_queries(&mut tx, Scope::Global, &global.queries, &mut outcome.global).await?;
        }
        for team in &desired.teams {
            let result = apply_team(&mut tx, &self.server_key, team, &label_ids).await?;
            outcome.teams.push(result);
        }
        if desired.delete_other_teams {
            let rows = sqlx::query("SELECT id, name FROM teams ORDER BY name")
                .fetch_all(&mut *tx)
                .await?;
            for row in rows {
                let name: String = row.try_get("name")?;
                if desired.teams.iter().any(|t| t.config.name == name) {
                    continue;
                }
                delete_team_rows(&mut tx, TeamId(row.try_get("id")?)).await?;
                let mut deleted = ScopeOutcome::named(&name);
                deleted.record(Action::Delete, ObjectKind::Team, &name);
                outcome.teams.push(deleted);
            }
        }
        for (id, name) in labels_to_delete {
            ensure_label_unused(&mut tx, id, &name).await?;
            sqlx::query("DELETE FROM labels WHERE id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
        if desired.dry_run {
            tx.rollback().await?;
            return Ok(outcome);
        }
        let scopes = std::iter::once(&outcome.global).chain(&outcome.teams);
        let (created, updated, deleted) = scopes.fold((0, 0, 0), |(c, u, d), s| {
            (c + s.created, u + s.updated, d + s.deleted)
        });
        if created + updated + deleted > 0 {
            let activity = Activity {
                actor,
                activity_type: flotilla_core::activity::ActivityType::AppliedGitops,
                details: json!({"created": created, "updated": updated, "deleted": deleted}),
            };
            record_activity(&mut tx, &activity).await?;
            // Policies, labels and switches all decide verdicts.
            crate::dirty::mark(
                &mut tx,
                crate::DirtyKind::Compliance,
                crate::dirty::Affected::All,
            )
            .await?;
        }
        self.commit_marked(tx).await?;
        Ok(outcome)
    }

    /// A package already on the server with this SHA-256, in any team.
    pub async fn package_facts_by_sha256(&self, sha256: &str) -> Result<Option<PackageFacts>> {
        let row = sqlx::query(
            "SELECT title, version, bundle_id, filename, size_bytes FROM software_packages WHERE sha256 = $1 \
             ORDER BY id LIMIT 1",
        )
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(PackageFacts {
                title: row.try_get("title")?,
                version: row.try_get("version")?,
                bundle_id: row.try_get("bundle_id")?,
                filename: row.try_get("filename")?,
                size_bytes: row.try_get("size_bytes")?,
            })
        })
        .transpose()
    }
}

/// Sets the fields a GitOps file gives for one settings section, keeping the
/// rest; a field of the wrong type names its place (`org_settings.org_info`).
fn merge_fields<T: Serialize + DeserializeOwned>(
    section: &mut T,
    fields: &Option<Map<String, Value>>,
    place: &str,
) -> Result<()> {
    let Some(fields) = fields else {
        return Ok(());
    };
    let mut value = serde_json::to_value(&*section)?;
    if let Some(object) = value.as_object_mut() {
        object.extend(fields.clone());
    }
    *section = serde_json::from_value(value).map_err(|e| rejected(place, e.to_string()))?;
    Ok(())
}

/// Records which parts of a scope's settings changed.
fn record_settings_changes(
    settings_changed: bool,
    agent_options_changed: bool,
    outcome: &mut ScopeOutcome,
) {
    if settings_changed {
        outcome.record(Action::Update, ObjectKind::Settings, "settings");
    }
    if agent_options_changed {
        outcome.record(Action::Update, ObjectKind::AgentOptions, "agent_options");
    }
}

async fn apply_org_settings(
    tx: &mut Tx,
    key: &ServerKey,
    global: &GlobalConfig,
    outcome: &mut ScopeOutcome,
) -> Result<()> {
    let row = sqlx::query("SELECT document FROM app_config WHERE id = 1")
        .fetch_optional(&mut **tx)
        .await?;
    let before: OrgSettings = row.as_ref().map(settings).transpose()?.unwrap_or_default();
    let mut after = before.clone();
    let desired = &global.org_settings;
    after.integrations.conditional_access_enabled = Some(desired.conditional_access_enabled);
    merge_fields(
        &mut after.server_settings,
        &desired.server_settings,
        "org_settings.server_settings",
    )?;
    merge_fields(
        &mut after.org_info,
        &desired.org_info,
        "org_settings.org_info",
    )?;
    after.agent_options = global.agent_options.clone();
    if after != before {
        upsert_org_settings(tx, &after).await?;
        let without_options = |s: &OrgSettings| OrgSettings {
            agent_options: None,
            ..s.clone()
        };
        record_settings_changes(
            without_options(&before) != without_options(&after),
            before.agent_options != after.agent_options,
            outcome,
        );
    }
    if let Some(secrets) = &desired.secrets {
        if replace_secrets(tx, key, None, secrets).await? {
            outcome.record(Action::Update, ObjectKind::EnrollSecrets, "enroll secrets");
        }
    }
    Ok(())
}

/// A stored regular label with what GitOps compares.
struct CurrentLabel {
    id: LabelId,
    def: LabelDef,
    member_ids: Vec<HostId>,
}

/// Creates and updates labels now; returns the ones to delete, which goes
/// last, once every object that still uses a label has been brought in line.
async fn reconcile_labels(
    tx: &mut Tx,
    desired: &[LabelDef],
    outcome: &mut ScopeOutcome,
) -> Result<Vec<(LabelId, String)>> {
    let rows = sqlx::query(&format!("{LABEL_SELECT_UNCOUNTED} ORDER BY l.id"))
        .fetch_all(&mut **tx)
        .await?;
    let mut current = Vec::new();
    for row in &rows {
        let record = label_from_row(row)?;
        if record.label_type == LabelType::Builtin {
            if let Some(d) = desired.iter().find(|d| d.name == record.name) {
                return Err(rejected(
                    "labels",
                    format!(
                        "\"{}\" is a built-in label and can't be defined in GitOps files",
                        d.name
                    ),
                ));
            }
            continue;
        }
        let member_ids = if record.membership == LabelMembership::Manual {
            let members = sqlx::query(
                "SELECT host_id FROM label_membership WHERE label_id = $1 ORDER BY host_id",
            )
            .bind(record.id.0)
            .fetch_all(&mut **tx)
            .await?;
            members
                .iter()
                .map(|r| Ok(HostId(r.try_get("host_id")?)))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        current.push(CurrentLabel {
            id: record.id,
            def: LabelDef {
                name: record.name,
                description: record.description,
                query: record.query,
                platform: record.platform.to_list_string(),
                membership: record.membership,
                hosts: Vec::new(),
            },
            member_ids,
        });
    }
    let mut hosts_of = HashMap::new();
    for label in desired
        .iter()
        .filter(|l| l.membership == LabelMembership::Manual)
    {
        hosts_of.insert(label.name.as_str(), resolve_hosts(tx, label).await?);
    }
    let no_hosts = Vec::new();
    let steps = reconcile(
        &current,
        desired,
        |c| c.def.name.as_str(),
        |d| d.name.as_str(),
        |c, d| {
            let hosts = hosts_of.get(d.name.as_str()).unwrap_or(&no_hosts);
            c.def.description == d.description
                && c.def.query == d.query
                && c.def.platform == d.platform
                && c.def.membership == d.membership
                && &c.member_ids == hosts
        },
    );
    let mut to_delete = Vec::new();
    for step in steps {
        match step {
            Step::Create(d) => {
                let spec = LabelSpec {
                    name: d.name.clone(),
                    description: d.description.clone(),
                    query: d.query.clone(),
                    platform: checked_platforms(&d.platform)?,
                    membership: d.membership,
                    hosts: hosts_of.get(d.name.as_str()).cloned().unwrap_or_default(),
                };
                insert_label(tx, &spec).await?;
                outcome.record(Action::Create, ObjectKind::Label, &d.name);
            }
            Step::Update(c, d) => {
                sqlx::query(
                    "UPDATE labels SET description = $1, query = $2, platform = $3, membership_type = $4, updated_at = $5 \
                     WHERE id = $6",
                )
                .bind(d.description.as_str())
                .bind(d.query.as_str())
                .bind(d.platform.as_str())
                .bind(membership_column(d.membership))
                .bind(now())
                .bind(c.id.0)
                .execute(&mut **tx)
                .await?;
                let answers_changed = c.def.query != d.query
                    || c.def.platform != d.platform
                    || c.def.membership != d.membership;
                match d.membership {
                    LabelMembership::Manual => {
                        replace_members(
                            tx,
                            c.id,
                            hosts_of.get(d.name.as_str()).unwrap_or(&no_hosts),
                        )
                        .await?
                    }
                    LabelMembership::Dynamic if answers_changed => {
                        sqlx::query("DELETE FROM label_membership WHERE label_id = $1")
                            .bind(c.id.0)
                            .execute(&mut **tx)
                            .await?;
                    }
                    LabelMembership::Dynamic => {}
                }
                outcome.record(Action::Update, ObjectKind::Label, &d.name);
            }
            Step::Delete(c) => {
                to_delete.push((c.id, c.def.name.clone()));
                outcome.record(Action::Delete, ObjectKind::Label, &c.def.name);
            }
        }
    }
    Ok(to_delete)
}

/// A manual label's hosts, each named by hostname, serial number or UUID.
async fn resolve_hosts(tx: &mut Tx, label: &LabelDef) -> Result<Vec<HostId>> {
    let mut ids = Vec::new();
    for name in &label.hosts {
        let row = sqlx::query("SELECT id FROM hosts WHERE hostname = $1 OR hardware_serial = $1 OR uuid = $1 ORDER BY id LIMIT 1")
            .bind(name.as_str())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| {
                rejected("labels", format!("label \"{}\": no host has hostname, serial number or UUID \"{name}\"", label.name))
            })?;
        ids.push(HostId(row.try_get("id")?));
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

async fn label_ids(tx: &mut Tx) -> Result<HashMap<String, LabelId>> {
    let rows = sqlx::query("SELECT id, name FROM labels")
        .fetch_all(&mut **tx)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("name")?, LabelId(r.try_get("id")?))))
        .collect()
}

/// What names in one scope's objects resolve to.
struct Resolver<'a> {
    label_ids: &'a HashMap<String, LabelId>,
    /// SHA-256 → package (software title) id in this scope.
    packages: HashMap<String, i64>,
}

impl Resolver<'_> {
    fn labels(&self, scope: &LabelScope, owner: &str) -> Result<Vec<(LabelId, LabelTarget)>> {
        let modes = [
            (&scope.labels_include_all, LabelTarget::IncludeAll),
            (&scope.labels_include_any, LabelTarget::IncludeAny),
            (&scope.labels_exclude_any, LabelTarget::ExcludeAny),
        ];
        let mut resolved = Vec::new();
        for (names, mode) in modes {
            for name in names {
                let id = self.label_ids.get(name).ok_or_else(|| {
                    rejected(
                        "labels",
                        format!("{owner} targets label \"{name}\", which doesn't exist"),
                    )
                })?;
                resolved.push((*id, mode));
            }
        }
        Ok(resolved)
    }
}

/// Label targets as stored, in a form that compares regardless of order.
fn sorted_scope(mut scope: LabelScope) -> LabelScope {
    scope.labels_include_all.sort();
    scope.labels_include_any.sort();
    scope.labels_exclude_any.sort();
    scope
}

/// Label targets of every object in one table, by owner id.
async fn stored_scopes(tx: &mut Tx, sql: &str) -> Result<HashMap<String, LabelScope>> {
    let rows = sqlx::query(sql).fetch_all(&mut **tx).await?;
    let mut scopes: HashMap<String, LabelScope> = HashMap::new();
    for row in rows {
        let owner: String = row.try_get("owner")?;
        let name: String = row.try_get("name")?;
        let scope = scopes.entry(owner).or_default();
        match LabelTarget::parse(&row.try_get::<String, _>("mode")?) {
            LabelTarget::IncludeAll => scope.labels_include_all.push(name),
            LabelTarget::IncludeAny => scope.labels_include_any.push(name),
            LabelTarget::ExcludeAny => scope.labels_exclude_any.push(name),
        }
    }
    Ok(scopes
        .into_iter()
        .map(|(k, v)| (k, sorted_scope(v)))
        .collect())
}

/// Replaces the label targets of one policy or package.
async fn replace_targets(
    tx: &mut Tx,
    table: TargetTable,
    owner: i64,
    labels: &[(LabelId, LabelTarget)],
) -> Result<()> {
    let (delete, insert) = match table {
        TargetTable::Policy => (
            "DELETE FROM policy_labels WHERE policy_id = $1",
            "INSERT INTO policy_labels (policy_id, label_id, mode) VALUES ($1, $2, $3)",
        ),
        TargetTable::Package => (
            "DELETE FROM software_package_labels WHERE package_id = $1",
            "INSERT INTO software_package_labels (package_id, label_id, mode) VALUES ($1, $2, $3)",
        ),
    };
    sqlx::query(delete).bind(owner).execute(&mut **tx).await?;
    for (label, mode) in labels {
        sqlx::query(insert)
            .bind(owner)
            .bind(label.0)
            .bind(mode.as_str())
            .execute(&mut **tx)
            .await
            .map_err(|e| {
                crate::error::conflict_on_unique(e, || "a label is listed twice".into())
            })?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum TargetTable {
    Policy,
    Package,
}

async fn apply_team(
    tx: &mut Tx,
    key: &ServerKey,
    team: &DesiredTeam<'_>,
    label_ids: &HashMap<String, LabelId>,
) -> Result<ScopeOutcome> {
    let config = team.config;
    let mut outcome = ScopeOutcome::named(&config.name);
    let scope = if config.is_no_team() {
        Scope::NoTeam
    } else {
        Scope::Team(upsert_team(tx, key, team, &mut outcome).await?)
    };
    let mut resolver = Resolver {
        label_ids,
        packages: HashMap::new(),
    };
    let packages_to_delete =
        reconcile_packages(tx, scope, &team.packages, &resolver, &mut outcome).await?;
    let rows = sqlx::query(&format!(
        "SELECT id, sha256 FROM software_packages WHERE {}",
        scope_filter(scope)
    ))
    .fetch_all(&mut **tx)
    .await?;
    for row in rows {
        let sha256: String = row.try_get("sha256")?;
        // Only what the files list: a package on its way out can't be installed.
        if team.packages.iter().any(|p| p.def.hash_sha256 == sha256) {
            resolver.packages.insert(sha256, row.try_get("id")?);
        }
    }
    reconcile_profiles(tx, scope, &team.profiles, &resolver, &mut outcome).await?;
    reconcile_policies(tx, scope, &config.policies, &resolver, &mut outcome).await?;
    reconcile_queries(tx, scope, &config.queries, &mut outcome).await?;
    for id in packages_to_delete {
        sqlx::query("DELETE FROM software_packages WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(outcome)
}

/// Finds or creates the team and brings its settings and secrets in line.
async fn upsert_team(
    tx: &mut Tx,
    key: &ServerKey,
    team: &DesiredTeam<'_>,
    outcome: &mut ScopeOutcome,
) -> Result<TeamId> {
    let config = team.config;
    let row = sqlx::query("SELECT id, document FROM teams WHERE name = $1")
        .bind(config.name.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    let before: TeamSettings = row.as_ref().map(settings).transpose()?.unwrap_or_default();
    let mut after = before.clone();
    after.integrations.conditional_access_enabled = Some(config.conditional_access_enabled);
    after.agent_options = config.agent_options.clone();
    let id = match row {
        Some(row) => {
            let id = TeamId(row.try_get("id")?);
            if after != before {
                sqlx::query("UPDATE teams SET document = $1 WHERE id = $2")
                    .bind(settings_text(&after)?)
                    .bind(id.0)
                    .execute(&mut **tx)
                    .await?;
                record_settings_changes(
                    before.integrations != after.integrations || before.other != after.other,
                    before.agent_options != after.agent_options,
                    outcome,
                );
            }
            if let Some(secrets) = &config.secrets {
                if replace_secrets(tx, key, Some(id), secrets).await? {
                    outcome.record(Action::Update, ObjectKind::EnrollSecrets, "enroll secrets");
                }
            }
            id
        }
        None => {
            let id = insert_team(tx, &config.name, "", &after).await?;
            let fresh = std::slice::from_ref(&team.new_secret);
            for secret in config.secrets.as_deref().unwrap_or(fresh) {
                insert_secret(tx, key, secret, Some(id)).await?;
            }
            outcome.record(Action::Create, ObjectKind::Team, &config.name);
            id
        }
    };
    Ok(id)
}

fn policy_spec(d: &PolicyDef, resolver: &Resolver<'_>) -> Result<PolicySpec> {
    let install_software_id = match &d.install_software {
        None => None,
        Some(hash) => Some(*resolver.packages.get(hash).ok_or_else(|| {
            rejected(
                "install_software",
                format!("policy \"{}\" installs the package with SHA-256 {hash}, which this team's software doesn't list", d.name),
            )
        })?),
    };
    Ok(PolicySpec {
        name: d.name.clone(),
        query: d.query.clone(),
        description: d.description.clone(),
        resolution: d.resolution.clone(),
        platform: d.platform.clone(),
        critical: d.critical,
        calendar_events_enabled: d.calendar_events_enabled,
        conditional_access_enabled: d.conditional_access_enabled,
        install_software_id,
    })
}

async fn reconcile_policies(
    tx: &mut Tx,
    scope: Scope,
    desired: &[PolicyDef],
    resolver: &Resolver<'_>,
    outcome: &mut ScopeOutcome,
) -> Result<()> {
    let filter = format!("p.{}", scope_filter(scope));
    let rows = sqlx::query(&format!(
        "{POLICY_SELECT_UNCOUNTED} WHERE {filter} ORDER BY p.id"
    ))
    .fetch_all(&mut **tx)
    .await?;
    let current = rows
        .iter()
        .map(policy_from_row)
        .collect::<Result<Vec<_>>>()?;
    let scopes = stored_scopes(
        tx,
        &format!(
            "SELECT CAST(x.policy_id AS TEXT) AS owner, l.name, x.mode FROM policy_labels x \
             JOIN labels l ON l.id = x.label_id JOIN policies p ON p.id = x.policy_id WHERE {filter}"
        ),
    )
    .await?;
    let specs = desired
        .iter()
        .map(|d| policy_spec(d, resolver))
        .collect::<Result<Vec<_>>>()?;
    let pairs: Vec<(&PolicyDef, &PolicySpec)> = desired.iter().zip(&specs).collect();
    let steps = reconcile(
        &current,
        &pairs,
        |c| c.name.as_str(),
        |d| d.0.name.as_str(),
        |c, (d, spec)| {
            c.query == spec.query
                && c.description == spec.description
                && c.resolution == spec.resolution
                && c.platform.to_list_string() == spec.platform
                && c.critical == spec.critical
                && c.calendar_events_enabled == spec.calendar_events_enabled
                && c.conditional_access_enabled == spec.conditional_access_enabled
                && c.install_software.as_ref().map(|s| s.0) == spec.install_software_id
                && scopes.get(&c.id.0.to_string()).cloned().unwrap_or_default()
                    == sorted_scope(d.labels.clone())
        },
    );
    for step in steps {
        match step {
            Step::Create((d, spec)) => {
                let labels = resolver.labels(&d.labels, &format!("policy \"{}\"", d.name))?;
                let id = insert_policy(tx, scope, spec, None).await?;
                replace_targets(tx, TargetTable::Policy, id.0, &labels).await?;
                outcome.record(Action::Create, ObjectKind::Policy, &d.name);
            }
            Step::Update(c, (d, spec)) => {
                let labels = resolver.labels(&d.labels, &format!("policy \"{}\"", d.name))?;
                let drop_results =
                    c.query != spec.query || c.platform.to_list_string() != spec.platform;
                update_policy_row(tx, c.id, spec, drop_results).await?;
                replace_targets(tx, TargetTable::Policy, c.id.0, &labels).await?;
                outcome.record(Action::Update, ObjectKind::Policy, &d.name);
            }
            Step::Delete(c) => {
                delete_policy(tx, c.id).await?;
                outcome.record(Action::Delete, ObjectKind::Policy, &c.name);
            }
        }
    }
    Ok(())
}

async fn delete_policy(tx: &mut Tx, id: PolicyId) -> Result<()> {
    sqlx::query("DELETE FROM policies WHERE id = $1")
        .bind(id.0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn reconcile_queries(
    tx: &mut Tx,
    scope: Scope,
    desired: &[QueryDef],
    outcome: &mut ScopeOutcome,
) -> Result<()> {
    let rows = sqlx::query(&format!(
        "{QUERY_SELECT} WHERE {} ORDER BY id",
        scope_filter(scope)
    ))
    .fetch_all(&mut **tx)
    .await?;
    let current = rows
        .iter()
        .map(|row| query_from_row(row).map(|q| (q.id, q.def)))
        .collect::<Result<Vec<_>>>()?;
    let steps = reconcile(
        &current,
        desired,
        |c| c.1.name.as_str(),
        |d| d.name.as_str(),
        |c, d| &c.1 == d,
    );
    for step in steps {
        match step {
            Step::Create(d) => {
                sqlx::query(
                    "INSERT INTO saved_queries (team_id, name, description, query, platform, interval_secs, observer_can_run, \
                     automations_enabled, logging, min_osquery_version, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
                )
                .bind(scope_to_column(scope))
                .bind(d.name.as_str())
                .bind(d.description.as_str())
                .bind(d.query.as_str())
                .bind(d.platform.as_str())
                .bind(d.interval)
                .bind(as_flag(d.observer_can_run))
                .bind(as_flag(d.automations_enabled))
                .bind(d.logging.as_str())
                .bind(d.min_osquery_version.as_str())
                .bind(now())
                .execute(&mut **tx)
                .await?;
                outcome.record(Action::Create, ObjectKind::Query, &d.name);
            }
            Step::Update(c, d) => {
                sqlx::query(
                    "UPDATE saved_queries SET description = $1, query = $2, platform = $3, interval_secs = $4, \
                     observer_can_run = $5, automations_enabled = $6, logging = $7, min_osquery_version = $8, updated_at = $9 \
                     WHERE id = $10",
                )
                .bind(d.description.as_str())
                .bind(d.query.as_str())
                .bind(d.platform.as_str())
                .bind(d.interval)
                .bind(as_flag(d.observer_can_run))
                .bind(as_flag(d.automations_enabled))
                .bind(d.logging.as_str())
                .bind(d.min_osquery_version.as_str())
                .bind(now())
                .bind(c.0)
                .execute(&mut **tx)
                .await?;
                outcome.record(Action::Update, ObjectKind::Query, &d.name);
            }
            Step::Delete(c) => {
                sqlx::query("DELETE FROM saved_queries WHERE id = $1")
                    .bind(c.0)
                    .execute(&mut **tx)
                    .await?;
                outcome.record(Action::Delete, ObjectKind::Query, &c.1.name);
            }
        }
    }
    Ok(())
}

struct CurrentProfile {
    uuid: String,
    name: String,
    checksum: String,
}

async fn reconcile_profiles(
    tx: &mut Tx,
    scope: Scope,
    desired: &[DesiredProfile],
    resolver: &Resolver<'_>,
    outcome: &mut ScopeOutcome,
) -> Result<()> {
    let team = scope_to_column(scope).unwrap_or(0);
    let rows = sqlx::query(
        "SELECT uuid, name, checksum FROM configuration_profiles WHERE team_id = $1 ORDER BY name",
    )
    .bind(team)
    .fetch_all(&mut **tx)
    .await?;
    let current = rows
        .iter()
        .map(|r| {
            Ok(CurrentProfile {
                uuid: r.try_get("uuid")?,
                name: r.try_get("name")?,
                checksum: r.try_get("checksum")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let scopes = stored_scopes(
        tx,
        &format!(
            "SELECT x.profile_uuid AS owner, l.name, x.mode FROM configuration_profile_labels x \
             JOIN labels l ON l.id = x.label_id JOIN configuration_profiles p ON p.uuid = x.profile_uuid \
             WHERE p.team_id = {team}"
        ),
    )
    .await?;
    let steps = reconcile(
        &current,
        desired,
        |c| c.name.as_str(),
        |d| d.name.as_str(),
        |c, d| {
            c.checksum == d.checksum
                && scopes.get(&c.uuid).cloned().unwrap_or_default()
                    == sorted_scope(d.labels.clone())
        },
    );
    for step in steps {
        match step {
            Step::Create(d) | Step::Update(_, d) => {
                let labels = resolver.labels(&d.labels, &format!("profile \"{}\"", d.name))?;
                let (uuid, action) = match step {
                    Step::Update(c, _) => {
                        // Replaced in place: the profile keeps its uuid.
                        sqlx::query("DELETE FROM configuration_profiles WHERE uuid = $1")
                            .bind(c.uuid.as_str())
                            .execute(&mut **tx)
                            .await?;
                        (c.uuid.clone(), Action::Update)
                    }
                    _ => (d.new_uuid.clone(), Action::Create),
                };
                let profile = NewProfile {
                    uuid,
                    scope,
                    identifier: d.identifier.clone(),
                    name: d.name.clone(),
                    content: d.content.clone(),
                    checksum: d.checksum.clone(),
                    labels,
                };
                insert_profile(tx, &profile).await?;
                outcome.record(action, ObjectKind::Profile, &d.name);
            }
            Step::Delete(c) => {
                sqlx::query("DELETE FROM configuration_profiles WHERE uuid = $1")
                    .bind(c.uuid.as_str())
                    .execute(&mut **tx)
                    .await?;
                outcome.record(Action::Delete, ObjectKind::Profile, &c.name);
            }
        }
    }
    Ok(())
}

/// Creates and updates a team's packages; returns the ids to delete once no
/// policy installs them any more.
async fn reconcile_packages(
    tx: &mut Tx,
    scope: Scope,
    desired: &[DesiredPackage],
    resolver: &Resolver<'_>,
    outcome: &mut ScopeOutcome,
) -> Result<Vec<i64>> {
    let team = scope_to_column(scope).unwrap_or(0);
    let rows = sqlx::query(
        "SELECT id, title, sha256, install_script, uninstall_script, self_service, url FROM software_packages \
         WHERE team_id = $1 ORDER BY title",
    )
    .bind(team)
    .fetch_all(&mut **tx)
    .await?;
    let mut current: Vec<(i64, String, PackageDef)> = Vec::new();
    for row in &rows {
        let url: String = row.try_get("url")?;
        current.push((
            row.try_get("id")?,
            row.try_get("title")?,
            PackageDef {
                hash_sha256: row.try_get("sha256")?,
                url: (!url.is_empty()).then_some(url),
                file_name: None,
                install_script: row.try_get("install_script")?,
                uninstall_script: row.try_get("uninstall_script")?,
                self_service: flag(row, "self_service")?,
                labels: LabelScope::default(),
            },
        ));
    }
    let scopes = stored_scopes(
        tx,
        &format!(
            "SELECT CAST(x.package_id AS TEXT) AS owner, l.name, x.mode FROM software_package_labels x \
             JOIN labels l ON l.id = x.label_id JOIN software_packages p ON p.id = x.package_id WHERE p.team_id = {team}"
        ),
    )
    .await?;
    for entry in &mut current {
        entry.2.labels = scopes
            .get(&entry.0.to_string())
            .cloned()
            .unwrap_or_default();
    }
    let steps = reconcile(
        &current,
        desired,
        |c| c.1.as_str(),
        |d| d.facts.title.as_str(),
        |c, d| {
            let mut want = d.def.clone();
            want.labels = sorted_scope(want.labels);
            // The file name only names an installer that isn't on the server yet.
            want.file_name = None;
            c.2 == want
        },
    );
    let mut to_delete = Vec::new();
    for step in steps {
        match step {
            Step::Create(d) => {
                let labels =
                    resolver.labels(&d.def.labels, &format!("software \"{}\"", d.facts.title))?;
                let id = insert_package(tx, &software_package(scope, d)).await?;
                replace_targets(tx, TargetTable::Package, id, &labels).await?;
                outcome.record(Action::Create, ObjectKind::Software, &d.facts.title);
            }
            Step::Update(c, d) => {
                let labels =
                    resolver.labels(&d.def.labels, &format!("software \"{}\"", d.facts.title))?;
                sqlx::query(
                    "UPDATE software_packages SET version = $1, bundle_id = $2, filename = $3, sha256 = $4, size_bytes = $5, \
                     install_script = $6, uninstall_script = $7, self_service = $8, url = $9 WHERE id = $10",
                )
                .bind(d.facts.version.as_str())
                .bind(d.facts.bundle_id.as_str())
                .bind(d.facts.filename.as_str())
                .bind(d.def.hash_sha256.as_str())
                .bind(d.facts.size_bytes)
                .bind(d.def.install_script.as_str())
                .bind(d.def.uninstall_script.as_str())
                .bind(as_flag(d.def.self_service))
                .bind(d.def.url.as_deref().unwrap_or(""))
                .bind(c.0)
                .execute(&mut **tx)
                .await?;
                replace_targets(tx, TargetTable::Package, c.0, &labels).await?;
                outcome.record(Action::Update, ObjectKind::Software, &d.facts.title);
            }
            Step::Delete(c) => {
                // Policies that install it are reconciled first; they let go of it or fail.
                sqlx::query(
                    "UPDATE policies SET install_software_id = NULL WHERE install_software_id = $1",
                )
                .bind(c.0)
                .execute(&mut **tx)
                .await?;
                to_delete.push(c.0);
                outcome.record(Action::Delete, ObjectKind::Software, &c.1);
            }
        }
    }
    Ok(to_delete)
}

fn software_package(scope: Scope, d: &DesiredPackage) -> SoftwarePackage {
    SoftwarePackage {
        id: 0,
        scope,
        title: d.facts.title.clone(),
        version: d.facts.version.clone(),
        bundle_id: d.facts.bundle_id.clone(),
        filename: d.facts.filename.clone(),
        sha256: d.def.hash_sha256.clone(),
        size_bytes: d.facts.size_bytes,
        install_script: d.def.install_script.clone(),
        uninstall_script: d.def.uninstall_script.clone(),
        self_service: d.def.self_service,
        url: d.def.url.clone().unwrap_or_default(),
        created_at: 0,
    }
}
