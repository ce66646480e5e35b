//! Connecting Flotilla to an Entra tenant as its compliance partner
//! (`/conditional-access/microsoft`), and the consent round trip's return.

use crate::auth::Session;
use crate::error::{ApiError, ApiResult, JsonBody, QueryParams};
use crate::service::conditional_access::{self as ca, ConsentAnswer};
use crate::service::ServiceError;
use crate::wire::requests::{ConnectBody, ConsentReturn};
use crate::wire::{ConditionalAccessStatus, ConsentUrlResponse, Empty};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use flotilla_store::IntegrationStatus;

/// The console page that shows the connection.
pub const SETTINGS_PAGE: &str = "/settings/integrations/conditional-access";

pub async fn connect(
    State(state): State<AppState>,
    session: Session,
    JsonBody(body): JsonBody<ConnectBody>,
) -> ApiResult<Json<ConsentUrlResponse>> {
    let url = ca::connect(&state, &session.caller(), &body.microsoft_tenant_id).await?;
    Ok(Json(ConsentUrlResponse {
        microsoft_authentication_url: url,
    }))
}

/// Microsoft sends the admin's browser back here; `state` proves the round
/// trip started here, for this tenant, recently, and only once.
pub async fn consent_return(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<ConsentReturn>,
) -> Response {
    let answer = ConsentAnswer {
        state: params.state,
        tenant: params.tenant,
        error: params.error,
        error_description: params.error_description,
    };
    match ca::consent_returned(&state, &answer).await {
        Ok(()) => Redirect::to(SETTINGS_PAGE).into_response(),
        Err(ServiceError::NotFound(_)) => (
            StatusCode::BAD_REQUEST,
            "This consent link has expired or was already used. Start again from Settings > Integrations > Conditional access.",
        )
            .into_response(),
        Err(err) => ApiError::from(err).into_response(),
    }
}

pub async fn confirm(
    State(state): State<AppState>,
    session: Session,
) -> ApiResult<Json<ConditionalAccessStatus>> {
    let integration = ca::integration(&state, &session.caller()).await?;
    let (configuration_completed, setup_error) = match integration {
        // While the setup is being retried there is no error to show yet.
        Some(i) if i.status == IntegrationStatus::Activating => (false, String::new()),
        Some(i) => (i.status == IntegrationStatus::Active, i.setup_error),
        None => (false, String::new()),
    };
    Ok(Json(ConditionalAccessStatus {
        configuration_completed,
        setup_error,
    }))
}

/// Deactivates the partner in the tenant and forgets every host's reported state.
pub async fn disconnect(State(state): State<AppState>, session: Session) -> ApiResult<Json<Empty>> {
    ca::disconnect(&state, &session.caller()).await?;
    Ok(Json(Empty {}))
}
