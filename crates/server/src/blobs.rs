//! The blob store: uploaded files kept by SHA-256 in a folder (the data dir's
//! `blobs/` by default). A replica only sees its own folder: several replicas
//! need it on shared storage.

use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// An upload written to a temporary file as it arrived, hashed on the way.
/// Until [`BlobStore::keep`] takes it, dropping it deletes the file.
#[derive(Debug)]
pub struct ReceivedFile {
    path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

impl ReceivedFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ReceivedFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the upload was cut off: {0}")]
    Body(String),
    #[error("writing the upload: {0}")]
    Io(#[from] std::io::Error),
}

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

    /// Writes a body to a temporary file in the store's folder as it
    /// arrives, hashing it on the way; more than `max_bytes` stops it.
    pub async fn receive<S, B>(
        &self,
        mut body: S,
        max_bytes: u64,
    ) -> Result<ReceivedFile, ReceiveError>
    where
        S: Stream<Item = Result<B, ReceiveError>> + Unpin,
        B: AsRef<[u8]>,
    {
        let incoming = self.dir.join("incoming");
        tokio::fs::create_dir_all(&incoming).await?;
        let mut received = ReceivedFile {
            path: incoming.join(uuid::Uuid::new_v4().simple().to_string()),
            sha256: String::new(),
            size: 0,
        };
        let mut file = tokio::fs::File::create(&received.path).await?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            let chunk = chunk.as_ref();
            received.size += chunk.len() as u64;
            if received.size > max_bytes {
                return Err(ReceiveError::TooLarge(max_bytes));
            }
            hasher.update(chunk);
            file.write_all(chunk).await?;
        }
        file.flush().await?;
        received.sha256 = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(received)
    }

    /// Moves a received file into the store under its hash; returns the hash.
    pub async fn keep(&self, mut file: ReceivedFile) -> std::io::Result<String> {
        let hash = file.sha256.clone();
        let path = self.dir.join(&hash);
        if !tokio::fs::try_exists(&path).await? {
            tokio::fs::rename(&file.path, &path).await?;
            file.path = PathBuf::new();
        }
        Ok(hash)
    }

    /// Where a blob is on disk, when it is here.
    pub async fn file_of(&self, hash: &str) -> std::io::Result<Option<PathBuf>> {
        match self.path_of(hash) {
            Some(path) if tokio::fs::try_exists(&path).await? => Ok(Some(path)),
            _ => Ok(None),
        }
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
