//! Refresh tokens, rotated on every use (OAuth 2.1 §4.3.1; RFC 9700 §4.14.2). One sign-in is
//! one family; a token presented twice means it leaked, so the whole family is revoked and
//! its access tokens stop verifying.

use chrono::Utc;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{AuthError, Credential, Identity, Principal};
use crate::audit::{self, Origin, Outcome};
use crate::store::NewRefresh;
use crate::tenancy::TenantScope;

const REFRESH_PREFIX: &str = "syr_";

/// What a sign-in or refresh returns (RFC 6749 §5.1 field names).
#[derive(Clone, Debug)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: String,
}

/// What binds a sign-in made through OAuth (`/oauth/{tenant}`): only its client may refresh
/// it, and its access tokens are for its resource alone (RFC 8707 §2; OAuth 2.1 §4.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientBinding {
    pub client_id: String,
    /// The canonical URI of the MCP endpoint, the access tokens' `aud`.
    pub audience: String,
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl Identity {
    /// Starts a refresh family for a signed-in principal and returns its first tokens.
    pub async fn start_family(&self, principal: &Principal) -> Result<TokenPair, AuthError> {
        self.start_bound_family(principal, None).await
    }

    /// Starts the sign-in an OAuth client obtains for `user_id` with an authorization code;
    /// refuses a disabled account.
    pub async fn start_client_family(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
        binding: &ClientBinding,
    ) -> Result<(TokenPair, Principal), AuthError> {
        let account = self.store.credentials(scope, user_id).await?;
        let principal = self
            .principal_for(
                &account,
                Credential::Bearer {
                    family: Uuid::nil(),
                },
            )
            .await?;
        let pair = self.start_bound_family(&principal, Some(binding)).await?;
        Ok((pair, principal))
    }

    async fn start_bound_family(
        &self,
        principal: &Principal,
        binding: Option<&ClientBinding>,
    ) -> Result<TokenPair, AuthError> {
        let family = Uuid::now_v7();
        let family_expires_at =
            Utc::now() + chrono::Duration::seconds(self.settings.refresh_family_max_secs as i64);
        let mut principal = principal.clone();
        principal.credential = Credential::Bearer { family };
        self.next_in_family(&principal, family, family_expires_at, binding)
            .await
    }

    async fn next_in_family(
        &self,
        principal: &Principal,
        family: Uuid,
        family_expires_at: chrono::DateTime<Utc>,
        binding: Option<&ClientBinding>,
    ) -> Result<TokenPair, AuthError> {
        let refresh_token = format!("{REFRESH_PREFIX}{}", super::random_token(32));
        let expires_at = (Utc::now()
            + chrono::Duration::seconds(self.settings.refresh_token_ttl_secs as i64))
        .min(family_expires_at);
        let scope = TenantScope::verified(principal.tenant_id);
        self.store
            .insert_refresh(
                &scope,
                &NewRefresh {
                    family_id: family,
                    user_id: principal.user_id,
                    token_hash: &hash(&refresh_token),
                    expires_at,
                    family_expires_at,
                    client_id: binding.map(|b| b.client_id.as_str()),
                    audience: binding.map(|b| b.audience.as_str()),
                },
            )
            .await?;
        let (access_token, expires_in) = self.issue_access(principal, family, binding).await?;
        Ok(TokenPair {
            access_token,
            expires_in,
            refresh_token,
        })
    }

    /// Exchanges a refresh token of an API sign-in for new tokens. Reuse of a spent token
    /// revokes its family and is audited as denied.
    pub async fn refresh(
        &self,
        token: &str,
        origin: &Origin,
    ) -> Result<(TokenPair, Principal), AuthError> {
        self.refresh_as(token, origin, None).await
    }

    /// Exchanges a refresh token for new tokens. `client` is the tenant whose token endpoint
    /// was asked, the OAuth client presenting it and the resource it asks for, if it names
    /// one; `None` is the API's own refresh. A
    /// token is refreshed only by the party it was issued to, so an MCP client's token never
    /// becomes an API token, nor another client's.
    pub async fn refresh_as(
        &self,
        token: &str,
        origin: &Origin,
        client: Option<(Uuid, &str, Option<&str>)>,
    ) -> Result<(TokenPair, Principal), AuthError> {
        let unknown = AuthError::InvalidToken("the refresh token is invalid, expired or revoked");
        if !token.starts_with(REFRESH_PREFIX) {
            return Err(unknown);
        }
        let Some(row) = self.store.refresh_by_hash(&hash(token)).await? else {
            return Err(unknown);
        };
        let binding = match (&row.client_id, &row.audience) {
            (Some(client_id), Some(audience)) => Some(ClientBinding {
                client_id: client_id.clone(),
                audience: audience.clone(),
            }),
            _ => None,
        };
        let presented_by_owner = match (&binding, client) {
            (None, None) => true,
            (Some(b), Some((tenant_id, client_id, resource))) => {
                row.tenant_id == tenant_id
                    && b.client_id == client_id
                    && resource.is_none_or(|r| r == b.audience)
            }
            _ => false,
        };
        if !presented_by_owner {
            return Err(unknown);
        }
        let actor = format!("user:{}", row.user_id);
        if row.revoked_at.is_some() {
            return Err(unknown);
        }
        let claimed =
            row.used_at.is_none() && self.store.claim_refresh(row.tenant_id, row.id).await?;
        if !claimed {
            // Spent before: someone else holds a copy. Revoke the whole sign-in.
            self.store
                .revoke_family(row.tenant_id, row.family_id)
                .await?;
            self.mark_revoked(row.tenant_id, row.family_id).await?;
            let event = origin
                .event(actor, "auth.token.reuse", Outcome::Denied)
                .target(format!("session:{}", row.family_id))
                .rule("refresh-token-reuse")
                .detail(json!({ "family_revoked": true }));
            audit::record(&self.store, row.tenant_id, event).await?;
            return Err(AuthError::InvalidToken(
                "the refresh token was already used; the sign-in it belongs to is now revoked",
            ));
        }
        if row.expires_at <= Utc::now() {
            return Err(unknown);
        }
        let scope = TenantScope::verified(row.tenant_id);
        let account = self.store.credentials(&scope, row.user_id).await?;
        let principal = match self
            .principal_for(
                &account,
                Credential::Bearer {
                    family: row.family_id,
                },
            )
            .await
        {
            Ok(p) => p,
            Err(e) => {
                self.store
                    .revoke_family(row.tenant_id, row.family_id)
                    .await?;
                return Err(e);
            }
        };
        let pair = self
            .next_in_family(
                &principal,
                row.family_id,
                row.family_expires_at,
                binding.as_ref(),
            )
            .await?;
        let event = origin
            .event(principal.actor(), "auth.token.refresh", Outcome::Success)
            .target(format!("session:{}", row.family_id));
        audit::record(&self.store, row.tenant_id, event).await?;
        Ok((pair, principal))
    }

    /// Revokes the sign-in a refresh token belongs to (RFC 7009: unknown tokens are not an
    /// error, so the answer reveals nothing).
    pub async fn revoke_refresh(&self, token: &str, origin: &Origin) -> Result<(), AuthError> {
        let Some(row) = self.store.refresh_by_hash(&hash(token)).await? else {
            return Ok(());
        };
        self.end_family(row.tenant_id, row.user_id, row.family_id, origin)
            .await
    }

    /// Ends one sign-in: its refresh tokens and its live access tokens.
    pub async fn end_family(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        family: Uuid,
        origin: &Origin,
    ) -> Result<(), AuthError> {
        let live = self.store.revoke_family(tenant_id, family).await?;
        self.mark_revoked(tenant_id, family).await?;
        let event = origin
            .event(
                format!("user:{user_id}"),
                "auth.token.revoke",
                Outcome::Success,
            )
            .target(format!("session:{family}"))
            .detail(json!({ "refresh_tokens_revoked": live }));
        audit::record(&self.store, tenant_id, event).await?;
        Ok(())
    }

    /// Ends every sign-in of a user (refresh tokens and live access tokens); returns how many.
    pub(super) async fn end_all_families(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
    ) -> Result<usize, AuthError> {
        let families = self.store.revoke_user_families(scope, user_id).await?;
        for family in &families {
            self.mark_revoked(scope.tenant_id(), *family).await?;
        }
        Ok(families.len())
    }

    /// Ends every sign-in a user's consent gave one OAuth client (refresh tokens and live
    /// access tokens); returns how many.
    pub async fn end_client_families(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
        client_id: &str,
    ) -> Result<usize, AuthError> {
        let families = self
            .store
            .revoke_client_families(scope, user_id, client_id)
            .await?;
        for family in &families {
            self.mark_revoked(scope.tenant_id(), *family).await?;
        }
        Ok(families.len())
    }

    /// "Sign out everywhere": every refresh family and console session of the user.
    pub async fn sign_out_everywhere(
        &self,
        principal: &Principal,
        target_user: Uuid,
        origin: &Origin,
    ) -> Result<(), AuthError> {
        let scope = TenantScope::verified(principal.tenant_id);
        let families = self.end_all_families(&scope, target_user).await?;
        self.store.revoke_sessions(&scope, target_user).await?;
        let event = origin
            .event(
                principal.actor(),
                "auth.sign_out_everywhere",
                Outcome::Success,
            )
            .target(format!("user:{target_user}"))
            .detail(json!({ "sign_ins_revoked": families }));
        audit::record(&self.store, principal.tenant_id, event).await?;
        Ok(())
    }
}
