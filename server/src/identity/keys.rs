//! The token-signing key ring: ES256 keys in the database (private halves sealed by the
//! vault), the newest one signing, every unexpired one verifying and published as a JWKS
//! (RFC 7517). Rotation adds a key and retires the previous ones, which keep verifying until
//! the last token they signed has expired, so rotation never invalidates a live token.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SubsecRound, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::AuthError;
use crate::store::{SigningKeyRow, Store};
use crate::vault::Vault;

/// A key id that is not in the ring triggers a reload at most this often, so tokens with
/// made-up ids cannot make every request read the database.
const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

pub(super) struct Signer {
    pub kid: String,
    pub key: EncodingKey,
    pub created_at: DateTime<Utc>,
}

#[derive(Default)]
struct Loaded {
    signer: Option<std::sync::Arc<Signer>>,
    verifiers: HashMap<String, DecodingKey>,
    jwks: Value,
}

pub(super) struct KeyRing {
    loaded: RwLock<Loaded>,
    last_reload: tokio::sync::Mutex<Option<Instant>>,
    rotation: chrono::Duration,
    /// How long a retired key keeps verifying: the access-token lifetime plus clock leeway.
    retire_grace: chrono::Duration,
}

impl KeyRing {
    pub async fn open(
        store: &Store,
        vault: &Vault,
        rotation_days: u64,
        access_ttl_secs: u64,
    ) -> Result<Self, AuthError> {
        let ring = Self {
            loaded: RwLock::new(Loaded::default()),
            last_reload: tokio::sync::Mutex::new(None),
            rotation: chrono::Duration::days(rotation_days.max(1) as i64),
            retire_grace: chrono::Duration::seconds(access_ttl_secs as i64 + 120),
        };
        ring.reload(store, vault).await?;
        if ring.signer_due().is_none() {
            ring.rotate(store, vault).await?;
        }
        Ok(ring)
    }

    /// The current signer, or `None` when there is none or it is older than the rotation
    /// period.
    fn signer_due(&self) -> Option<std::sync::Arc<Signer>> {
        let loaded = self.loaded.read().expect("key ring lock poisoned");
        loaded
            .signer
            .clone()
            .filter(|s| Utc::now() - s.created_at < self.rotation)
    }

    /// The signing key, rotating first when the active one is due.
    pub async fn signer(
        &self,
        store: &Store,
        vault: &Vault,
    ) -> Result<std::sync::Arc<Signer>, AuthError> {
        if let Some(signer) = self.signer_due() {
            return Ok(signer);
        }
        // Another replica may have rotated already: look before making a key.
        self.reload(store, vault).await?;
        if let Some(signer) = self.signer_due() {
            return Ok(signer);
        }
        self.rotate(store, vault).await?;
        self.signer_due()
            .ok_or_else(|| AuthError::Internal("no signing key after rotation".into()))
    }

    /// The key that verifies tokens with `kid`, reloading (rate-limited) if unknown.
    pub async fn verifier(
        &self,
        kid: &str,
        store: &Store,
        vault: &Vault,
    ) -> Result<Option<DecodingKey>, AuthError> {
        if let Some(key) = self.lookup(kid) {
            return Ok(Some(key));
        }
        {
            let mut last = self.last_reload.lock().await;
            if last.is_some_and(|t| t.elapsed() < RELOAD_INTERVAL) {
                return Ok(None);
            }
            *last = Some(Instant::now());
        }
        self.reload(store, vault).await?;
        Ok(self.lookup(kid))
    }

    pub fn lookup(&self, kid: &str) -> Option<DecodingKey> {
        let loaded = self.loaded.read().expect("key ring lock poisoned");
        loaded.verifiers.get(kid).cloned()
    }

    pub fn jwks(&self) -> Value {
        self.loaded
            .read()
            .expect("key ring lock poisoned")
            .jwks
            .clone()
    }

    /// Makes a new ES256 key the signer; the previous ones verify until `retire_grace`.
    pub async fn rotate(&self, store: &Store, vault: &Vault) -> Result<String, AuthError> {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| AuthError::Internal("key generation failed".into()))?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .map_err(|_| AuthError::Internal("generated key does not parse".into()))?;
        // An uncompressed SEC1 point: 0x04 ‖ x (32 bytes) ‖ y (32 bytes).
        let point = pair.public_key().as_ref();
        let (x, y) = (
            URL_SAFE_NO_PAD.encode(&point[1..33]),
            URL_SAFE_NO_PAD.encode(&point[33..65]),
        );
        // The kid is the RFC 7638 thumbprint: members in lexicographic order, no spaces.
        let thumbprint_input = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint_input.as_bytes()));
        let jwk = json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig" });
        let now = Utc::now().trunc_subsecs(6);
        let row = SigningKeyRow {
            kid: kid.clone(),
            alg: "ES256".into(),
            public_jwk: jwk.to_string(),
            private_enc: vault.seal(&kid, pkcs8.as_ref()),
            created_at: now,
            retired_at: None,
            expires_at: None,
        };
        store
            .rotate_signing_key(&row, now + self.retire_grace)
            .await?;
        self.reload(store, vault).await?;
        tracing::info!(kid, "rotated the token-signing key");
        Ok(kid)
    }

    async fn reload(&self, store: &Store, vault: &Vault) -> Result<(), AuthError> {
        let rows = store.signing_keys().await?;
        let mut next = Loaded::default();
        let mut published = Vec::new();
        for row in &rows {
            let Ok(jwk) = serde_json::from_str::<Value>(&row.public_jwk) else {
                tracing::error!(kid = row.kid, "signing key has an unreadable public JWK");
                continue;
            };
            let (Some(x), Some(y)) = (jwk["x"].as_str(), jwk["y"].as_str()) else {
                continue;
            };
            let Ok(key) = DecodingKey::from_ec_components(x, y) else {
                continue;
            };
            next.verifiers.insert(row.kid.clone(), key);
            published.push(jwk);
            if row.retired_at.is_none() {
                match vault.open_sealed(&row.kid, &row.private_enc) {
                    Ok(pkcs8) => {
                        let newer = next
                            .signer
                            .as_ref()
                            .is_none_or(|s| s.created_at <= row.created_at);
                        if newer {
                            next.signer = Some(std::sync::Arc::new(Signer {
                                kid: row.kid.clone(),
                                key: EncodingKey::from_ec_der(&pkcs8),
                                created_at: row.created_at,
                            }));
                        }
                    }
                    // A replica with another master key can verify but not sign with it.
                    Err(e) => {
                        tracing::error!(kid = row.kid, error = %e, "cannot open a signing key")
                    }
                }
            }
        }
        next.jwks = json!({ "keys": published });
        *self.loaded.write().expect("key ring lock poisoned") = next;
        Ok(())
    }
}
