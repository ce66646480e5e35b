//! Configuration profiles (`/configuration_profiles`): upload a .mobileconfig
//! for a team, target it with labels, list, download, delete.

use super::TeamParams;
use crate::auth::Session;
use crate::error::{ApiError, ApiResult, PathParam, QueryParams};
use crate::multipart::{form_fields, FormField};
use crate::service::{profiles, teams};
use crate::wire::library::{ListMeta, Profile, ProfileCreated, ProfilesResponse};
use crate::wire::requests::ProfileGetParams;
use crate::wire::{self, Empty};
use crate::AppState;
use axum::extract::{Multipart, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use flotilla_store::LabelTarget;

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

pub async fn upload(
    State(state): State<AppState>,
    session: Session,
    multipart: Multipart,
) -> ApiResult<Json<ProfileCreated>> {
    let form = read_form(multipart).await?;
    let scope = teams::scope_of(&state, form.team_id).await?;
    let Some((file_name, content)) = form.profile else {
        return Err(ApiError::invalid(
            "profile",
            "attach the .mobileconfig file as \"profile\"",
        ));
    };
    let created = profiles::add(
        &state,
        &session.caller(),
        scope,
        &file_name,
        content,
        &form.labels,
    )
    .await?;
    Ok(Json(ProfileCreated {
        profile_uuid: created.uuid,
    }))
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    QueryParams(params): QueryParams<TeamParams>,
) -> ApiResult<Json<ProfilesResponse>> {
    let scope = teams::scope_of(&state, params.team_id).await?;
    let list = profiles::list(&state, &session.caller(), scope).await?;
    Ok(Json(ProfilesResponse {
        profiles: wire::all(&list),
        meta: ListMeta {
            has_next_results: false,
            has_previous_results: false,
        },
    }))
}

/// The profile's details, or with `?alt=media` the .mobileconfig itself.
pub async fn get(
    State(state): State<AppState>,
    session: Session,
    PathParam(uuid): PathParam<String>,
    QueryParams(params): QueryParams<ProfileGetParams>,
) -> ApiResult<Response> {
    if params.alt.as_deref() == Some("media") {
        let (profile, content) = profiles::content(&state, &session.caller(), &uuid).await?;
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
    let profile = profiles::get(&state, &session.caller(), &uuid).await?;
    Ok(Json(Profile::from(&profile)).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    session: Session,
    PathParam(uuid): PathParam<String>,
) -> ApiResult<Json<Empty>> {
    profiles::delete(&state, &session.caller(), &uuid).await?;
    Ok(Json(Empty {}))
}
