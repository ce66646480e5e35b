//! How secrets are kept: agent keys and device tokens as digests, enroll
//! secrets as a digest (for lookup) beside a sealed copy (for display), and
//! the move of values older versions kept in clear.

use crate::{Result, StoreError};
use flotilla_secrets::{key_digest, ServerKey};
use sqlx::{AnyPool, Row};

/// The stored form of a token that is only ever compared.
pub(crate) fn digest(token: &str) -> String {
    key_digest(token)
}

pub(crate) fn open_sealed(key: &ServerKey, sealed: &str) -> Result<String> {
    key.open_text(sealed).map_err(|_| {
        StoreError::Corrupt(
            "an enroll secret is sealed with another server key (was --server-private-key changed?)"
                .into(),
        )
    })
}

/// Moves what earlier versions kept in clear into the digest and sealed
/// columns, then forgets the clear value. Each step selects only rows still
/// in the old form, so running it again does nothing.
pub(crate) async fn seal_values_kept_in_clear(writer: &AnyPool, key: &ServerKey) -> Result<()> {
    let mut tx = writer.begin().await?;
    for (clear, digested) in [
        ("node_key", "node_key_digest"),
        ("orbit_node_key", "orbit_node_key_digest"),
    ] {
        let rows = sqlx::query(&format!(
            "SELECT id, {clear} AS clear FROM hosts WHERE {clear} IS NOT NULL"
        ))
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            let clear_value: String = row.try_get("clear")?;
            sqlx::query(&format!(
                "UPDATE hosts SET {digested} = $1, {clear} = NULL WHERE id = $2"
            ))
            .bind(digest(&clear_value))
            .bind(row.try_get::<i64, _>("id")?)
            .execute(&mut *tx)
            .await?;
        }
    }
    let tokens = sqlx::query(
        "SELECT host_id, token, previous_token, refreshed_at, rotated_at FROM device_tokens",
    )
    .fetch_all(&mut *tx)
    .await?;
    for row in &tokens {
        let previous: Option<String> = row.try_get("previous_token")?;
        sqlx::query(
            "INSERT INTO host_device_tokens (host_id, digest, previous_digest, refreshed_at, rotated_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(row.try_get::<i64, _>("host_id")?)
        .bind(digest(&row.try_get::<String, _>("token")?))
        .bind(previous.as_deref().map(digest))
        .bind(row.try_get::<i64, _>("refreshed_at")?)
        .bind(row.try_get::<Option<i64>, _>("rotated_at")?)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM device_tokens")
        .execute(&mut *tx)
        .await?;
    // Before sealing, the digest column still holds the secret itself.
    let secrets = sqlx::query("SELECT digest AS clear FROM enroll_secrets WHERE sealed IS NULL")
        .fetch_all(&mut *tx)
        .await?;
    for row in &secrets {
        let clear: String = row.try_get("clear")?;
        sqlx::query("UPDATE enroll_secrets SET digest = $1, sealed = $2 WHERE digest = $3")
            .bind(digest(&clear))
            .bind(key.seal(clear.as_bytes()))
            .bind(&clear)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
