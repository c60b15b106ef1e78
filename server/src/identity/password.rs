//! Password hashing with argon2id (RFC 9106 defaults), always off the async runtime: one hash
//! costs tens of milliseconds of CPU.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use crate::config::Secret;

/// Why hashing or verifying could not run.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The PHC string of an argon2id hash of `password` with a fresh random salt.
pub async fn hash_password(password: Secret) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || {
        let hash: argon2::PasswordHash = Argon2::default()
            .hash_password(password.expose().as_bytes())
            .map_err(|e| PasswordError::Hash(e.to_string()))?;
        Ok(hash.to_string())
    })
    .await?
}

/// Whether `password` matches the stored PHC string (in constant time).
pub async fn verify_password(password: Secret, phc: String) -> Result<bool, PasswordError> {
    tokio::task::spawn_blocking(move || {
        Ok(Argon2::default()
            .verify_password(password.expose().as_bytes(), phc.as_str())
            .is_ok())
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ_by_salt() {
        let a = hash_password(Secret::new("correct horse")).await.unwrap();
        let b = hash_password(Secret::new("correct horse")).await.unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(
            verify_password(Secret::new("correct horse"), a.clone())
                .await
                .unwrap()
        );
        assert!(!verify_password(Secret::new("wrong"), a).await.unwrap());
    }
}
