//! Flotilla's secrets: random tokens and the digests they are stored as,
//! password hashes, and the server key that seals what must be read back
//! (enroll secrets, private keys) before it is written to the database.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

/// A random token for an API session, node key or enroll secret; safe in
/// URLs and shells.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 as lowercase hex: token hashes, blob names, profile checksums.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// API session tokens are stored and looked up only by this digest (hex).
pub fn token_hash(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// The stored form of agent keys, device tokens and enroll secrets: SHA-256
/// in URL-safe base64 (43 characters, no longer than the keys themselves,
/// so digests cost the database no more than the clear values did).
pub fn key_digest(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(key.as_bytes()))
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError;

pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| HashError)
}

pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The server key: every secret Flotilla must read back is sealed with it
/// (AES-256-GCM, a fresh nonce each time), so a copy of the database alone
/// reveals none of them. Made from the operator's `--server-private-key`
/// or the generated key file; never logged (its `Debug` hides it).
#[derive(Clone)]
pub struct ServerKey {
    /// Shared: the expanded key is about a kilobyte, and the store (with
    /// it) is cloned into every connection's service.
    cipher: std::sync::Arc<Aes256Gcm>,
}

/// The shortest server key accepted, as Fleet asks of `server_private_key`.
pub const MIN_SERVER_KEY_LEN: usize = 32;

/// Sealed values are `v1:` and the base64 of nonce then ciphertext.
const SEALED_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the server key must be at least {MIN_SERVER_KEY_LEN} characters")]
    KeyTooShort,
    /// Sealed with another key, or altered.
    #[error("a sealed value could not be opened with this server key")]
    Unreadable,
}

impl ServerKey {
    /// The key of an operator's secret text; SHA-256 spreads any 32 or more
    /// characters over the 256 bits AES wants.
    pub fn from_secret(secret: &str) -> Result<ServerKey, SealError> {
        let secret = secret.trim();
        if secret.len() < MIN_SERVER_KEY_LEN {
            return Err(SealError::KeyTooShort);
        }
        let key = Sha256::digest(secret.as_bytes());
        Ok(ServerKey {
            cipher: std::sync::Arc::new(Aes256Gcm::new(&key)),
        })
    }

    /// A new random secret for a generated key file.
    pub fn generate_secret() -> String {
        random_token(48)
    }

    pub fn seal(&self, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        // Encrypting into a Vec only fails on lengths far beyond any secret.
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        format!("{SEALED_PREFIX}{}", STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SealError> {
        let raw = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|raw| raw.len() > NONCE_LEN)
            .ok_or(SealError::Unreadable)?;
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| SealError::Unreadable)
    }

    pub fn open_text(&self, sealed: &str) -> Result<String, SealError> {
        String::from_utf8(self.open(sealed)?).map_err(|_| SealError::Unreadable)
    }
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let hash = hash_password("Correct-horse-1!").unwrap();
        assert!(verify_password("Correct-horse-1!", &hash));
        assert!(!verify_password("Correct-horse-2!", &hash));
        assert!(!verify_password("Correct-horse-1!", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        assert_ne!(random_token(32), random_token(32));
        assert_eq!(token_hash("abc"), token_hash("abc"));
        assert_eq!(token_hash("abc").len(), 64);
        assert_eq!(key_digest("abc").len(), 43);
        assert_ne!(key_digest("abc"), key_digest("abd"));
    }

    #[test]
    fn sealed_values_open_only_with_their_key() {
        let key = ServerKey::from_secret("a server key of at least 32 characters").unwrap();
        let other = ServerKey::from_secret("another server key of 32 characters").unwrap();
        let sealed = key.seal(b"enroll-secret-1");
        assert_ne!(
            sealed,
            key.seal(b"enroll-secret-1"),
            "each seal has its own nonce"
        );
        assert_eq!(key.open_text(&sealed).unwrap(), "enroll-secret-1");
        assert!(matches!(other.open(&sealed), Err(SealError::Unreadable)));
        let mut altered = sealed.clone();
        altered.replace_range(10..11, if &sealed[10..11] == "A" { "B" } else { "A" });
        assert!(matches!(key.open(&altered), Err(SealError::Unreadable)));
        assert!(matches!(
            key.open("enroll-secret-1"),
            Err(SealError::Unreadable)
        ));
        assert!(matches!(
            ServerKey::from_secret("short"),
            Err(SealError::KeyTooShort)
        ));
        assert_eq!(format!("{key:?}"), "ServerKey(..)");
    }
}
