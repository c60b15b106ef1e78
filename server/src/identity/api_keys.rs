//! API keys (personal access tokens) for MCP clients, scripts and mobile apps:
//! `sy_<prefix>_<secret>`. The prefix (public, unique) finds the row; the secret (256 bits)
//! is stored as its SHA-256 — a slow hash adds nothing against a 256-bit random secret — and
//! compared in constant time. A key acts for its owner with at most the permissions it was
//! given, never more than the owner holds at the time of use.

use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{AuthError, Credential, Identity, Principal};
use crate::access::{Permission, PermissionSet};
use crate::audit::{self, Origin, Outcome};
use crate::store::{ApiKeyRow, NewApiKey};
use crate::tenancy::TenantScope;

pub const KEY_PREFIX: &str = "sy_";

/// A key to create for the calling principal.
pub struct NewKey<'a> {
    pub name: &'a str,
    /// `None`: whatever the owner holds at each use.
    pub permissions: Option<Vec<Permission>>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Identity {
    /// Creates a key for `principal` and returns the row and the full key (shown once).
    /// Refuses permissions the principal does not hold (no escalation through keys).
    pub async fn create_api_key(
        &self,
        principal: &Principal,
        new: NewKey<'_>,
        origin: &Origin,
    ) -> Result<(ApiKeyRow, String), AuthError> {
        let scopes: Vec<String> = match &new.permissions {
            Some(list) => {
                let wanted = PermissionSet::of(list);
                let beyond = principal.lacking(wanted);
                if !beyond.is_empty() {
                    let event = origin
                        .event(principal.actor(), "auth.key.create", Outcome::Denied)
                        .rule("no-escalation")
                        .detail(json!({ "name": new.name, "permissions_not_held": beyond }));
                    audit::record(&self.store, principal.tenant_id, event).await?;
                    return Err(AuthError::Refused(format!(
                        "a key cannot grant permissions its creator does not hold: {}",
                        beyond.join(", ")
                    )));
                }
                wanted.names()
            }
            None => vec!["*".to_string()],
        };
        let scope = TenantScope::verified(principal.tenant_id);
        // 40 bits of prefix: a clash is improbable, and the unique index turns one into a retry.
        for _ in 0..3 {
            let prefix = super::random_hex(5);
            let secret = super::random_token(32);
            let created = self
                .store
                .create_api_key(
                    &scope,
                    &NewApiKey {
                        user_id: principal.user_id,
                        name: new.name,
                        prefix: &prefix,
                        key_hash: &secret_hash(&secret),
                        scopes: &scopes,
                        expires_at: new.expires_at,
                    },
                )
                .await;
            match created {
                Ok(row) => {
                    let event = origin
                        .event(principal.actor(), "auth.key.create", Outcome::Success)
                        .target(format!("api_key:{}", row.id))
                        .detail(json!({ "name": row.name, "prefix": row.prefix, "permissions": scopes, "expires_at": row.expires_at }));
                    audit::record(&self.store, principal.tenant_id, event).await?;
                    return Ok((row, format!("{KEY_PREFIX}{prefix}_{secret}")));
                }
                Err(crate::store::StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AuthError::Internal(
            "could not find a free key prefix".into(),
        ))
    }

    /// The principal an API key acts as, if the key is valid, live and its owner enabled.
    pub async fn verify_api_key(&self, key: &str) -> Result<Principal, AuthError> {
        let invalid = AuthError::InvalidToken("the API key is invalid, expired or revoked");
        let (prefix, secret) = key
            .strip_prefix(KEY_PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .ok_or(AuthError::InvalidToken("malformed API key"))?;
        let Some(row) = self.store.api_key_by_prefix(prefix).await? else {
            return Err(invalid);
        };
        let matches: bool = secret_hash(secret)
            .as_bytes()
            .ct_eq(row.key_hash.as_bytes())
            .into();
        if !matches || row.revoked_at.is_some() || row.expires_at.is_some_and(|t| t <= Utc::now()) {
            return Err(invalid);
        }
        let scope = TenantScope::verified(row.tenant_id);
        let account = self.store.credentials(&scope, row.user_id).await?;
        let mut principal = self
            .principal_for(&account, Credential::ApiKey { id: row.id })
            .await?;
        if !row.scopes.0.iter().any(|s| s == "*") {
            let granted = PermissionSet::parse(row.scopes.0.iter().map(String::as_str));
            principal.permissions = principal.effective().intersect(granted);
            // A scoped key never carries platform-wide powers.
            principal.platform_admin = false;
        }
        self.store.touch_api_key(row.tenant_id, row.id).await?;
        Ok(principal)
    }
}
