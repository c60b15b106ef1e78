//! JWT access tokens (RFC 9068 profile): ES256 only, `kid` required, issuer and audience
//! checked, short-lived. A revoked sign-in (refresh family) also voids its live access
//! tokens through a marker in `kv` that outlives them.

use chrono::Utc;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{AuthError, Credential, Identity, Principal};
use crate::access::PermissionSet;

/// Seconds of clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECS: u64 = 30;

/// What an access token says.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: Uuid,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: Uuid,
    /// The tenant the token acts in.
    pub tid: Uuid,
    /// The sign-in (refresh family) the token belongs to.
    pub sid: Uuid,
    pub email: String,
    pub roles: Vec<String>,
    /// Granted permissions, space-separated (RFC 8693 §4.2 `scope`).
    pub scope: String,
    /// Platform administrator.
    #[serde(default)]
    pub adm: bool,
    /// The OAuth client the token was issued to (RFC 9068 §2.2), for tokens from
    /// `/oauth/{tenant}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Must enrol a second factor before doing anything else (a role requires MFA).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mfa_enrol: bool,
}

impl Identity {
    /// Signs an access token for `principal` in sign-in `family`, for the API or for the
    /// resource an OAuth client's sign-in is bound to; returns it and its lifetime.
    pub(super) async fn issue_access(
        &self,
        principal: &Principal,
        family: Uuid,
        binding: Option<&super::ClientBinding>,
    ) -> Result<(String, u64), AuthError> {
        let signer = self.keys.signer(&self.store, &self.vault).await?;
        let now = Utc::now().timestamp();
        let ttl = self.settings.access_token_ttl_secs;
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub: principal.user_id,
            aud: binding.map_or_else(|| self.settings.audience.clone(), |b| b.audience.clone()),
            exp: now + ttl as i64,
            nbf: now,
            iat: now,
            jti: Uuid::now_v7(),
            tid: principal.tenant_id,
            sid: family,
            email: principal.email.clone(),
            roles: principal.roles.clone(),
            scope: principal.permissions.names().join(" "),
            adm: principal.platform_admin,
            client_id: binding.map(|b| b.client_id.clone()),
            mfa_enrol: principal.must_enrol_mfa,
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(signer.kid.clone());
        header.typ = Some("at+jwt".into());
        let token = encode(&header, &claims, &signer.key)
            .map_err(|e| AuthError::Internal(format!("signing failed: {e}")))?;
        Ok((token, ttl))
    }

    /// Verifies a bearer access token and returns its principal. Rejects any algorithm but
    /// ES256 (so `none` and HS256-with-the-public-key fail), unknown `kid`, bad signature,
    /// expiry, `nbf` in the future, wrong issuer or audience, and revoked sign-ins.
    pub async fn verify_access(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify_access_at(token, None).await
    }

    /// As [`Self::verify_access`], at a resource that also accepts tokens issued for it
    /// (`aud` = its canonical URI, RFC 8707 §2): an MCP endpoint. A token for one resource
    /// is refused everywhere else, the API included (no token passthrough).
    pub async fn verify_access_at(
        &self,
        token: &str,
        resource: Option<&str>,
    ) -> Result<Principal, AuthError> {
        let now = Utc::now().timestamp();
        let claims = match self.verified.get(token, now) {
            Some(claims) => {
                let accepted = claims.aud == self.settings.audience
                    || resource.is_some_and(|r| claims.aud == r);
                if !accepted {
                    return Err(AuthError::InvalidToken("the token is for another audience"));
                }
                claims
            }
            None => {
                let claims = self.verify_claims_at(token, resource).await?;
                self.verified.remember(token, &claims);
                claims
            }
        };
        if self
            .kv
            .get(&revoked_key(claims.tid, claims.sid))
            .await?
            .is_some()
        {
            return Err(AuthError::InvalidToken("the token's sign-in was revoked"));
        }
        Ok(Principal {
            tenant_id: claims.tid,
            user_id: claims.sub,
            email: claims.email,
            platform_admin: claims.adm,
            roles: claims.roles,
            permissions: PermissionSet::parse(claims.scope.split(' ')),
            credential: Credential::Bearer { family: claims.sid },
            must_enrol_mfa: claims.mfa_enrol,
        })
    }

    /// Signature and claim checks only (no revocation lookup): the cost the benchmark measures.
    pub async fn verify_claims(&self, token: &str) -> Result<AccessClaims, AuthError> {
        self.verify_claims_at(token, None).await
    }

    async fn verify_claims_at(
        &self,
        token: &str,
        resource: Option<&str>,
    ) -> Result<AccessClaims, AuthError> {
        let header = decode_header(token)
            .map_err(|_| AuthError::InvalidToken("the bearer token is not a well-formed JWT"))?;
        if header.alg != Algorithm::ES256 {
            return Err(AuthError::InvalidToken(
                "the token's algorithm is not allowed",
            ));
        }
        let kid = header
            .kid
            .ok_or(AuthError::InvalidToken("the token has no key id (kid)"))?;
        let key = self
            .keys
            .verifier(&kid, &self.store, &self.vault)
            .await?
            .ok_or(AuthError::InvalidToken(
                "the token's signing key is unknown",
            ))?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.algorithms = vec![Algorithm::ES256];
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        match resource {
            Some(resource) => validation.set_audience(&[self.settings.audience.as_str(), resource]),
            None => validation.set_audience(&[&self.settings.audience]),
        }
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        let data = decode::<AccessClaims>(token, &key, &validation).map_err(|e| {
            AuthError::InvalidToken(match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::ImmatureSignature => "the token is not valid yet",
                ErrorKind::InvalidAudience => "the token is for another audience",
                ErrorKind::InvalidIssuer => "the token is from another issuer",
                ErrorKind::InvalidSignature => "the token's signature does not verify",
                ErrorKind::InvalidAlgorithm => "the token's algorithm is not allowed",
                ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                _ => "the bearer token is invalid",
            })
        })?;
        Ok(data.claims)
    }

    /// Voids the access tokens of sign-in `family` for as long as any can be alive.
    pub(super) async fn mark_revoked(
        &self,
        tenant_id: Uuid,
        family: Uuid,
    ) -> Result<(), AuthError> {
        let ttl =
            std::time::Duration::from_secs(self.settings.access_token_ttl_secs + 2 * LEEWAY_SECS);
        self.kv
            .set(&revoked_key(tenant_id, family), b"1", Some(ttl))
            .await?;
        Ok(())
    }
}

/// Per-tenant key (DESIGN.md: `kv` keys are prefixed by tenant).
fn revoked_key(tenant_id: Uuid, family: Uuid) -> String {
    format!("t:{tenant_id}:revoked-sid:{family}")
}
