//! File carves: what a host's osquery sends after a carve query, kept in the
//! blob store block by block, and read back by admins.

use super::{blob_error, Caller, ServiceError, ServiceResult};
use crate::secrets::random_token;
use crate::wire::osquery::{CarveBeginBody, CarveBlockBody};
use crate::AppState;
use base64::Engine;
use flotilla_core::access::Scope;
use flotilla_store::{AgentHost, CarveRecord, NewCarve};

/// The largest block accepted; fleetd sends 2 MB blocks (`--carver_block_size`).
pub const MAX_BLOCK_SIZE: i64 = 3 * 1024 * 1024;
/// The largest file a host may carve.
pub const MAX_CARVE_SIZE: i64 = 1024 * 1024 * 1024;
/// Carves a host may have waiting for blocks at once: a host that starts
/// carves nobody asked for can't fill the disk.
pub const MAX_OPEN_CARVES_PER_HOST: i64 = 4;

/// Opens a carve session for the host; returns the session id its blocks carry.
pub async fn begin(
    state: &AppState,
    host: &AgentHost,
    body: CarveBeginBody,
) -> ServiceResult<String> {
    if state.settings.blobs.is_none() {
        return Err(ServiceError::invalid(
            "carve",
            "this server has no blob store for carves",
        ));
    }
    let fits = body.block_count >= 1
        && (1..=MAX_BLOCK_SIZE).contains(&body.block_size)
        && (0..=MAX_CARVE_SIZE).contains(&body.carve_size)
        && body.carve_size <= body.block_count.saturating_mul(body.block_size)
        && body.carve_size > (body.block_count - 1).saturating_mul(body.block_size);
    if !fits {
        return Err(ServiceError::invalid(
            "carve_size",
            format!(
                "a carve is at most {MAX_CARVE_SIZE} bytes in blocks of at most {MAX_BLOCK_SIZE}, \
                 and its block count must match its size"
            ),
        ));
    }
    if body.carve_id.len() > 64 || body.request_id.len() > 256 {
        return Err(ServiceError::invalid(
            "carve_id",
            "carve and request ids are too long",
        ));
    }
    let carve = NewCarve {
        host: host.id,
        name: format!("{}-{}", host.id, body.carve_id),
        carve_id: body.carve_id,
        session_id: random_token(24),
        request_id: body.request_id,
        block_count: body.block_count,
        block_size: body.block_size,
        carve_size: body.carve_size,
    };
    let record = state
        .store
        .begin_carve(&carve, MAX_OPEN_CARVES_PER_HOST)
        .await?;
    tracing::info!(host = %host.id, carve = record.id, size = record.carve_size, "carve started");
    Ok(record.session_id)
}

/// Stores one block of an open session.
pub async fn block(state: &AppState, body: CarveBlockBody) -> ServiceResult<()> {
    let carve = state
        .store
        .carve_by_session(&body.session_id)
        .await?
        .ok_or(ServiceError::NodeInvalid("unknown carve session"))?;
    if !(0..carve.block_count).contains(&body.block_id) {
        return Err(ServiceError::invalid(
            "block_id",
            format!(
                "block {} is outside the carve's {} blocks",
                body.block_id, carve.block_count
            ),
        ));
    }
    let data = base64::engine::general_purpose::STANDARD
        .decode(body.data.as_bytes())
        .map_err(|_| ServiceError::invalid("data", "a block is base64"))?;
    if data.len() as i64 > carve.block_size {
        return Err(ServiceError::invalid(
            "data",
            "the block is larger than the carve's block size",
        ));
    }
    let Some(blobs) = state.settings.blobs.as_ref() else {
        return Err(ServiceError::Internal);
    };
    let sha256 = blobs.put(&data).await.map_err(blob_error)?;
    state
        .store
        .record_carve_block(carve.id, body.block_id, &sha256)
        .await?;
    Ok(())
}

/// Every carve (admins and maintainers: carves hold hosts' files).
pub async fn list(state: &AppState, caller: &Caller) -> ServiceResult<Vec<CarveRecord>> {
    caller.require_write(Scope::Global)?;
    Ok(state.store.carves().await?)
}

pub async fn get(state: &AppState, caller: &Caller, id: i64) -> ServiceResult<CarveRecord> {
    caller.require_write(Scope::Global)?;
    Ok(state.store.carve(id).await?)
}

/// One block's bytes.
pub async fn block_data(
    state: &AppState,
    caller: &Caller,
    id: i64,
    block_id: i64,
) -> ServiceResult<Vec<u8>> {
    caller.require_write(Scope::Global)?;
    let carve = state.store.carve(id).await?;
    let hash = state
        .store
        .carve_block(carve.id, block_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound("carve block".into()))?;
    let blobs = state
        .settings
        .blobs
        .as_ref()
        .ok_or(ServiceError::Internal)?;
    blobs
        .read(&hash)
        .await
        .map_err(blob_error)?
        .ok_or_else(|| ServiceError::NotFound("carve block".into()))
}
