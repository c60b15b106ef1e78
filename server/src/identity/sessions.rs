//! Console sessions, kept in `kv` (Redis in production, in-process by default). The cookie
//! holds `<tenant id>.<random secret>`; `kv` holds only the secret's SHA-256 under a
//! tenant-prefixed key, so a copy of Redis yields no usable session. Sessions end after
//! `auth.session_idle_secs` without use, `auth.session_absolute_secs` after sign-in, on sign
//! out, and on "sign out everywhere" (which voids every session made before it).

use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{AuthError, Credential, Identity, Principal};
use crate::tenancy::TenantScope;

/// The name of the session cookie. `__Host-` (RFC 6265bis §4.1.3.2) pins it to this host,
/// path `/`, and HTTPS (or localhost).
pub const SESSION_COOKIE: &str = "__Host-switchyard_session";
pub const SESSION_COOKIE_INSECURE: &str = "switchyard_session";
/// The CSRF token, readable by the console's script, sent back as `x-csrf-token`.
pub const CSRF_COOKIE: &str = "__Host-switchyard_csrf";
pub const CSRF_COOKIE_INSECURE: &str = "switchyard_csrf";

/// What `kv` stores for one session.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Stored {
    user_id: Uuid,
    csrf: String,
    /// Microseconds since the epoch: a session made just after a "sign out everywhere" in the
    /// same second must stay valid.
    created_us: i64,
    /// Seconds since the epoch.
    last_seen: i64,
}

/// A new session: the cookie values to set.
#[derive(Clone, Debug)]
pub struct SessionCookie {
    pub session: String,
    pub csrf: String,
    pub max_age_secs: u64,
}

/// A live session, resolved from its cookie.
#[derive(Clone, Debug)]
pub struct Session {
    pub principal: Principal,
    pub csrf: String,
}

fn kv_key(tenant_id: Uuid, secret: &str) -> String {
    let digest = hex::encode(Sha256::digest(secret.as_bytes()));
    format!("t:{tenant_id}:session:{digest}")
}

fn parse(cookie: &str) -> Option<(Uuid, &str)> {
    let (tenant, secret) = cookie.split_once('.')?;
    let tenant = Uuid::parse_str(tenant).ok()?;
    (secret.len() >= 32).then_some((tenant, secret))
}

impl Identity {
    /// The cookie names in use (secure `__Host-` names unless `auth.secure_cookies` is off).
    pub fn cookie_names(&self) -> (&'static str, &'static str) {
        if self.settings.secure_cookies {
            (SESSION_COOKIE, CSRF_COOKIE)
        } else {
            (SESSION_COOKIE_INSECURE, CSRF_COOKIE_INSECURE)
        }
    }

    /// Opens a console session for a signed-in principal.
    pub async fn open_session(&self, principal: &Principal) -> Result<SessionCookie, AuthError> {
        let secret = super::random_token(32);
        let csrf = super::random_token(32);
        let now = Utc::now();
        let stored = Stored {
            user_id: principal.user_id,
            csrf: csrf.clone(),
            created_us: now.timestamp_micros(),
            last_seen: now.timestamp(),
        };
        let idle = std::time::Duration::from_secs(self.settings.session_idle_secs);
        let value = serde_json::to_vec(&stored).map_err(|e| AuthError::Internal(e.to_string()))?;
        self.kv
            .set(&kv_key(principal.tenant_id, &secret), &value, Some(idle))
            .await?;
        Ok(SessionCookie {
            session: format!("{}.{secret}", principal.tenant_id),
            csrf,
            max_age_secs: self.settings.session_absolute_secs,
        })
    }

    /// The session a cookie names, if it is live; slides its idle timeout.
    pub async fn session(&self, cookie: &str) -> Result<Session, AuthError> {
        let invalid = AuthError::InvalidToken("the session has ended; sign in again");
        let (tenant_id, secret) =
            parse(cookie).ok_or(AuthError::InvalidToken("malformed session cookie"))?;
        let key = kv_key(tenant_id, secret);
        let Some(raw) = self.kv.get(&key).await? else {
            return Err(invalid);
        };
        let mut stored: Stored = serde_json::from_slice(&raw)
            .map_err(|_| AuthError::InvalidToken("malformed session"))?;
        let now = Utc::now().timestamp();
        let created = stored.created_us / 1_000_000;
        let absolute = self.settings.session_absolute_secs as i64;
        if now - created >= absolute {
            self.kv.delete(&key).await?;
            return Err(invalid);
        }
        let scope = TenantScope::verified(tenant_id);
        let account = match self.store.credentials(&scope, stored.user_id).await {
            Ok(a) => a,
            Err(crate::store::StoreError::NotFound(_)) => return Err(invalid),
            Err(e) => return Err(e.into()),
        };
        if account
            .sessions_revoked_at
            .is_some_and(|t| t.timestamp_micros() >= stored.created_us)
        {
            self.kv.delete(&key).await?;
            return Err(invalid);
        }
        // Slide the idle timeout, at most once every 30 s per session.
        if now - stored.last_seen >= 30 {
            stored.last_seen = now;
            let remaining = (absolute - (now - created)).max(1) as u64;
            let ttl = self.settings.session_idle_secs.min(remaining);
            let value =
                serde_json::to_vec(&stored).map_err(|e| AuthError::Internal(e.to_string()))?;
            self.kv
                .set(&key, &value, Some(std::time::Duration::from_secs(ttl)))
                .await?;
        }
        let principal = self
            .principal_for(
                &account,
                Credential::Session {
                    csrf: stored.csrf.clone(),
                },
            )
            .await?;
        Ok(Session {
            principal,
            csrf: stored.csrf,
        })
    }

    /// Ends the session a cookie names (sign out); unknown cookies are ignored.
    pub async fn close_session(&self, cookie: &str) -> Result<(), AuthError> {
        if let Some((tenant_id, secret)) = parse(cookie) {
            self.kv.delete(&kv_key(tenant_id, secret)).await?;
        }
        Ok(())
    }
}
