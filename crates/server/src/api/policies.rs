//! Policies: global ones at `/global/policies`, a team's (or "No team"'s, team 0)
//! at `/teams/{id}/policies`.

use super::team_scope;
use crate::auth::Session;
use crate::error::{ApiError, ApiResult, JsonBody, PathParam};
use crate::{views, AppState};
use axum::extract::State;
use axum::Json;
use flotilla_core::access::Scope;
use flotilla_core::validation::{validate_policy, PolicyDraft};
use flotilla_core::{PolicyId, TeamId};
use flotilla_store::{PolicyRecord, PolicySpec};
use serde::Deserialize;
use serde_json::{json, Value};

/// Every field optional, so one body serves create (defaults) and modify (current values).
#[derive(Deserialize, Default)]
pub struct PolicyBody {
    name: Option<String>,
    query: Option<String>,
    description: Option<String>,
    resolution: Option<String>,
    platform: Option<String>,
    critical: Option<bool>,
    calendar_events_enabled: Option<bool>,
    conditional_access_enabled: Option<bool>,
    /// Absent: unchanged; null: none; a number: the team's software title to install.
    #[serde(default, deserialize_with = "present")]
    software_title_id: Option<Value>,
}

/// Keeps an explicit `null` as `Some(Null)`, so it differs from an absent key.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl PolicyBody {
    /// The policy this body describes, on top of `base`.
    fn apply_to(self, base: PolicySpec) -> PolicySpec {
        PolicySpec {
            name: self.name.map_or(base.name, |n| n.trim().to_string()),
            query: self.query.map_or(base.query, |q| q.trim().to_string()),
            description: self.description.unwrap_or(base.description),
            resolution: self.resolution.unwrap_or(base.resolution),
            platform: self.platform.unwrap_or(base.platform),
            critical: self.critical.unwrap_or(base.critical),
            calendar_events_enabled: self
                .calendar_events_enabled
                .unwrap_or(base.calendar_events_enabled),
            conditional_access_enabled: self
                .conditional_access_enabled
                .unwrap_or(base.conditional_access_enabled),
            install_software_id: match self.software_title_id {
                None => base.install_software_id,
                Some(value) => value.as_i64(),
            },
        }
    }
}

pub(crate) fn empty_spec() -> PolicySpec {
    PolicySpec {
        name: String::new(),
        query: String::new(),
        description: String::new(),
        resolution: String::new(),
        platform: String::new(),
        critical: false,
        calendar_events_enabled: false,
        conditional_access_enabled: false,
        install_software_id: None,
    }
}

pub(crate) fn spec_of(policy: &PolicyRecord) -> PolicySpec {
    PolicySpec {
        name: policy.name.clone(),
        query: policy.query.clone(),
        description: policy.description.clone(),
        resolution: policy.resolution.clone(),
        platform: policy.platform.clone(),
        critical: policy.critical,
        calendar_events_enabled: policy.calendar_events_enabled,
        conditional_access_enabled: policy.conditional_access_enabled,
        install_software_id: policy.install_software.as_ref().map(|(id, _)| *id),
    }
}

/// Validates and normalises (the platform list is stored canonical).
pub(crate) fn checked(mut spec: PolicySpec) -> ApiResult<PolicySpec> {
    let platforms = validate_policy(&PolicyDraft {
        name: spec.name.clone(),
        query: spec.query.clone(),
        platform: spec.platform.clone(),
        conditional_access_enabled: spec.conditional_access_enabled,
    })?;
    spec.platform = platforms.to_list_string();
    Ok(spec)
}

/// A policy installs only software of its own team (or "No team"); global
/// policies install nothing.
async fn check_install_software(
    state: &AppState,
    scope: Scope,
    spec: &PolicySpec,
) -> ApiResult<()> {
    let Some(title) = spec.install_software_id else {
        return Ok(());
    };
    let field = "software_title_id";
    if scope == Scope::Global {
        return Err(ApiError::invalid(
            field,
            "global policies can't install software; use a team policy",
        ));
    }
    match state.store.software_package(title).await {
        Ok(package) if package.scope == scope => Ok(()),
        Ok(_) => Err(ApiError::invalid(
            field,
            format!("software title {title} is not available for install in this team"),
        )),
        Err(flotilla_store::StoreError::NotFound(_)) => Err(ApiError::invalid(
            field,
            format!("software title {title} does not exist"),
        )),
        Err(err) => Err(err.into()),
    }
}

async fn list(state: &AppState, session: &Session, scope: Scope) -> ApiResult<Json<Value>> {
    session.require_read(scope)?;
    let policies = state.store.policies(scope).await?;
    Ok(Json(
        json!({ "policies": policies.iter().map(views::policy).collect::<Vec<_>>() }),
    ))
}

async fn create(
    state: &AppState,
    session: &Session,
    scope: Scope,
    body: PolicyBody,
) -> ApiResult<Json<Value>> {
    session.require_write(scope)?;
    let spec = checked(body.apply_to(empty_spec()))?;
    check_install_software(state, scope, &spec).await?;
    let activity = session.activity("created_policy", json!({ "policy_name": spec.name }));
    let policy = state
        .store
        .create_policy(scope, &spec, Some(session.user.id), activity)
        .await?;
    if policy.conditional_access_enabled {
        crate::conditional_access::reevaluate_all(state);
    }
    Ok(Json(json!({ "policy": views::policy(&policy) })))
}

async fn policy_in(state: &AppState, scope: Scope, id: i64) -> ApiResult<PolicyRecord> {
    let policy = state.store.policy(PolicyId(id)).await?;
    if policy.scope != scope {
        return Err(ApiError::NotFound("policy".into()));
    }
    Ok(policy)
}

async fn get(state: &AppState, session: &Session, scope: Scope, id: i64) -> ApiResult<Json<Value>> {
    session.require_read(scope)?;
    let policy = policy_in(state, scope, id).await?;
    Ok(Json(json!({ "policy": views::policy(&policy) })))
}

async fn modify(
    state: &AppState,
    session: &Session,
    scope: Scope,
    id: i64,
    body: PolicyBody,
) -> ApiResult<Json<Value>> {
    session.require_write(scope)?;
    let current = policy_in(state, scope, id).await?;
    let spec = checked(body.apply_to(spec_of(&current)))?;
    check_install_software(state, scope, &spec).await?;
    let activity = session.activity(
        "edited_policy",
        json!({ "policy_id": id, "policy_name": spec.name }),
    );
    let policy = state
        .store
        .update_policy(current.id, &spec, activity)
        .await?;
    if current.conditional_access_enabled || policy.conditional_access_enabled {
        crate::conditional_access::reevaluate_all(state);
    }
    Ok(Json(json!({ "policy": views::policy(&policy) })))
}

#[derive(Deserialize)]
pub struct DeleteBody {
    ids: Vec<i64>,
}

async fn delete(
    state: &AppState,
    session: &Session,
    scope: Scope,
    body: DeleteBody,
) -> ApiResult<Json<Value>> {
    session.require_write(scope)?;
    let ids: Vec<PolicyId> = body.ids.iter().copied().map(PolicyId).collect();
    let activity = session.activity("deleted_policies", json!({ "policy_ids": body.ids }));
    state.store.delete_policies(scope, &ids, activity).await?;
    crate::conditional_access::reevaluate_all(state);
    Ok(Json(json!({ "deleted": ids.len() })))
}

pub async fn list_global(
    State(state): State<AppState>,
    session: Session,
) -> ApiResult<Json<Value>> {
    list(&state, &session, Scope::Global).await
}

pub async fn create_global(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<PolicyBody>,
) -> ApiResult<Json<Value>> {
    create(&state, &session, Scope::Global, body).await
}

pub async fn get_global(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Value>> {
    get(&state, &session, Scope::Global, id).await
}

pub async fn modify_global(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
    JsonBody(body): JsonBody<PolicyBody>,
) -> ApiResult<Json<Value>> {
    modify(&state, &session, Scope::Global, id, body).await
}

pub async fn delete_global(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<DeleteBody>,
) -> ApiResult<Json<Value>> {
    delete(&state, &session, Scope::Global, body).await
}

pub async fn list_team(
    State(state): State<AppState>,
    session: Session,
    PathParam(team): PathParam<i64>,
) -> ApiResult<Json<Value>> {
    session.require_read(Scope::of_team((team != 0).then_some(TeamId(team))))?;
    let scope = team_scope(&state, Some(team)).await?;
    list(&state, &session, scope).await
}

pub async fn create_team(
    State(state): State<AppState>,
    session: Session,
    PathParam(team): PathParam<i64>,
    JsonBody(body): JsonBody<PolicyBody>,
) -> ApiResult<Json<Value>> {
    session.require_write(Scope::of_team((team != 0).then_some(TeamId(team))))?;
    let scope = team_scope(&state, Some(team)).await?;
    create(&state, &session, scope, body).await
}

pub async fn get_team(
    State(state): State<AppState>,
    session: Session,
    PathParam((team, id)): PathParam<(i64, i64)>,
) -> ApiResult<Json<Value>> {
    session.require_read(Scope::of_team((team != 0).then_some(TeamId(team))))?;
    let scope = team_scope(&state, Some(team)).await?;
    get(&state, &session, scope, id).await
}

pub async fn modify_team(
    State(state): State<AppState>,
    session: Session,
    PathParam((team, id)): PathParam<(i64, i64)>,
    JsonBody(body): JsonBody<PolicyBody>,
) -> ApiResult<Json<Value>> {
    session.require_write(Scope::of_team((team != 0).then_some(TeamId(team))))?;
    let scope = team_scope(&state, Some(team)).await?;
    modify(&state, &session, scope, id, body).await
}

pub async fn delete_team(
    State(state): State<AppState>,
    session: Session,
    PathParam(team): PathParam<i64>,
    JsonBody(body): JsonBody<DeleteBody>,
) -> ApiResult<Json<Value>> {
    session.require_write(Scope::of_team((team != 0).then_some(TeamId(team))))?;
    let scope = team_scope(&state, Some(team)).await?;
    delete(&state, &session, scope, body).await
}
