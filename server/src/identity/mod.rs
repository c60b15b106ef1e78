//! Who is calling: accounts and sign-in (password, lockout, TOTP), JWT access tokens with a
//! rotating key ring and JWKS, rotating refresh tokens, console sessions in `kv`, API keys,
//! and the [`Principal`] every authenticated request carries.

mod api_keys;
mod bootstrap;
mod invitations;
mod keys;
mod login;
mod password;
mod principal;
mod refresh;
mod sessions;
mod tokens;
mod totp;
mod verified;

pub use api_keys::{KEY_PREFIX as API_KEY_PREFIX, NewKey};
pub use bootstrap::{BootstrapError, bootstrap};
pub use invitations::{INVITATION_TTL, Invited};
pub use login::{Login, SignedIn};
pub use password::{PasswordError, hash_password, verify_password};
pub use principal::{Credential, Principal};
pub use refresh::{ClientBinding, TokenPair};
pub use sessions::{Session, SessionCookie};
pub use tokens::AccessClaims;
pub use totp::Enrolment;

use std::sync::Arc;

use crate::config::AuthSettings;
use crate::kv::{Kv, KvError};
use crate::store::Store;
use crate::vault::{Vault, VaultError};

/// Why authentication failed. Each variant maps to one precise HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong tenant, email or password; deliberately not saying which.
    #[error("invalid tenant, email or password")]
    InvalidCredentials,
    /// Too many attempts for this account in the last minute.
    #[error("too many sign-in attempts; retry in {0} s")]
    Throttled(u64),
    /// Locked after repeated failures.
    #[error(
        "the account is locked after repeated failed sign-ins; retry in {0} s or ask an administrator to unlock it"
    )]
    Locked(u64),
    #[error("the account is disabled")]
    Disabled,
    /// The password was right and a second factor is needed: send `totp_code`.
    #[error("a TOTP code (or a recovery code) is required")]
    MfaRequired,
    #[error("the TOTP or recovery code is invalid or was already used")]
    InvalidMfaCode,
    /// A bearer token, refresh token, API key or session that does not verify.
    #[error("{0}")]
    InvalidToken(&'static str),
    /// A well-formed request the account's state does not allow (e.g. MFA already on).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("{0}")]
    Internal(String),
}

/// The identity service: cheap to clone, shared by every handler.
#[derive(Clone)]
pub struct Identity {
    store: Store,
    kv: Kv,
    vault: Vault,
    settings: Arc<AuthSettings>,
    keys: Arc<keys::KeyRing>,
    /// Access tokens whose signature verified, until they expire.
    verified: Arc<verified::Verified>,
    /// A hash verified when the account does not exist, so both cases cost the same time.
    dummy_hash: Arc<tokio::sync::OnceCell<String>>,
    /// Bounds concurrent argon2id work to the number of cores.
    hashing: Arc<tokio::sync::Semaphore>,
}

impl Identity {
    pub async fn open(
        store: Store,
        kv: Kv,
        vault: Vault,
        settings: AuthSettings,
    ) -> Result<Self, AuthError> {
        let keys = keys::KeyRing::open(
            &store,
            &vault,
            settings.signing_key_rotation_days,
            settings.access_token_ttl_secs,
        )
        .await?;
        Ok(Self {
            store,
            kv,
            vault,
            settings: Arc::new(settings),
            keys: Arc::new(keys),
            verified: Arc::default(),
            dummy_hash: Arc::new(tokio::sync::OnceCell::new()),
            hashing: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
        })
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// The public keys that verify this server's tokens (RFC 7517 JWK Set).
    pub fn jwks(&self) -> serde_json::Value {
        self.keys.jwks()
    }

    /// Makes a new signing key active now; tokens signed by older keys stay valid.
    pub async fn rotate_signing_key(&self) -> Result<String, AuthError> {
        self.keys.rotate(&self.store, &self.vault).await
    }

    /// Whether `password` meets the policy: length bounds only (NIST SP 800-63B §5.1.1.2).
    pub fn check_password_policy(&self, password: &str) -> Result<(), String> {
        let length = password.chars().count();
        let min = self.settings.password_min_length;
        if length < min {
            return Err(format!("password must be at least {min} characters"));
        }
        if length > 256 {
            return Err("password must be at most 256 characters".into());
        }
        Ok(())
    }
}

/// `n` random bytes from the OS-seeded generator, base64url without padding: the secret
/// part of every token, code and link this server hands out.
pub(crate) fn random_token(n: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `n` random bytes as lowercase hex.
fn random_hex(n: usize) -> String {
    use rand::RngCore;
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
