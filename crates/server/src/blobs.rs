//! The blob store: uploaded files kept by SHA-256 in a folder (the data dir's
//! `blobs/` by default). A replica only sees its own folder: several replicas
//! need it on shared storage.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    pub fn new(dir: PathBuf) -> BlobStore {
        BlobStore { dir }
    }

    /// Keeps `bytes` and returns their SHA-256 (hex). Written to a temporary
    /// name first, so a blob is never seen half-written.
    pub async fn put(&self, bytes: &[u8]) -> std::io::Result<String> {
        let hash: String = crate::secrets::sha256_hex(bytes);
        let path = self.dir.join(&hash);
        if tokio::fs::try_exists(&path).await? {
            return Ok(hash);
        }
        tokio::fs::create_dir_all(&self.dir).await?;
        let partial = self
            .dir
            .join(format!("{hash}.partial-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&partial, bytes).await?;
        tokio::fs::rename(&partial, &path).await?;
        Ok(hash)
    }

    fn path_of(&self, hash: &str) -> Option<PathBuf> {
        flotilla_core::gitops::is_sha256_hex(hash).then(|| self.dir.join(hash.to_ascii_lowercase()))
    }

    pub async fn contains(&self, hash: &str) -> std::io::Result<bool> {
        match self.path_of(hash) {
            Some(path) => tokio::fs::try_exists(path).await,
            None => Ok(false),
        }
    }

    /// The blob's bytes, or `None` when it isn't here.
    pub async fn read(&self, hash: &str) -> std::io::Result<Option<Vec<u8>>> {
        let Some(path) = self.path_of(hash) else {
            return Ok(None);
        };
        match tokio::fs::read(path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}
