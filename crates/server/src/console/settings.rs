//! Settings > Integrations > Conditional access: connect a Microsoft Entra
//! tenant through Microsoft's consent page, see the result, disconnect.

use super::{csrf_field, field_error, page, redirect, Form, PageError, PageResult, Viewer};
use crate::service::conditional_access as ca;
use crate::service::ServiceError;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flotilla_store::IntegrationStatus;
use maud::html;
use std::collections::HashMap;

const PATH: &str = "/settings/integrations/conditional-access";

async fn render(
    state: &AppState,
    viewer: &Viewer,
    tenant_input: &str,
    errors: &HashMap<String, String>,
) -> Result<axum::response::Response, PageError> {
    let integration = ca::integration(state, &viewer.caller()).await?;
    let partner_app = ca::partner_app_configured(state);
    let content = html! {
        h1 { "Settings › Integrations › Conditional access" }
        p { "Flotilla reports whether each Mac passes its team's chosen policies to Microsoft Entra as an Intune compliance partner, so conditional access can block Macs that don't." }
        @match &integration {
            Some(i) if i.status == IntegrationStatus::Active => {
                p.notice role="status" { "Connected to Microsoft Entra tenant " code { (i.tenant_id) } "." }
                p { "Next: choose the policies that count for each team in " a href="/policies" { "Policies › Automations › Conditional access" } "." }
            }
            Some(i) if i.status == IntegrationStatus::Failed => {
                p.error role="alert" { "Setup did not finish: " (i.setup_error) }
                p { "Fix this in Microsoft Entra, then connect again." }
            }
            Some(i) if i.status == IntegrationStatus::Activating => {
                p.notice role="status" { "Consent given for tenant " code { (i.tenant_id) } "; finishing the setup in Microsoft, which was unavailable (" (i.setup_error) "). This page shows the result once it is done." }
            }
            Some(i) => {
                p.notice role="status" { "Waiting for consent for tenant " code { (i.tenant_id) } ". Finish Microsoft's consent page, or connect again." }
            }
            None => {}
        }
        @if !partner_app {
            p.error { "This server has no Microsoft partner app; start it with --ms-client-id and --ms-client-secret." }
        }
        @if integration.as_ref().is_none_or(|i| i.status != IntegrationStatus::Active) {
            form method="post" action=(PATH) {
                (csrf_field(viewer))
                label for="tenant_id" { "Microsoft Entra tenant ID" }
                input #tenant_id type="text" name="tenant_id" value=(tenant_input) placeholder="6f1c3a52-0c1e-4b8e-9a61-3f0d2b7c9e10" required;
                (field_error(errors, "microsoft_tenant_id"))
                (field_error(errors, "server_url"))
                p { button type="submit" { "Save" } " You'll be sent to Microsoft to grant consent, then back here." }
            }
        }
        @if integration.is_some() {
            form method="post" action=(format!("{PATH}/delete")) {
                (csrf_field(viewer))
                button.danger type="submit" { "Delete" }
            }
        }
    };
    Ok(page(viewer, "Conditional access", PATH, content))
}

pub async fn conditional_access(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    render(&state, &viewer, "", &HashMap::new()).await
}

pub async fn connect(State(state): State<AppState>, viewer: Viewer, form: Form) -> PageResult {
    viewer.check_csrf(&form)?;
    match ca::connect(&state, &viewer.caller(), form.get("tenant_id")).await {
        Ok(url) => Ok(redirect(&url)),
        Err(ServiceError::Invalid(errors)) => {
            let errors = super::errors_by_field(&errors);
            let body = render(&state, &viewer, form.get("tenant_id"), &errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, body).into_response())
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn disconnect(State(state): State<AppState>, viewer: Viewer, form: Form) -> PageResult {
    viewer.check_csrf(&form)?;
    ca::disconnect(&state, &viewer.caller()).await?;
    Ok(redirect(PATH))
}
