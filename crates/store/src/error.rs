use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// Input that breaks a rule only the database can check (names that must exist, objects still in use).
    #[error("{0}")]
    Rejected(flotilla_core::ValidationErrors),
    #[error("database URL must start with sqlite:// or postgres://")]
    UnsupportedUrl,
    /// A stored value the code does not know (a newer version wrote it, or it was edited by hand).
    #[error("unexpected stored value: {0}")]
    Corrupt(String),
    #[error("stored document is not valid JSON: {0}")]
    Document(#[from] serde_json::Error),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => StoreError::NotFound("row"),
            _ => StoreError::Database(err),
        }
    }
}

/// Turns a unique-constraint violation into a conflict the caller can report.
pub(crate) fn conflict_on_unique(err: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return StoreError::Conflict(message());
        }
    }
    StoreError::from(err)
}
