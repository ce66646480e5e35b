//! Teams, their settings, and enroll secrets (per team and global).

use crate::auth::{allow, Session};
use crate::error::{ApiError, ApiResult, JsonBody, PathParam};
use crate::secrets::random_token;
use crate::{views, AppState};
use axum::extract::State;
use axum::Json;
use flotilla_core::access::Scope;
use flotilla_core::{TeamId, ValidationErrors};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Team settings keys `PATCH /teams/{id}` takes besides name and description.
const TEAM_SETTINGS_KEYS: &[&str] = &["integrations", "agent_options"];

async fn team_view(
    state: &AppState,
    team: &flotilla_store::TeamRecord,
    with_secrets: bool,
) -> ApiResult<Value> {
    let secrets = if with_secrets {
        state.store.enroll_secrets(Some(team.id)).await?
    } else {
        Vec::new()
    };
    Ok(views::team(team, &secrets))
}

#[derive(Deserialize)]
pub struct CreateBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

pub async fn create(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult<Json<Value>> {
    session.require_global_admin()?;
    let name = body.name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("name", "team name must not be empty"));
    }
    if name.eq_ignore_ascii_case("no team") || name.eq_ignore_ascii_case("all teams") {
        return Err(ApiError::invalid("name", format!("\"{name}\" is reserved")));
    }
    let activity = session.activity("created_team", json!({ "team_name": name }));
    let team = state
        .store
        .create_team(
            name,
            body.description.trim(),
            &json!({}),
            &random_token(24),
            activity,
        )
        .await?;
    Ok(Json(
        json!({ "team": team_view(&state, &team, true).await? }),
    ))
}

pub async fn list(State(state): State<AppState>, session: Session) -> ApiResult<Json<Value>> {
    let mut teams = Vec::new();
    for team in state.store.teams().await? {
        if session.principal.can_read(Scope::Team(team.id)) {
            let with_secrets = session.principal.can_write(Scope::Team(team.id));
            teams.push(team_view(&state, &team, with_secrets).await?);
        }
    }
    Ok(Json(json!({ "teams": teams })))
}

pub async fn get(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Value>> {
    let id = TeamId(id);
    session.require_read(Scope::Team(id))?;
    let team = state.store.team(id).await?;
    let with_secrets = session.principal.can_write(Scope::Team(id));
    Ok(Json(
        json!({ "team": team_view(&state, &team, with_secrets).await? }),
    ))
}

fn validate_settings(settings: &Map<String, Value>, errors: &mut ValidationErrors) {
    for (key, value) in settings {
        if !TEAM_SETTINGS_KEYS.contains(&key.as_str()) {
            errors.add(
                key,
                format!(
                    "unknown team setting; valid settings are name, description, {}",
                    TEAM_SETTINGS_KEYS.join(", ")
                ),
            );
        } else if !value.is_object() && !value.is_null() {
            errors.add(key, "must be an object");
        }
    }
    if let Some(config) = settings.get("agent_options").and_then(|o| o.get("config")) {
        if !config.is_object() {
            errors.add(
                "agent_options.config",
                "must be an object of osquery options",
            );
        }
    }
    if let Some(Value::Object(integrations)) = settings.get("integrations") {
        super::config::check_integrations(integrations, errors);
    }
}

#[derive(Deserialize)]
pub struct ModifyBody {
    name: Option<String>,
    description: Option<String>,
    #[serde(flatten)]
    settings: Map<String, Value>,
}

pub async fn modify(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
    JsonBody(body): JsonBody<ModifyBody>,
) -> ApiResult<Json<Value>> {
    let id = TeamId(id);
    allow(session.principal.can_administer_team(id))?;
    let current = state.store.team(id).await?;
    let mut errors = ValidationErrors::default();
    let name = body
        .name
        .as_deref()
        .map(str::trim)
        .unwrap_or(&current.name)
        .to_string();
    if name.is_empty() {
        errors.add("name", "team name must not be empty");
    }
    validate_settings(&body.settings, &mut errors);
    errors.into_result()?;
    let mut document = current.document.clone();
    if let Some(doc) = document.as_object_mut() {
        for (key, value) in body.settings {
            match (doc.get_mut(&key), value) {
                (Some(Value::Object(existing)), Value::Object(new)) if key == "integrations" => {
                    existing.extend(new)
                }
                (_, value) => {
                    doc.insert(key, value);
                }
            }
        }
    }
    let description = body.description.unwrap_or(current.description);
    let activity = session.activity("edited_team", json!({ "team_id": id.0, "team_name": name }));
    let team = state
        .store
        .update_team(id, &name, description.trim(), &document, Some(activity))
        .await?;
    crate::conditional_access::reevaluate_all(&state);
    Ok(Json(
        json!({ "team": team_view(&state, &team, true).await? }),
    ))
}

/// Fleet's `POST /teams/{id}/agent_options`: the body is the agent options.
pub async fn set_agent_options(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
    JsonBody(options): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let id = TeamId(id);
    allow(session.principal.can_administer_team(id))?;
    let mut errors = ValidationErrors::default();
    let settings: Map<String, Value> = [("agent_options".to_string(), options.clone())]
        .into_iter()
        .collect();
    validate_settings(&settings, &mut errors);
    errors.into_result()?;
    let current = state.store.team(id).await?;
    let mut document = current.document.clone();
    if let Some(doc) = document.as_object_mut() {
        doc.insert("agent_options".into(), options);
    }
    let activity = session.activity(
        "edited_agent_options",
        json!({ "team_id": id.0, "team_name": current.name }),
    );
    let team = state
        .store
        .update_team(
            id,
            &current.name,
            &current.description,
            &document,
            Some(activity),
        )
        .await?;
    Ok(Json(
        json!({ "team": team_view(&state, &team, true).await? }),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Value>> {
    session.require_global_admin()?;
    let team = state.store.team(TeamId(id)).await?;
    let activity = session.activity(
        "deleted_team",
        json!({ "team_id": id, "team_name": team.name }),
    );
    state.store.delete_team(team.id, activity).await?;
    Ok(Json(json!({})))
}

pub async fn secrets(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Value>> {
    let id = TeamId(id);
    session.require_write(Scope::Team(id))?;
    state.store.team(id).await?;
    let secrets = state.store.enroll_secrets(Some(id)).await?;
    Ok(Json(
        json!({ "secrets": secrets.iter().map(views::secret).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
pub struct SecretEntry {
    #[serde(default)]
    secret: String,
}

#[derive(Deserialize)]
pub struct SecretsBody {
    secrets: Vec<SecretEntry>,
}

fn validated_secrets(entries: Vec<SecretEntry>) -> ApiResult<Vec<String>> {
    let mut secrets: Vec<String> = Vec::new();
    for entry in entries {
        let secret = entry.secret.trim().to_string();
        if secret.len() < 8 {
            return Err(ApiError::invalid(
                "secrets",
                "each enroll secret must be at least 8 characters",
            ));
        }
        if secrets.contains(&secret) {
            return Err(ApiError::invalid(
                "secrets",
                "enroll secrets must be unique",
            ));
        }
        secrets.push(secret);
    }
    Ok(secrets)
}

pub async fn replace_secrets(
    State(state): State<AppState>,
    session: Session,
    PathParam(id): PathParam<i64>,
    JsonBody(body): JsonBody<SecretsBody>,
) -> ApiResult<Json<Value>> {
    let id = TeamId(id);
    allow(session.principal.can_administer_team(id))?;
    let secrets = validated_secrets(body.secrets)?;
    let team = state.store.team(id).await?;
    let activity = session.activity(
        "edited_enroll_secrets",
        json!({ "team_id": id.0, "team_name": team.name }),
    );
    let stored = state
        .store
        .replace_enroll_secrets(Some(id), &secrets, activity)
        .await?;
    Ok(Json(
        json!({ "secrets": stored.iter().map(views::secret).collect::<Vec<_>>() }),
    ))
}

pub async fn global_secrets(
    State(state): State<AppState>,
    session: Session,
) -> ApiResult<Json<Value>> {
    session.require_write(Scope::Global)?;
    let secrets = state.store.enroll_secrets(None).await?;
    Ok(Json(
        json!({ "spec": { "secrets": secrets.iter().map(views::secret).collect::<Vec<_>>() } }),
    ))
}

#[derive(Deserialize)]
pub struct GlobalSecretsBody {
    spec: SecretsBody,
}

pub async fn replace_global_secrets(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<GlobalSecretsBody>,
) -> ApiResult<Json<Value>> {
    session.require_global_admin()?;
    let secrets = validated_secrets(body.spec.secrets)?;
    let activity = session.activity("edited_enroll_secrets", json!({}));
    state
        .store
        .replace_enroll_secrets(None, &secrets, activity)
        .await?;
    Ok(Json(json!({})))
}
