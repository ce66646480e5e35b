//! Dirty hosts: what a change affects, recorded in the change's own
//! transaction, for a worker to work out again. Marks merge per host (a burst
//! of changes leaves one row), claims carry a lease so replicas share the
//! work, and finishing is fenced by the mark's version.

use crate::{now, Result, Store, Tx};
use flotilla_core::{HostId, LabelId, TeamId};
use sqlx::Row;

/// What must be worked out again for a dirty host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DirtyKind {
    /// Its compliance verdict (and the report to Entra if it changed).
    Compliance,
}

impl DirtyKind {
    fn as_str(self) -> &'static str {
        match self {
            DirtyKind::Compliance => "compliance",
        }
    }
}

/// Which hosts a change affects.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Affected<'a> {
    All,
    /// The hosts of a team, or of "No team" for `None`.
    Team(Option<TeamId>),
    Hosts(&'a [HostId]),
    /// The hosts a label has now.
    LabelMembers(LabelId),
}

/// One claimed dirty host; finishing it needs the version it was claimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirtyClaim {
    pub host: HostId,
    pub version: i64,
}

const UPSERT: &str = "INSERT INTO dirty_hosts (kind, host_id, marked_at) ";
const ON_CONFLICT: &str = " ON CONFLICT (kind, host_id) DO UPDATE SET \
     version = dirty_hosts.version + 1, marked_at = excluded.marked_at";

/// Marks the affected hosts dirty inside the caller's transaction.
pub(crate) async fn mark(tx: &mut Tx, kind: DirtyKind, affected: Affected<'_>) -> Result<()> {
    let ts = now();
    // `WHERE` keeps SQLite from reading `ON CONFLICT` as part of the SELECT's join.
    match affected {
        Affected::All => {
            sqlx::query(&format!(
                "{UPSERT}SELECT $1, id, $2 FROM hosts WHERE true{ON_CONFLICT}"
            ))
            .bind(kind.as_str())
            .bind(ts)
            .execute(&mut **tx)
            .await?;
        }
        Affected::Team(Some(team)) => {
            sqlx::query(&format!(
                "{UPSERT}SELECT $1, id, $2 FROM hosts WHERE team_id = $3{ON_CONFLICT}"
            ))
            .bind(kind.as_str())
            .bind(ts)
            .bind(team.0)
            .execute(&mut **tx)
            .await?;
        }
        Affected::Team(None) => {
            sqlx::query(&format!(
                "{UPSERT}SELECT $1, id, $2 FROM hosts WHERE team_id IS NULL{ON_CONFLICT}"
            ))
            .bind(kind.as_str())
            .bind(ts)
            .execute(&mut **tx)
            .await?;
        }
        Affected::Hosts(hosts) => {
            for host in hosts {
                sqlx::query(&format!(
                    "{UPSERT}SELECT $1, id, $2 FROM hosts WHERE id = $3{ON_CONFLICT}"
                ))
                .bind(kind.as_str())
                .bind(ts)
                .bind(host.0)
                .execute(&mut **tx)
                .await?;
            }
        }
        Affected::LabelMembers(label) => {
            sqlx::query(&format!(
                "{UPSERT}SELECT $1, host_id, $2 FROM label_membership WHERE label_id = $3{ON_CONFLICT}"
            ))
            .bind(kind.as_str())
            .bind(ts)
            .bind(label.0)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

impl Store {
    /// Claims up to `limit` dirty hosts of a kind for `claimant` for
    /// `lease_secs`: unclaimed ones, and ones whose lease ran out (a replica
    /// that stopped or fell behind).
    pub async fn claim_dirty_hosts(
        &self,
        kind: DirtyKind,
        claimant: &str,
        limit: i64,
        lease_secs: i64,
    ) -> Result<Vec<DirtyClaim>> {
        let ts = self.now();
        // Most rounds find nothing: a read says so without taking the writer.
        let any = sqlx::query(
            "SELECT 1 AS due FROM dirty_hosts WHERE kind = $1 AND lease_until <= $2 LIMIT 1",
        )
        .bind(kind.as_str())
        .bind(ts)
        .fetch_optional(&self.pool)
        .await?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        // The due condition is repeated on the outer row so that a replica
        // that waited for another's lock re-checks it and skips the row.
        let due = "kind = $1 AND lease_until <= $2";
        let sql = format!(
            "UPDATE dirty_hosts SET claimed_by = $3, lease_until = $4 \
             WHERE kind = $1 AND host_id IN (SELECT host_id FROM dirty_hosts WHERE {due} \
             ORDER BY marked_at, host_id LIMIT $5) AND {due} RETURNING host_id, version"
        );
        let mut tx = self.begin().await?;
        let rows = sqlx::query(&sql)
            .bind(kind.as_str())
            .bind(ts)
            .bind(claimant)
            .bind(ts + lease_secs)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                Ok(DirtyClaim {
                    host: HostId(row.try_get("host_id")?),
                    version: row.try_get("version")?,
                })
            })
            .collect()
    }

    /// Finishes claimed hosts: each row goes if it is still this claimant's
    /// at the claimed version; one marked again meanwhile is released to be
    /// claimed at once.
    pub async fn finish_dirty_hosts(
        &self,
        kind: DirtyKind,
        claimant: &str,
        claims: &[DirtyClaim],
    ) -> Result<()> {
        if claims.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for claim in claims {
            let done = sqlx::query(
                "DELETE FROM dirty_hosts WHERE kind = $1 AND host_id = $2 AND version = $3 AND claimed_by = $4",
            )
            .bind(kind.as_str())
            .bind(claim.host.0)
            .bind(claim.version)
            .bind(claimant)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                sqlx::query(
                    "UPDATE dirty_hosts SET claimed_by = '', lease_until = 0 WHERE kind = $1 AND host_id = $2 AND claimed_by = $3",
                )
                .bind(kind.as_str())
                .bind(claim.host.0)
                .bind(claimant)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// How many hosts of a kind wait (claimed or not).
    pub async fn dirty_host_count(&self, kind: DirtyKind) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM dirty_hosts WHERE kind = $1")
            .bind(kind.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Resolves when a change in this process marked hosts dirty (other
    /// replicas' marks are found by polling).
    pub async fn dirty_marked(&self) {
        self.dirty_signal.notified().await;
    }

    /// Commits a transaction that marked hosts dirty, and wakes this
    /// process's worker.
    pub(crate) async fn commit_marked(&self, tx: Tx) -> Result<()> {
        tx.commit().await?;
        self.dirty_signal.notify_one();
        Ok(())
    }
}
