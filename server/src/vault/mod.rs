//! Secrets at rest: AES-256-GCM with one master key from settings (or, for the embedded
//! default, a key generated once into the data directory). A sealed value is
//! `nonce (12 bytes) ‖ ciphertext ‖ tag`; the caller's `context` (a key id, a user id) is bound
//! as associated data, so a sealed value copied to another row does not open.

use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

use crate::config::Secret;

/// Why the vault could not open or a value could not be unsealed.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("vault.master_key must be base64 of exactly 32 bytes")]
    BadKey,
    #[error("cannot read or create the master key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    /// Wrong key, wrong context, or a modified value.
    #[error("a sealed secret could not be opened (wrong master key or modified data)")]
    Open,
}

/// Seals and opens secrets. Cheap to clone.
#[derive(Clone)]
pub struct Vault {
    key: Arc<LessSafeKey>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault([redacted])")
    }
}

impl Vault {
    /// The vault for `master_key`, or for the key in `<data_dir>/master.key` (created with
    /// mode 0600 on first use) when the setting is empty.
    pub async fn open(master_key: &Secret, data_dir: &Path) -> Result<Self, VaultError> {
        let encoded = if master_key.is_empty() {
            key_file(data_dir).await?
        } else {
            master_key.expose().trim().to_string()
        };
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| VaultError::BadKey)?;
        Self::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VaultError> {
        if bytes.len() != 32 {
            return Err(VaultError::BadKey);
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| VaultError::BadKey)?;
        Ok(Self {
            key: Arc::new(LessSafeKey::new(key)),
        })
    }

    /// Encrypts `plain` bound to `context`.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut buffer = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .expect("AES-GCM sealing only fails on inputs beyond 64 GiB");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        out
    }

    /// Decrypts a value sealed with the same key and `context`.
    pub fn open_sealed(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        if sealed.len() < NONCE_LEN {
            return Err(VaultError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError::Open)?;
        let mut buffer = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| VaultError::Open)?;
        Ok(plain.to_vec())
    }
}

/// Reads `<data_dir>/master.key`, creating it with a fresh random key if absent.
async fn key_file(data_dir: &Path) -> Result<String, VaultError> {
    let path = data_dir.join("master.key");
    let err = |source| VaultError::KeyFile {
        path: path.display().to_string(),
        source,
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => return Ok(String::from_utf8_lossy(&bytes).trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    tokio::fs::create_dir_all(data_dir).await.map_err(err)?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let encoded = STANDARD.encode(bytes);
    let mut options = tokio::fs::OpenOptions::new();
    // create_new: two processes starting at once cannot both write a key.
    options.write(true).create_new(true).mode(0o600);
    match options.open(&path).await {
        Ok(mut file) => {
            use tokio::io::AsyncWriteExt;
            file.write_all(encoded.as_bytes()).await.map_err(err)?;
            file.sync_all().await.map_err(err)?;
            tracing::warn!(path = %path.display(), "generated a vault master key; back it up, and set vault.master_key on every replica that shares this database");
            Ok(encoded)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let bytes = tokio::fs::read(&path).await.map_err(err)?;
            Ok(String::from_utf8_lossy(&bytes).trim().to_string())
        }
        Err(e) => Err(err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn seals_open_only_with_the_same_key_and_context() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(&Secret::default(), dir.path()).await.unwrap();
        let sealed = vault.seal("kid-1", b"private key");
        assert_ne!(&sealed[12..], b"private key");
        assert_eq!(vault.open_sealed("kid-1", &sealed).unwrap(), b"private key");
        assert!(vault.open_sealed("kid-2", &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert!(vault.open_sealed("kid-1", &tampered).is_err());

        // The generated key file is reused on the next start.
        let again = Vault::open(&Secret::default(), dir.path()).await.unwrap();
        assert_eq!(again.open_sealed("kid-1", &sealed).unwrap(), b"private key");
        let other = Vault::from_bytes(&[7; 32]).unwrap();
        assert!(other.open_sealed("kid-1", &sealed).is_err());
        assert!(matches!(
            Vault::open(&Secret::new("c2hvcnQ="), dir.path()).await,
            Err(VaultError::BadKey)
        ));
    }
}
