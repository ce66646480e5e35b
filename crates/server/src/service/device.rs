//! The end user's side: My device, reached with the device token fleetd
//! registers. Unknown or expired tokens count against the client's address,
//! and too many of them lock it out for a while.

use super::{ServiceError, ServiceResult};
use crate::AppState;
use flotilla_core::settings::OrgInfo;
use flotilla_store::{ComplianceReport, HostPolicy, HostRecord};
use std::net::IpAddr;

/// What My device shows.
pub struct MyDevice {
    pub host: HostRecord,
    pub policies: Vec<HostPolicy>,
    /// The org settings (logo, contact URL).
    pub org: OrgInfo,
    pub last_report: Option<ComplianceReport>,
}

/// The host a token belongs to; `Unauthenticated` for an unknown or expired token.
pub async fn host_for_token(
    state: &AppState,
    client: IpAddr,
    token: &str,
) -> ServiceResult<HostRecord> {
    if state.device_limiter.is_blocked(client, state.now()) {
        return Err(ServiceError::Throttled);
    }
    let fresh_since = state.now() - state.settings.device_token_ttl.as_secs() as i64;
    match state.store.host_by_device_token(token, fresh_since).await? {
        Some(host) => Ok(host),
        None => {
            state.device_limiter.record_failure(client, state.now());
            Err(ServiceError::Unauthenticated)
        }
    }
}

pub async fn my_device(state: &AppState, client: IpAddr, token: &str) -> ServiceResult<MyDevice> {
    let host = host_for_token(state, client, token).await?;
    let policies = state
        .store
        .host_policies(host.id, host.team_id, &host.platform)
        .await?;
    let org = state
        .store
        .org_settings()
        .await?
        .unwrap_or_default()
        .org_info;
    let last_report = state
        .store
        .compliance_reports(host.id, 1)
        .await?
        .into_iter()
        .next();
    Ok(MyDevice {
        host,
        policies,
        org,
        last_report,
    })
}

/// Asks the token's host for fresh results at its next check-in.
pub async fn refetch(state: &AppState, client: IpAddr, token: &str) -> ServiceResult<()> {
    let host = host_for_token(state, client, token).await?;
    state.store.request_refetch(host.id).await?;
    Ok(())
}
