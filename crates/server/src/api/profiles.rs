//! Configuration profiles (`/configuration_profiles`): upload a .mobileconfig
//! for a team, target it with labels, list, download, delete.

use super::{form_fields, team_scope, FormField, TeamParams};
use crate::auth::Session;
use crate::error::{ApiError, ApiResult, PathParam, QueryParams};
use crate::{views, AppState};
use axum::extract::{Multipart, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use flotilla_core::access::Scope;
use flotilla_core::profile::validate_mobileconfig;
use flotilla_store::{LabelTarget, NewProfile, ProfileRecord};
use serde::Deserialize;
use serde_json::{json, Value};

fn view(profile: &ProfileRecord) -> Value {
    let mut value = json!({
        "profile_uuid": profile.uuid,
        "team_id": match profile.scope { Scope::Team(t) => t.0, _ => 0 },
        "name": profile.name,
        "identifier": profile.identifier,
        "platform": "darwin",
        "checksum": profile.checksum,
        "created_at": views::timestamp(profile.created_at),
        "uploaded_at": views::timestamp(profile.uploaded_at),
    });
    for target in [
        LabelTarget::IncludeAll,
        LabelTarget::IncludeAny,
        LabelTarget::ExcludeAny,
    ] {
        let labels: Vec<Value> = profile
            .labels
            .iter()
            .filter(|(_, _, t)| *t == target)
            .map(|(id, name, _)| json!({"id": id.0, "name": name}))
            .collect();
        if !labels.is_empty() {
            if let Some(object) = value.as_object_mut() {
                object.insert(format!("labels_{}", target.as_str()), Value::Array(labels));
            }
        }
    }
    value
}

/// The multipart form Fleet's clients send.
#[derive(Default)]
struct UploadForm {
    profile: Option<(String, Vec<u8>)>,
    team_id: Option<i64>,
    labels: Vec<(String, LabelTarget)>,
}

async fn read_form(multipart: Multipart) -> ApiResult<UploadForm> {
    let mut form = UploadForm::default();
    for FormField {
        name,
        file_name,
        bytes,
    } in form_fields(multipart).await?
    {
        let text = || String::from_utf8_lossy(&bytes).trim().to_string();
        match name.as_str() {
            "profile" => form.profile = Some((file_name, bytes.to_vec())),
            "team_id" | "fleet_id" => {
                let value = text();
                if !value.is_empty() {
                    form.team_id = Some(
                        value
                            .parse()
                            .map_err(|_| ApiError::invalid("team_id", "must be a number"))?,
                    );
                }
            }
            "labels_include_all" | "labels" => form.labels.push((text(), LabelTarget::IncludeAll)),
            "labels_include_any" => form.labels.push((text(), LabelTarget::IncludeAny)),
            "labels_exclude_any" => form.labels.push((text(), LabelTarget::ExcludeAny)),
            other => {
                return Err(ApiError::invalid(
                    other,
                    "unknown field; send profile, team_id and labels_*",
                ))
            }
        }
    }
    Ok(form)
}

/// Validates and stores a profile for a scope, targeted by label names.
pub(crate) async fn add_profile(
    state: &AppState,
    actor: flotilla_store::Actor,
    scope: Scope,
    file_name: &str,
    content: Vec<u8>,
    labels: &[(String, LabelTarget)],
) -> ApiResult<flotilla_store::ProfileRecord> {
    let summary = validate_mobileconfig(&content)?;
    let modes: std::collections::HashSet<_> = labels.iter().map(|(_, t)| *t).collect();
    if modes.len() > 1 {
        return Err(ApiError::invalid(
            "labels",
            "use only one of labels_include_all, labels_include_any, labels_exclude_any",
        ));
    }
    let known = state.store.labels().await?;
    let mut targets = Vec::new();
    for (name, target) in labels {
        let label = known.iter().find(|l| &l.name == name).ok_or_else(|| {
            ApiError::invalid(
                &format!("labels_{}", target.as_str()),
                format!("label \"{name}\" does not exist"),
            )
        })?;
        targets.push((label.id, *target));
    }
    let checksum: String = crate::secrets::sha256_hex(&content);
    let profile = NewProfile {
        uuid: format!("a{}", uuid::Uuid::new_v4()),
        scope,
        identifier: summary.identifier,
        name: summary.name,
        content,
        checksum,
        labels: targets,
    };
    let activity = flotilla_store::Activity {
        actor,
        activity_type: "created_macos_profile",
        details: json!({"profile_name": profile.name, "profile_identifier": profile.identifier, "file_name": file_name}),
    };
    Ok(state.store.create_profile(&profile, activity).await?)
}

pub async fn upload(
    State(state): State<AppState>,
    session: Session,
    multipart: Multipart,
) -> ApiResult<Json<Value>> {
    let form = read_form(multipart).await?;
    let scope = team_scope(&state, form.team_id).await?;
    session.require_write(scope)?;
    let Some((file_name, content)) = form.profile else {
        return Err(ApiError::invalid(
            "profile",
            "attach the .mobileconfig file as \"profile\"",
        ));
    };
    let created = add_profile(
        &state,
        session.actor(),
        scope,
        &file_name,
        content,
        &form.labels,
    )
    .await?;
    Ok(Json(json!({ "profile_uuid": created.uuid })))
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    QueryParams(params): QueryParams<TeamParams>,
) -> ApiResult<Json<Value>> {
    let scope = team_scope(&state, params.team_id).await?;
    session.require_read(scope)?;
    let profiles = state.store.profiles(scope).await?;
    Ok(Json(json!({
        "profiles": profiles.iter().map(view).collect::<Vec<_>>(),
        "meta": {"has_next_results": false, "has_previous_results": false},
    })))
}

#[derive(Deserialize, Default)]
pub struct GetParams {
    alt: Option<String>,
}

/// The profile's details, or with `?alt=media` the .mobileconfig itself.
pub async fn get(
    State(state): State<AppState>,
    session: Session,
    PathParam(uuid): PathParam<String>,
    QueryParams(params): QueryParams<GetParams>,
) -> ApiResult<Response> {
    let profile = state.store.profile(&uuid).await?;
    session.require_read(profile.scope)?;
    if params.alt.as_deref() == Some("media") {
        let content = state.store.profile_content(&uuid).await?;
        let disposition = format!(
            "attachment; filename=\"{}.mobileconfig\"",
            profile.name.replace('"', "")
        );
        return Ok((
            [
                (
                    header::CONTENT_TYPE,
                    "application/x-apple-aspen-config".to_string(),
                ),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            content,
        )
            .into_response());
    }
    Ok(Json(view(&profile)).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    PathParam(uuid): PathParam<String>,
) -> ApiResult<Json<Value>> {
    let profile = state.store.profile(&uuid).await?;
    session.require_write(profile.scope)?;
    let activity = session.activity(
        "deleted_macos_profile",
        json!({"profile_name": profile.name, "profile_identifier": profile.identifier}),
    );
    state.store.delete_profile(&uuid, activity).await?;
    Ok(Json(json!({})))
}
