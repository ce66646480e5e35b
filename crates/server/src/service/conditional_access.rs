//! Conditional access with Entra, as admins change it: connecting a tenant
//! through Microsoft's consent round trip, disconnecting, and choosing per
//! team whether its hosts are reported and which policies count.

use super::{config, policies, Caller, ServiceError, ServiceResult};
use crate::conditional_access::{activate, partner_urls};
use crate::secrets::{random_token, token_hash};
use crate::AppState;
use flotilla_core::access::Scope;
use flotilla_core::activity::ActivityType;
use flotilla_core::PolicyId;
use flotilla_store::{IntegrationStatus, MsIntegration, PolicyRecord, ScopeSettings};
use serde_json::json;
use std::time::Duration;

/// Tries at deprovisioning the partner when an admin disconnects.
const DEPROVISION_ATTEMPTS: u32 = 3;
/// How long the admin has to finish Microsoft's consent page.
const CONSENT_TTL_SECS: i64 = 3600;
/// Where the consent round trip returns to.
pub const CONSENT_RETURN_PATH: &str = "/api/latest/fleet/conditional-access/microsoft/consent";

/// Entra tenant ids are GUIDs.
fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Starts connecting a tenant: checks it, records a single-use consent state,
/// and returns the Microsoft admin consent URL to send the admin to.
pub async fn connect(state: &AppState, caller: &Caller, tenant: &str) -> ServiceResult<String> {
    caller.require_global_admin()?;
    let tenant = tenant.trim().to_lowercase();
    if !is_guid(&tenant) {
        return Err(ServiceError::invalid(
            "microsoft_tenant_id",
            "the Microsoft Entra tenant ID is a GUID such as 6f1c3a52-0c1e-4b8e-9a61-3f0d2b7c9e10",
        ));
    }
    let Some(microsoft) = state.settings.microsoft.as_ref() else {
        return Err(ServiceError::invalid(
            "microsoft_tenant_id",
            "this server has no Microsoft partner app; start it with --ms-client-id and --ms-client-secret",
        ));
    };
    let server_url = config::server_url(state).await?;
    if server_url.is_empty() {
        return Err(ServiceError::invalid(
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
            state.now() + CONSENT_TTL_SECS,
        )
        .await?;
    let redirect = format!("{}{CONSENT_RETURN_PATH}", server_url.trim_end_matches('/'));
    Ok(microsoft
        .client
        .admin_consent_url(&tenant, &consent_state, &redirect))
}

/// What Microsoft's consent page sent back.
pub struct ConsentAnswer {
    /// The single-use state this server made; it proves the round trip started here.
    pub state: String,
    pub tenant: String,
    pub error: String,
    pub error_description: String,
}

/// Finishes the consent round trip: on consent, activates the partner; on
/// refusal, records why. `NotFound` when the state is unknown, used or expired.
pub async fn consent_returned(state: &AppState, answer: &ConsentAnswer) -> ServiceResult<()> {
    let Some(tenant) = state
        .store
        .take_consent_state(&token_hash(&answer.state))
        .await?
    else {
        return Err(ServiceError::NotFound("consent state".into()));
    };
    if !answer.error.is_empty() {
        let reason = if answer.error_description.is_empty() {
            &answer.error
        } else {
            &answer.error_description
        };
        state
            .store
            .set_ms_integration_status(
                IntegrationStatus::Failed,
                &format!("Consent was refused in Microsoft: {reason}"),
                "",
            )
            .await?;
    } else if !answer.tenant.is_empty() && !answer.tenant.eq_ignore_ascii_case(&tenant) {
        state
            .store
            .set_ms_integration_status(
                IntegrationStatus::Failed,
                &format!(
                    "Consent was given for tenant {}, not {tenant}",
                    answer.tenant
                ),
                "",
            )
            .await?;
    } else {
        activate(state, &tenant).await?;
    }
    Ok(())
}

/// The connection, for admins.
pub async fn integration(
    state: &AppState,
    caller: &Caller,
) -> ServiceResult<Option<MsIntegration>> {
    caller.require_global_admin()?;
    Ok(state.store.ms_integration().await?)
}

/// Whether the server was started with a Microsoft partner app.
pub fn partner_app_configured(state: &AppState) -> bool {
    state.settings.microsoft.is_some()
}

/// Deactivates the partner in the tenant (best effort) and forgets the connection.
pub async fn disconnect(state: &AppState, caller: &Caller) -> ServiceResult<()> {
    caller.require_global_admin()?;
    let integration = state
        .store
        .ms_integration()
        .await?
        .ok_or_else(|| ServiceError::NotFound("conditional access integration".into()))?;
    if integration.status == IntegrationStatus::Active {
        if let Some(microsoft) = &state.settings.microsoft {
            let (enroll, remediate) = partner_urls(state).await?;
            let mut attempt = 1;
            loop {
                match microsoft
                    .client
                    .deprovision(&integration.tenant_id, &enroll, &remediate)
                    .await
                {
                    Ok(()) => break,
                    // Throttling is routine at Microsoft: a few short tries,
                    // as the admin waits for this answer.
                    Err(err) if err.is_transient() && attempt < DEPROVISION_ATTEMPTS => {
                        let wait = err.retry_after().unwrap_or(Duration::from_secs(1));
                        tokio::time::sleep(wait.min(Duration::from_secs(5))).await;
                        attempt += 1;
                    }
                    Err(err) => {
                        // The connection is removed here regardless; the admin
                        // can remove the partner in Intune by hand.
                        tracing::warn!(error = %err, "could not deprovision the partner in Microsoft");
                        break;
                    }
                }
            }
        }
    }
    state.store.delete_ms_integration().await?;
    Ok(())
}

/// A team's (or "No team"'s) automation: whether it reports, and its policies.
pub struct Automation {
    pub enabled: bool,
    pub policies: Vec<PolicyRecord>,
    pub integration: Option<MsIntegration>,
}

fn team_of(scope: Scope) -> ServiceResult<Option<flotilla_core::TeamId>> {
    match scope {
        Scope::Team(team) => Ok(Some(team)),
        Scope::NoTeam => Ok(None),
        Scope::Global => Err(ServiceError::invalid(
            "team_id",
            "conditional access is switched per team or for \"No team\"",
        )),
    }
}

pub async fn automation(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
) -> ServiceResult<Automation> {
    caller.require_write(scope)?;
    let enabled = crate::conditional_access::team_enabled(&state.store, team_of(scope)?).await?;
    Ok(Automation {
        enabled,
        policies: state.store.policies(scope).await?,
        integration: state.store.ms_integration().await?,
    })
}

/// Switches conditional access for a team (or "No team") and sets which of
/// its policies count: every change checked first, then written together.
pub async fn set_automation(
    state: &AppState,
    caller: &Caller,
    scope: Scope,
    enabled: bool,
    counted: &[PolicyId],
) -> ServiceResult<()> {
    caller.require_write(scope)?;
    let team = team_of(scope)?;
    let mut changes = Vec::new();
    for policy in state.store.policies(scope).await? {
        let wanted = counted.contains(&policy.id);
        if wanted != policy.conditional_access_enabled {
            let (spec, activity) = policies::checked_change(state, caller, &policy, |mut spec| {
                spec.conditional_access_enabled = wanted;
                spec
            })
            .await?;
            changes.push((policy.id, spec, activity));
        }
    }
    let activity = caller.activity(
        if enabled {
            ActivityType::EnabledConditionalAccessAutomations
        } else {
            ActivityType::DisabledConditionalAccessAutomations
        },
        json!({ "team_id": team.map(|t| t.0) }),
    );
    match team {
        Some(id) => {
            let mut settings = state.store.team_settings(id).await?;
            settings.integrations.conditional_access_enabled = Some(enabled);
            let settings = ScopeSettings::Team {
                id,
                settings: &settings,
            };
            state
                .store
                .save_conditional_access(&changes, settings, activity)
                .await?;
        }
        None => {
            let mut org = state.store.org_settings().await?.unwrap_or_default();
            org.integrations.conditional_access_enabled = Some(enabled);
            state
                .store
                .save_conditional_access(&changes, ScopeSettings::Org(&org), activity)
                .await?;
        }
    }
    Ok(())
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
