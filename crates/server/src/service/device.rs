//! The end user's side: Fleet Desktop and My device, reached with the device
//! token fleetd registers. A valid token always opens them; unknown tokens
//! count against the client's address (each distinct token once), and a
//! client that tried too many is told to wait.

use super::{ServiceError, ServiceResult};
use crate::AppState;
use flotilla_core::settings::OrgInfo;
use flotilla_core::PolicyResponse;
use flotilla_store::{ComplianceReport, HostPolicy, HostRecord};
use std::net::IpAddr;

impl MyDevice {
    /// Policies the host fails.
    pub fn failing_policies(&self) -> usize {
        self.policies
            .iter()
            .filter(|p| p.response == PolicyResponse::Fail)
            .count()
    }
}

/// What My device shows.
pub struct MyDevice {
    pub host: HostRecord,
    pub policies: Vec<HostPolicy>,
    /// The org settings (logo, contact URL).
    pub org: OrgInfo,
    pub last_report: Option<ComplianceReport>,
}

/// How long a token orbit replaced keeps working: Fleet Desktop picks up the
/// new one at its next poll.
pub const ROTATION_GRACE_SECS: i64 = 3600;

/// The host a token belongs to; `Unauthenticated` for an unknown or expired token.
pub async fn host_for_token(
    state: &AppState,
    client: IpAddr,
    token: &str,
) -> ServiceResult<HostRecord> {
    let now = state.now();
    if token.is_empty() || token.len() > 512 {
        return Err(ServiceError::Unauthenticated);
    }
    let fresh_since = now - state.settings.device_token_ttl.as_secs() as i64;
    let rotated_since = now - ROTATION_GRACE_SECS;
    if let Some(host) = state
        .store
        .host_by_device_token(token, fresh_since, rotated_since)
        .await?
    {
        return Ok(host);
    }
    if state.device_limiter.is_blocked(client, now) {
        return Err(ServiceError::Throttled);
    }
    state.device_limiter.record(client, token, now);
    Err(ServiceError::Unauthenticated)
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

/// Where Fleet Desktop's "transparency" link goes: the org's page, else Fleet's.
pub async fn transparency_url(
    state: &AppState,
    client: IpAddr,
    token: &str,
) -> ServiceResult<String> {
    host_for_token(state, client, token).await?;
    let org = state.store.org_settings().await?.unwrap_or_default();
    Ok(org.fleet_desktop.transparency_url().to_string())
}

/// Asks the token's host for fresh results at its next check-in.
pub async fn refetch(state: &AppState, client: IpAddr, token: &str) -> ServiceResult<()> {
    let host = host_for_token(state, client, token).await?;
    state.store.request_refetch(host.id).await?;
    Ok(())
}
