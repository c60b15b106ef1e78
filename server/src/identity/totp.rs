//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s steps, ±1 step accepted) with replay
//! protection (a step is accepted once, RFC 6238 §5.2), and one-time recovery codes stored
//! as SHA-256 hashes.

use serde_json::json;
use sha2::{Digest, Sha256};
use totp_rs::{Builder, Totp};
use uuid::Uuid;

use super::{AuthError, Identity, Principal};
use crate::audit::{self, Origin, Outcome};
use crate::store::Credentials;
use crate::tenancy::TenantScope;

/// How many recovery codes an enrolment yields.
const RECOVERY_CODES: usize = 10;

/// A started enrolment: the secret for the authenticator app, shown once.
#[derive(Clone, Debug)]
pub struct Enrolment {
    pub secret_base32: String,
    pub otpauth_uri: String,
}

fn vault_context(user_id: Uuid) -> String {
    format!("totp:{user_id}")
}

fn recovery_hash(code: &str) -> Vec<u8> {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Sha256::digest(normal.as_bytes()).to_vec()
}

/// A recovery code: 10 characters from a 32-letter alphabet (50 bits), as `xxxxx-xxxxx`.
fn recovery_code() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let raw: String = (0..10)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{}-{}", &raw[..5], &raw[5..])
}

impl Identity {
    fn totp(&self, secret: Vec<u8>, account: &str) -> Result<Totp, AuthError> {
        Builder::new()
            .with_secret(secret)
            .with_account_name(account)
            .with_issuer(Some(self.settings.issuer.as_str()))
            .build()
            .map_err(|e| AuthError::Internal(format!("TOTP setup failed: {e}")))
    }

    /// Starts (or restarts) enrolment: a fresh secret, sealed, not yet required at sign-in.
    pub async fn begin_totp(&self, principal: &Principal) -> Result<Enrolment, AuthError> {
        let scope = TenantScope::verified(principal.tenant_id);
        let account = self.store.credentials(&scope, principal.user_id).await?;
        if account.totp_enabled {
            return Err(AuthError::Refused(
                "TOTP is already enabled; disable it first to enrol a new device".into(),
            ));
        }
        let secret = totp_rs::Secret::generate().as_ref().to_vec();
        let totp = self.totp(secret.clone(), &account.email)?;
        let sealed = self.vault.seal(&vault_context(principal.user_id), &secret);
        self.store
            .set_totp(&scope, principal.user_id, Some(&sealed), false)
            .await?;
        Ok(Enrolment {
            secret_base32: totp.secret().to_base32(),
            otpauth_uri: totp
                .to_url()
                .map_err(|e| AuthError::Internal(e.to_string()))?,
        })
    }

    /// Confirms enrolment with a current code; returns the recovery codes (shown once).
    pub async fn confirm_totp(
        &self,
        principal: &Principal,
        code: &str,
        origin: &Origin,
    ) -> Result<Vec<String>, AuthError> {
        let scope = TenantScope::verified(principal.tenant_id);
        let account = self.store.credentials(&scope, principal.user_id).await?;
        if account.totp_enabled {
            return Err(AuthError::Refused("TOTP is already enabled".into()));
        }
        if account.totp_secret_enc.is_none() {
            return Err(AuthError::Refused(
                "no enrolment in progress; start one first".into(),
            ));
        }
        if !self.accept_totp(&account, code).await? {
            let event = origin
                .event(principal.actor(), "auth.mfa.enrol", Outcome::Failure)
                .target(principal.actor());
            audit::record(&self.store, principal.tenant_id, event).await?;
            return Err(AuthError::InvalidMfaCode);
        }
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
        let hashes: Vec<Vec<u8>> = codes.iter().map(|c| recovery_hash(c)).collect();
        self.store
            .enable_totp(&scope, principal.user_id, &hashes)
            .await?;
        let event = origin
            .event(principal.actor(), "auth.mfa.enrol", Outcome::Success)
            .target(principal.actor())
            .detail(json!({ "recovery_codes": codes.len() }));
        audit::record(&self.store, principal.tenant_id, event).await?;
        Ok(codes)
    }

    /// Turns MFA off for a user (themself, or an administrator for a lost device).
    pub async fn disable_totp(
        &self,
        actor: &Principal,
        scope: &TenantScope,
        user_id: Uuid,
        origin: &Origin,
    ) -> Result<(), AuthError> {
        self.store.set_totp(scope, user_id, None, false).await?;
        self.store.delete_recovery_codes(scope, user_id).await?;
        let event = origin
            .event(actor.actor(), "auth.mfa.disable", Outcome::Success)
            .target(format!("user:{user_id}"));
        audit::record(&self.store, scope.tenant_id(), event).await?;
        Ok(())
    }

    /// The caller turns MFA off, proving possession with a current or recovery code.
    pub async fn disable_own_totp(
        &self,
        principal: &Principal,
        code: &str,
        origin: &Origin,
    ) -> Result<(), AuthError> {
        let scope = TenantScope::verified(principal.tenant_id);
        let account = self.store.credentials(&scope, principal.user_id).await?;
        if !account.totp_enabled {
            return Err(AuthError::Refused("TOTP is not enabled".into()));
        }
        if let Err(e) = self.check_second_factor(&account, Some(code)).await {
            let event = origin
                .event(principal.actor(), "auth.mfa.disable", Outcome::Failure)
                .target(principal.actor());
            audit::record(&self.store, principal.tenant_id, event).await?;
            return Err(e);
        }
        self.disable_totp(principal, &scope, principal.user_id, origin)
            .await
    }

    /// The second-factor step of sign-in: a TOTP code, or else a recovery code.
    pub(super) async fn check_second_factor(
        &self,
        account: &Credentials,
        code: Option<&str>,
    ) -> Result<(), AuthError> {
        let code = code
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or(AuthError::MfaRequired)?;
        if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            return match self.accept_totp(account, code).await? {
                true => Ok(()),
                false => Err(AuthError::InvalidMfaCode),
            };
        }
        let scope = TenantScope::verified(account.tenant_id);
        match self
            .store
            .use_recovery_code(&scope, account.user_id, &recovery_hash(code))
            .await?
        {
            true => Ok(()),
            false => Err(AuthError::InvalidMfaCode),
        }
    }

    /// Whether `code` is valid now and its step is newer than the last accepted one; the
    /// step is recorded atomically, so of two concurrent uses of one code only one passes.
    async fn accept_totp(&self, account: &Credentials, code: &str) -> Result<bool, AuthError> {
        let Some(sealed) = &account.totp_secret_enc else {
            return Ok(false);
        };
        let secret = self
            .vault
            .open_sealed(&vault_context(account.user_id), sealed)?;
        let totp = self.totp(secret, &account.email)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| AuthError::Internal(e.to_string()))?
            .as_secs();
        let Some(step) = totp.check(code, now) else {
            return Ok(false);
        };
        let scope = TenantScope::verified(account.tenant_id);
        Ok(self
            .store
            .advance_totp_step(&scope, account.user_id, step as i64)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_normalised_before_hashing() {
        let code = recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(
            recovery_hash(&code),
            recovery_hash(&code.to_uppercase().replace('-', " "))
        );
    }
}
