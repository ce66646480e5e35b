//! Policies: global ones at `/global/policies`, a team's (or "No team"'s, team 0)
//! at `/teams/{id}/policies`.

use crate::auth::Session;
use crate::error::{ApiResult, JsonBody, PathParam};
use crate::service::{policies, teams};
use crate::wire::requests::{DeletePoliciesBody, PolicyBody};
use crate::wire::{self, DeletedResponse, PoliciesResponse, Policy, PolicyResponse};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use flotilla_core::access::Scope;
use flotilla_core::PolicyId;
use flotilla_store::PolicySpec;

impl PolicyBody {
    /// The policy this body describes, on top of `base`.
    fn apply_to(self, base: PolicySpec) -> PolicySpec {
        PolicySpec {
            name: self.name.unwrap_or(base.name),
            query: self.query.unwrap_or(base.query),
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

async fn list(
    state: &AppState,
    session: &Session,
    scope: Scope,
) -> ApiResult<Json<PoliciesResponse>> {
    let policies = policies::list(state, &session.caller(), scope).await?;
    Ok(Json(PoliciesResponse {
        policies: wire::all(&policies),
    }))
}

async fn create(
    state: &AppState,
    session: &Session,
    scope: Scope,
    body: PolicyBody,
) -> ApiResult<Json<PolicyResponse>> {
    let spec = body.apply_to(policies::empty_spec());
    let policy = policies::create(state, &session.caller(), scope, spec).await?;
    Ok(Json(PolicyResponse {
        policy: Policy::from(&policy),
    }))
}

async fn get(
    state: &AppState,
    session: &Session,
    scope: Scope,
    id: i64,
) -> ApiResult<Json<PolicyResponse>> {
    let policy = policies::get(state, &session.caller(), Some(scope), PolicyId(id)).await?;
    Ok(Json(PolicyResponse {
        policy: Policy::from(&policy),
    }))
}

async fn modify(
    state: &AppState,
    session: &Session,
    scope: Scope,
    id: i64,
    body: PolicyBody,
) -> ApiResult<Json<PolicyResponse>> {
    let policy = policies::modify(
        state,
        &session.caller(),
        Some(scope),
        PolicyId(id),
        |spec| body.apply_to(spec),
    )
    .await?;
    Ok(Json(PolicyResponse {
        policy: Policy::from(&policy),
    }))
}

async fn delete(
    state: &AppState,
    session: &Session,
    scope: Scope,
    body: DeletePoliciesBody,
) -> ApiResult<Json<DeletedResponse>> {
    let ids: Vec<PolicyId> = body.ids.iter().copied().map(PolicyId).collect();
    let deleted = policies::delete(state, &session.caller(), scope, &ids).await?;
    Ok(Json(DeletedResponse { deleted }))
}

pub async fn list_global(
    State(state): State<AppState>,
    session: Session,
) -> ApiResult<Json<PoliciesResponse>> {
    list(&state, &session, Scope::Global).await
}

pub async fn create_global(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<PolicyBody>,
) -> ApiResult<Json<PolicyResponse>> {
    create(&state, &session, Scope::Global, body).await
}

pub async fn get_global(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<PolicyResponse>> {
    get(&state, &session, Scope::Global, id).await
}

pub async fn modify_global(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
    JsonBody(body): JsonBody<PolicyBody>,
) -> ApiResult<Json<PolicyResponse>> {
    modify(&state, &session, Scope::Global, id, body).await
}

pub async fn delete_global(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<DeletePoliciesBody>,
) -> ApiResult<Json<DeletedResponse>> {
    delete(&state, &session, Scope::Global, body).await
}

pub async fn list_team(
    State(state): State<AppState>,
    session: Session,
    PathParam(team): PathParam<i64>,
) -> ApiResult<Json<PoliciesResponse>> {
    let scope = teams::scope_of(&state, Some(team)).await?;
    list(&state, &session, scope).await
}

pub async fn create_team(
    State(state): State<AppState>,
    session: Session,
    PathParam(team): PathParam<i64>,
    JsonBody(body): JsonBody<PolicyBody>,
) -> ApiResult<Json<PolicyResponse>> {
    let scope = teams::scope_of(&state, Some(team)).await?;
    create(&state, &session, scope, body).await
}

pub async fn get_team(
    State(state): State<AppState>,
    session: Session,
    PathParam((team, id)): PathParam<(i64, i64)>,
) -> ApiResult<Json<PolicyResponse>> {
    let scope = teams::scope_of(&state, Some(team)).await?;
    get(&state, &session, scope, id).await
}

pub async fn modify_team(
    State(state): State<AppState>,
    session: Session,
    PathParam((team, id)): PathParam<(i64, i64)>,
    JsonBody(body): JsonBody<PolicyBody>,
) -> ApiResult<Json<PolicyResponse>> {
    let scope = teams::scope_of(&state, Some(team)).await?;
    modify(&state, &session, scope, id, body).await
}

pub async fn delete_team(
    State(state): State<AppState>,
    session: Session,
    PathParam(team): PathParam<i64>,
    JsonBody(body): JsonBody<DeletePoliciesBody>,
) -> ApiResult<Json<DeletedResponse>> {
    let scope = teams::scope_of(&state, Some(team)).await?;
    delete(&state, &session, scope, body).await
}
