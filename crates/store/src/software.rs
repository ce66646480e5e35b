//! Software packages available for install, per team.

use crate::config::record_activity;
use crate::error::conflict_on_unique;
use crate::records::{scope_from_column, scope_to_column, Activity};
use crate::{as_flag, flag, now, Result, Store, StoreError, Tx};
use flotilla_core::access::Scope;
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftwarePackage {
    /// Also the software title's id in the API.
    pub id: i64,
    pub scope: Scope,
    pub title: String,
    pub version: String,
    pub bundle_id: String,
    pub filename: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub install_script: String,
    pub uninstall_script: String,
    pub self_service: bool,
    /// Where the installer was fetched from, when GitOps named a URL.
    pub url: String,
    pub created_at: i64,
}

const PACKAGE_COLUMNS: &str =
    "id, team_id, title, version, bundle_id, filename, sha256, size_bytes, install_script, \
     uninstall_script, self_service, url, created_at";

impl Store {
    /// Records an uploaded package (its file already in the blob store).
    pub async fn create_software_package(
        &self,
        package: &SoftwarePackage,
        activity: Activity,
    ) -> Result<SoftwarePackage> {
        let mut tx = self.begin().await?;
        let id = insert_package(&mut tx, package).await?;
        record_activity(&mut tx, &activity).await?;
        tx.commit().await?;
        self.software_package(id).await
    }

    pub async fn software_package(&self, id: i64) -> Result<SoftwarePackage> {
        let row = sqlx::query(&format!(
            "SELECT {PACKAGE_COLUMNS} FROM software_packages WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("software package"))?;
        package_from_row(&row)
    }

    /// The packages of a team (or "No team"), by title.
    pub async fn software_packages(&self, scope: Scope) -> Result<Vec<SoftwarePackage>> {
        let rows = sqlx::query(&format!(
            "SELECT {PACKAGE_COLUMNS} FROM software_packages WHERE team_id = $1 ORDER BY title"
        ))
        .bind(scope_to_column(scope).unwrap_or(0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(package_from_row).collect()
    }

    pub async fn delete_software_package(&self, id: i64, activity: Activity) -> Result<()> {
        let mut tx = self.begin().await?;
        let installed_by = sqlx::query(
            "SELECT name FROM policies WHERE install_software_id = $1 ORDER BY id LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(policy) = installed_by {
            return Err(StoreError::Conflict(format!(
                "policy \"{}\" installs this package; change the policy first",
                policy.try_get::<String, _>("name")?
            )));
        }
        let deleted = sqlx::query("DELETE FROM software_packages WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound("software package"));
        }
        record_activity(&mut tx, &activity).await?;
        tx.commit().await?;
        Ok(())
    }
}

pub(crate) async fn insert_package(tx: &mut Tx, package: &SoftwarePackage) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO software_packages (team_id, title, version, bundle_id, filename, sha256, size_bytes, \
         install_script, uninstall_script, self_service, url, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(scope_to_column(package.scope).unwrap_or(0))
    .bind(package.title.as_str())
    .bind(package.version.as_str())
    .bind(package.bundle_id.as_str())
    .bind(package.filename.as_str())
    .bind(package.sha256.as_str())
    .bind(package.size_bytes)
    .bind(package.install_script.as_str())
    .bind(package.uninstall_script.as_str())
    .bind(as_flag(package.self_service))
    .bind(package.url.as_str())
    .bind(now())
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || format!("\"{}\" is already available for install in this team", package.title))
    })?;
    let id: i64 = row.try_get("id")?;
    Ok(id)
}

fn package_from_row(row: &AnyRow) -> Result<SoftwarePackage> {
    Ok(SoftwarePackage {
        id: row.try_get("id")?,
        scope: scope_from_column(Some(row.try_get("team_id")?)),
        title: row.try_get("title")?,
        version: row.try_get("version")?,
        bundle_id: row.try_get("bundle_id")?,
        filename: row.try_get("filename")?,
        sha256: row.try_get("sha256")?,
        size_bytes: row.try_get("size_bytes")?,
        install_script: row.try_get("install_script")?,
        uninstall_script: row.try_get("uninstall_script")?,
        self_service: flag(row, "self_service")?,
        url: row.try_get("url")?,
        created_at: row.try_get("created_at")?,
    })
}
