//! Connecting Flotilla to an Entra tenant as its compliance partner
//! (`/conditional-access/microsoft`), and the consent round trip's return.

use crate::auth::Session;
use crate::conditional_access::{activate, partner_urls};
use crate::error::{ApiError, ApiResult, JsonBody, QueryParams};
use crate::secrets::{random_token, token_hash};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use flotilla_store::IntegrationStatus;
use serde::Deserialize;
use serde_json::{json, Value};

/// How long the admin has to finish Microsoft's consent page.
const CONSENT_TTL_SECS: i64 = 3600;
/// Where the consent round trip returns to.
pub const CONSENT_RETURN_PATH: &str = "/api/latest/fleet/conditional-access/microsoft/consent";
/// The console page that shows the connection.
pub const SETTINGS_PAGE: &str = "/settings/integrations/conditional-access";

/// Entra tenant ids are GUIDs.
fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[derive(Deserialize)]
pub struct ConnectBody {
    #[serde(default)]
    microsoft_tenant_id: String,
}

pub async fn connect(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<ConnectBody>,
) -> ApiResult<Json<Value>> {
    session.require_global_admin()?;
    let url = start_consent(&state, &body.microsoft_tenant_id).await?;
    Ok(Json(json!({ "microsoft_authentication_url": url })))
}

/// Starts connecting a tenant: checks it, records a single-use consent state,
/// and returns the Microsoft admin consent URL to send the admin to.
pub async fn start_consent(state: &AppState, tenant: &str) -> ApiResult<String> {
    let tenant = tenant.trim().to_lowercase();
    if !is_guid(&tenant) {
        return Err(ApiError::invalid(
            "microsoft_tenant_id",
            "the Microsoft Entra tenant ID is a GUID such as 6f1c3a52-0c1e-4b8e-9a61-3f0d2b7c9e10",
        ));
    }
    let Some(microsoft) = state.settings.microsoft.as_ref() else {
        return Err(ApiError::invalid(
            "microsoft_tenant_id",
            "this server has no Microsoft partner app; start it with --ms-client-id and --ms-client-secret",
        ));
    };
    let server_url = state
        .store
        .app_config()
        .await?
        .and_then(|c| {
            c.pointer("/server_settings/server_url")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default();
    if server_url.is_empty() {
        return Err(ApiError::invalid(
            "server_url",
            "set the server URL in org settings first",
        ));
    }
    let consent_state = random_token(32);
    state
        .store
        .start_ms_integration(
            &tenant,
            &token_hash(&consent_state),
            flotilla_store::now() + CONSENT_TTL_SECS,
        )
        .await?;
    let redirect = format!("{}{CONSENT_RETURN_PATH}", server_url.trim_end_matches('/'));
    Ok(microsoft
        .client
        .admin_consent_url(&tenant, &consent_state, &redirect))
}

#[derive(Deserialize)]
pub struct ConsentReturn {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// Microsoft sends the admin's browser back here; `state` proves the round
/// trip started here, for this tenant, recently, and only once.
pub async fn consent_return(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<ConsentReturn>,
) -> Response {
    let tenant = match state.store.take_consent_state(&token_hash(&params.state)).await {
        Ok(Some(tenant)) => tenant,
        Ok(None) => {
            return (
                StatusCode::BAD_REQUEST,
                "This consent link has expired or was already used. Start again from Settings > Integrations > Conditional access.",
            )
                .into_response()
        }
        Err(err) => return ApiError::from(err).into_response(),
    };
    let result = if !params.error.is_empty() {
        let reason = if params.error_description.is_empty() {
            params.error.clone()
        } else {
            params.error_description.clone()
        };
        state
            .store
            .set_ms_integration_status(
                IntegrationStatus::Failed,
                &format!("Consent was refused in Microsoft: {reason}"),
                "",
            )
            .await
    } else if !params.tenant.is_empty() && !params.tenant.eq_ignore_ascii_case(&tenant) {
        state
            .store
            .set_ms_integration_status(
                IntegrationStatus::Failed,
                &format!(
                    "Consent was given for tenant {}, not {tenant}",
                    params.tenant
                ),
                "",
            )
            .await
    } else {
        activate(&state, &tenant).await
    };
    match result {
        Ok(()) => Redirect::to(SETTINGS_PAGE).into_response(),
        Err(err) => ApiError::from(err).into_response(),
    }
}

pub async fn confirm(State(state): State<AppState>, session: Session) -> ApiResult<Json<Value>> {
    session.require_global_admin()?;
    let integration = state.store.ms_integration().await?;
    let (completed, error) = match integration {
        Some(i) => (i.status == IntegrationStatus::Active, i.setup_error),
        None => (false, String::new()),
    };
    Ok(Json(
        json!({ "configuration_completed": completed, "setup_error": error }),
    ))
}

/// Deactivates the partner in the tenant and forgets every host's reported state.
pub async fn disconnect(State(state): State<AppState>, session: Session) -> ApiResult<Json<Value>> {
    session.require_global_admin()?;
    remove_integration(&state).await?;
    Ok(Json(json!({})))
}

/// Deactivates the partner in the tenant (best effort) and forgets the connection.
pub async fn remove_integration(state: &AppState) -> ApiResult<()> {
    let integration = state
        .store
        .ms_integration()
        .await?
        .ok_or_else(|| ApiError::NotFound("conditional access integration".into()))?;
    if integration.status == IntegrationStatus::Active {
        if let Some(microsoft) = &state.settings.microsoft {
            let (enroll, remediate) = partner_urls(state).await?;
            if let Err(err) = microsoft
                .client
                .deprovision(&integration.tenant_id, &enroll, &remediate)
                .await
            {
                // The connection is removed here regardless; the admin can
                // remove the partner in Intune by hand.
                tracing::warn!(error = %err, "could not deprovision the partner in Microsoft");
            }
        }
    }
    state.store.delete_ms_integration().await?;
    Ok(())
}

/// The `conditional_access` block of `GET /config`.
pub async fn config_block(state: &AppState) -> ApiResult<Value> {
    let integration = state.store.ms_integration().await?;
    Ok(json!({
        "microsoft_entra_tenant_id": integration.as_ref().map_or("", |i| i.tenant_id.as_str()),
        "microsoft_entra_connection_configured": integration.is_some_and(|i| i.status == IntegrationStatus::Active),
    }))
}

#[cfg(test)]
mod tests {
    use super::is_guid;

    #[test]
    fn tenant_ids_must_be_guids() {
        assert!(is_guid("6f1c3a52-0c1e-4b8e-9a61-3f0d2b7c9e10"));
        assert!(!is_guid("contoso.onmicrosoft.com"));
        assert!(!is_guid("6f1c3a52-0c1e-4b8e-9a61-3f0d2b7c9e1"));
    }
}
