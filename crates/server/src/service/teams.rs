//! Teams, their settings, and enroll secrets (per team and global).

use super::{config, Caller, ServiceError, ServiceResult};
use crate::secrets::random_token;
use crate::AppState;
use flotilla_core::access::Scope;
use flotilla_core::activity::ActivityType;
use flotilla_core::settings::TeamSettings;
use flotilla_core::validation::{validate_enroll_secrets, validate_team_name};
use flotilla_core::{TeamId, UserId, ValidationErrors};
use flotilla_store::{Activity, EnrollSecret, TeamRecord};
use serde_json::{json, Map, Value};

/// Team settings keys a team change takes besides name and description.
const TEAM_SETTINGS_KEYS: &[&str] = &["integrations", "agent_options"];

/// A team as the caller may see it: its secrets only when they may change the team.
pub struct TeamView {
    pub team: TeamRecord,
    pub secrets: Vec<EnrollSecret>,
}

async fn view(state: &AppState, caller: &Caller, team: TeamRecord) -> ServiceResult<TeamView> {
    let secrets = if caller.principal.can_write(Scope::Team(team.id)) {
        state.store.enroll_secrets(Some(team.id)).await?
    } else {
        Vec::new()
    };
    Ok(TeamView { team, secrets })
}

/// Teams the caller may see, by name.
pub async fn visible(state: &AppState, caller: &Caller) -> ServiceResult<Vec<TeamRecord>> {
    Ok(state
        .store
        .teams()
        .await?
        .into_iter()
        .filter(|t| caller.principal.can_read(Scope::Team(t.id)))
        .collect())
}

/// Team names by id, for views that show them.
pub async fn names(state: &AppState) -> ServiceResult<Vec<(i64, String)>> {
    Ok(state
        .store
        .teams()
        .await?
        .into_iter()
        .map(|t| (t.id.0, t.name))
        .collect())
}

pub async fn list(state: &AppState, caller: &Caller) -> ServiceResult<Vec<TeamView>> {
    let mut views = Vec::new();
    for team in visible(state, caller).await? {
        views.push(view(state, caller, team).await?);
    }
    Ok(views)
}

pub async fn get(state: &AppState, caller: &Caller, id: TeamId) -> ServiceResult<TeamView> {
    caller.require_read(Scope::Team(id))?;
    let team = state.store.team(id).await?;
    view(state, caller, team).await
}

/// The scope of a `team_id` parameter: absent or 0 is "No team"; any other
/// id must be a team.
pub async fn scope_of(state: &AppState, team_id: Option<i64>) -> ServiceResult<Scope> {
    match team_id.filter(|id| *id != 0) {
        None => Ok(Scope::NoTeam),
        Some(id) => {
            state.store.team(TeamId(id)).await?;
            Ok(Scope::Team(TeamId(id)))
        }
    }
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    name: &str,
    description: &str,
) -> ServiceResult<TeamView> {
    caller.require_global_admin()?;
    let name = validate_team_name(name)?;
    let activity = caller.activity(ActivityType::CreatedTeam, json!({ "team_name": name }));
    let team = state
        .store
        .create_team(
            &name,
            description.trim(),
            &TeamSettings::default(),
            &random_token(24),
            activity,
        )
        .await?;
    view(state, caller, team).await
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
    if let Some(options) = settings.get("agent_options") {
        config::check_agent_options(options, errors);
    }
    if let Some(Value::Object(integrations)) = settings.get("integrations") {
        config::check_integrations(integrations, errors);
    }
}

/// A change to a team: each part optional.
#[derive(Default)]
pub struct TeamChange {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `integrations` (merged key by key) and `agent_options` (replaced).
    pub settings: Map<String, Value>,
}

pub async fn modify(
    state: &AppState,
    caller: &Caller,
    id: TeamId,
    change: TeamChange,
) -> ServiceResult<TeamView> {
    caller.require_team_admin(id)?;
    let current = state.store.team(id).await?;
    let mut errors = ValidationErrors::default();
    let name = match change.name.as_deref() {
        None => current.name.clone(),
        Some(name) => match validate_team_name(name) {
            Ok(name) => name,
            Err(e) => {
                errors.0.extend(e.0);
                String::new()
            }
        },
    };
    validate_settings(&change.settings, &mut errors);
    errors.into_result()?;
    let agent_options_only = change.name.is_none()
        && change.description.is_none()
        && change.settings.len() == 1
        && change.settings.contains_key("agent_options");
    let settings = config::patched(&current.settings, &change.settings)?;
    let description = change.description.unwrap_or(current.description);
    let activity = if agent_options_only {
        caller.activity(
            ActivityType::EditedAgentOptions,
            json!({ "team_id": id.0, "team_name": name }),
        )
    } else {
        caller.activity(
            ActivityType::EditedTeam,
            json!({ "team_id": id.0, "team_name": name }),
        )
    };
    let team = state
        .store
        .update_team(id, &name, description.trim(), &settings, Some(activity))
        .await?;
    view(state, caller, team).await
}

/// Fleet's `POST /teams/{id}/agent_options`: replaces the team's agent options.
pub async fn set_agent_options(
    state: &AppState,
    caller: &Caller,
    id: TeamId,
    options: Value,
) -> ServiceResult<TeamView> {
    let settings = [("agent_options".to_string(), options)]
        .into_iter()
        .collect();
    modify(
        state,
        caller,
        id,
        TeamChange {
            settings,
            ..TeamChange::default()
        },
    )
    .await
}

/// Deletes a team with its policies, profiles and packages; its hosts move to "No team".
pub async fn delete(state: &AppState, caller: &Caller, id: TeamId) -> ServiceResult<()> {
    caller.require_global_admin()?;
    let team = state.store.team(id).await?;
    let activity = caller.activity(
        ActivityType::DeletedTeam,
        json!({ "team_id": id.0, "team_name": team.name }),
    );
    state.store.delete_team(team.id, activity).await?;
    Ok(())
}

/// The enroll secrets of a team, or the global ones for `None`.
pub async fn secrets(
    state: &AppState,
    caller: &Caller,
    team: Option<TeamId>,
) -> ServiceResult<Vec<EnrollSecret>> {
    caller.require_write(Scope::of_team(team))?;
    if let Some(team) = team {
        state.store.team(team).await?;
    }
    Ok(state.store.enroll_secrets(team).await?)
}

/// Who may replace the secrets of a team (its admins) or the global ones (global admins).
fn require_secrets_admin(caller: &Caller, team: Option<TeamId>) -> ServiceResult<()> {
    match team {
        Some(team) => caller.require_team_admin(team),
        None => caller.require_global_admin(),
    }
}

/// Fleet's `edited_enroll_secrets`: the team, or nulls for the global secrets.
async fn secrets_activity(
    state: &AppState,
    caller: &Caller,
    team: Option<TeamId>,
) -> ServiceResult<Activity> {
    let details = match team {
        Some(id) => {
            let team = state.store.team(id).await?;
            json!({ "team_id": id.0, "team_name": team.name })
        }
        None => json!({ "team_id": null, "team_name": null }),
    };
    Ok(caller.activity(ActivityType::EditedEnrollSecrets, details))
}

/// Replaces the secrets of a team (or the global ones); secrets kept keep their age.
pub async fn replace_secrets(
    state: &AppState,
    caller: &Caller,
    team: Option<TeamId>,
    secrets: &[String],
) -> ServiceResult<Vec<EnrollSecret>> {
    require_secrets_admin(caller, team)?;
    let secrets = validate_enroll_secrets(secrets.iter().map(String::as_str))?;
    // Every new set of secrets is a question "is one of these another
    // team's?" ("already in use" says yes): a user may ask a few per hour.
    let now = state.now();
    let user = caller.actor.id.unwrap_or(UserId(0));
    if state.secret_changes.is_blocked(user, now) {
        return Err(ServiceError::Throttled);
    }
    state.secret_changes.record(user, &secrets.join("\n"), now);
    let activity = secrets_activity(state, caller, team).await?;
    Ok(state
        .store
        .replace_enroll_secrets(team, &secrets, activity)
        .await?)
}

/// Replaces a team's secrets with one new random secret.
pub async fn rotate_secret(
    state: &AppState,
    caller: &Caller,
    team: TeamId,
) -> ServiceResult<Vec<EnrollSecret>> {
    replace_secrets(state, caller, Some(team), &[random_token(24)]).await
}
