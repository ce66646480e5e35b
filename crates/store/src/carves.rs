//! File carves: a host sends a file (a tar archive) in blocks after a carve
//! query; the blocks' bytes live in the blob store, the store keeps which
//! blob is which block.

use crate::error::conflict_on_unique;
use crate::{Result, Store, StoreError};
use flotilla_core::HostId;
use sqlx::any::AnyRow;
use sqlx::Row;

/// A carve as osquery announces it (`carve/begin`).
#[derive(Debug, Clone)]
pub struct NewCarve {
    pub host: HostId,
    pub name: String,
    pub carve_id: String,
    pub session_id: String,
    pub request_id: String,
    pub block_count: i64,
    pub block_size: i64,
    pub carve_size: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarveRecord {
    pub id: i64,
    pub host_id: HostId,
    pub name: String,
    pub carve_id: String,
    pub session_id: String,
    pub request_id: String,
    pub block_count: i64,
    pub block_size: i64,
    pub carve_size: i64,
    /// The highest block received so far (-1: none).
    pub max_block: i64,
    pub created_at: i64,
}

impl CarveRecord {
    pub fn complete(&self) -> bool {
        self.max_block + 1 >= self.block_count
    }
}

const CARVE_SELECT: &str =
    "SELECT id, host_id, name, carve_id, session_id, request_id, block_count, \
     block_size, carve_size, max_block, created_at FROM carves";

impl Store {
    /// Opens a carve, unless its host already has `max_open` carves still
    /// waiting for blocks.
    pub async fn begin_carve(&self, carve: &NewCarve, max_open: i64) -> Result<CarveRecord> {
        let mut tx = self.begin().await?;
        let open: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM carves WHERE host_id = $1 AND max_block < block_count - 1",
        )
        .bind(carve.host.0)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if open >= max_open {
            return Err(StoreError::Rejected(
                flotilla_core::ValidationErrors::single(
                    "carve",
                    format!("this host already has {open} carves in progress"),
                ),
            ));
        }
        let row = sqlx::query(
            "INSERT INTO carves (host_id, name, carve_id, session_id, request_id, block_count, \
             block_size, carve_size, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(carve.host.0)
        .bind(carve.name.as_str())
        .bind(carve.carve_id.as_str())
        .bind(carve.session_id.as_str())
        .bind(carve.request_id.as_str())
        .bind(carve.block_count)
        .bind(carve.block_size)
        .bind(carve.carve_size)
        .bind(self.now())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_on_unique(e, || "this carve session already exists".into()))?;
        tx.commit().await?;
        self.carve(row.try_get("id")?).await
    }

    pub async fn carve_by_session(&self, session_id: &str) -> Result<Option<CarveRecord>> {
        let row = sqlx::query(&format!("{CARVE_SELECT} WHERE session_id = $1"))
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(carve_from_row).transpose()
    }

    /// Records one block (its blob's hash); a block sent again replaces the first.
    pub async fn record_carve_block(&self, carve: i64, block_id: i64, sha256: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO carve_blocks (carve, block_id, sha256) VALUES ($1, $2, $3) \
             ON CONFLICT (carve, block_id) DO UPDATE SET sha256 = excluded.sha256",
        )
        .bind(carve)
        .bind(block_id)
        .bind(sha256)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE carves SET max_block = $1 WHERE id = $2 AND max_block < $1")
            .bind(block_id)
            .bind(carve)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn carves(&self) -> Result<Vec<CarveRecord>> {
        let rows = sqlx::query(&format!("{CARVE_SELECT} ORDER BY id DESC"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(carve_from_row).collect()
    }

    pub async fn carve(&self, id: i64) -> Result<CarveRecord> {
        let row = sqlx::query(&format!("{CARVE_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("carve"))?;
        carve_from_row(&row)
    }

    /// The blob hash of one block, when it arrived.
    pub async fn carve_block(&self, carve: i64, block_id: i64) -> Result<Option<String>> {
        let row = sqlx::query("SELECT sha256 FROM carve_blocks WHERE carve = $1 AND block_id = $2")
            .bind(carve)
            .bind(block_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get("sha256"))
            .transpose()
            .map_err(Into::into)
    }
}

fn carve_from_row(row: &AnyRow) -> Result<CarveRecord> {
    Ok(CarveRecord {
        id: row.try_get("id")?,
        host_id: HostId(row.try_get("host_id")?),
        name: row.try_get("name")?,
        carve_id: row.try_get("carve_id")?,
        session_id: row.try_get("session_id")?,
        request_id: row.try_get("request_id")?,
        block_count: row.try_get("block_count")?,
        block_size: row.try_get("block_size")?,
        carve_size: row.try_get("carve_size")?,
        max_block: row.try_get("max_block")?,
        created_at: row.try_get("created_at")?,
    })
}
