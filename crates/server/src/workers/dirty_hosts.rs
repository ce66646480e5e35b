//! The dirty-host worker: claims hosts a change marked (their team, policies,
//! labels or results changed), re-decides each one's compliance verdict, and
//! finishes the claims. A burst of changes to one host is one row, so it is
//! decided once.

use super::StopSignal;
use crate::AppState;
use flotilla_store::DirtyKind;
use std::time::Duration;

/// Hosts taken per round.
const BATCH: i64 = 256;
/// How long a claim is reserved; a replica that stops leaves its claims to
/// others after this.
const LEASE_SECS: i64 = 30;
/// How often other replicas' marks are looked for.
const POLL: Duration = Duration::from_secs(1);

/// Works through dirty hosts until stopped.
pub async fn run(state: AppState, mut stop: StopSignal) {
    let me = state.settings.replica_id.clone();
    while !stop.is_stopped() {
        match drain_once(&state, &me).await {
            Ok(0) => {}
            Ok(_) => continue,
            Err(err) => tracing::warn!(error = %err, "could not work through dirty hosts"),
        }
        tokio::select! {
            _ = stop.stopped() => break,
            _ = state.store.dirty_marked() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// One round: claims a batch and decides it; returns how many were claimed.
pub async fn drain_once(
    state: &AppState,
    claimant: &str,
) -> Result<usize, flotilla_store::StoreError> {
    let claims = state
        .store
        .claim_dirty_hosts(DirtyKind::Compliance, claimant, BATCH, LEASE_SECS)
        .await?;
    if claims.is_empty() {
        return Ok(0);
    }
    // Without an active tenant no verdict is reported: nothing to decide.
    if !crate::conditional_access::integration_active(&state.store).await? {
        state
            .store
            .finish_dirty_hosts(DirtyKind::Compliance, claimant, &claims)
            .await?;
        return Ok(claims.len());
    }
    let mut done = Vec::with_capacity(claims.len());
    for claim in &claims {
        match crate::conditional_access::evaluate(state, claim.host).await {
            Ok(()) => done.push(*claim),
            // Left claimed: retried when the lease runs out.
            Err(err) => {
                tracing::warn!(host = %claim.host, error = %err, "could not evaluate compliance")
            }
        }
    }
    state
        .store
        .finish_dirty_hosts(DirtyKind::Compliance, claimant, &done)
        .await?;
    Ok(claims.len())
}
