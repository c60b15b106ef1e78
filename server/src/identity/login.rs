//! Password sign-in with a second factor, throttling and lockout. Every attempt is audited
//! in the tenant's trail (success, failure, or denied with the rule that denied it).
//!
//! Two walls against guessing: a per-account rate (`auth.login_attempts_per_minute`, the
//! same answer whether the account exists or not), and a lock after
//! `auth.lockout_after_failures` consecutive failures that doubles with each further failure.

use chrono::Utc;
use serde_json::json;

use super::{AuthError, Credential, Identity, Principal, hash_password, verify_password};
use crate::audit::{self, Origin, Outcome};
use crate::config::Secret;
use crate::kv::RateLimit;
use crate::store::Credentials;
use crate::tenancy::TenantScope;

/// A sign-in attempt.
pub struct Login<'a> {
    pub tenant: &'a str,
    pub email: &'a str,
    pub password: Secret,
    /// A TOTP code or a recovery code, when the account has MFA.
    pub mfa_code: Option<&'a str>,
}

/// A successful sign-in.
pub struct SignedIn {
    pub principal: Principal,
    /// Whether a second factor was checked.
    pub mfa: bool,
}

/// The lock after `failures` consecutive failures: one minute at the threshold, doubling per
/// further failure, at most an hour.
fn lock_for(threshold: i32, failures: i32) -> Option<chrono::Duration> {
    let doublings = (failures - threshold).clamp(0, 6) as u32;
    Some(chrono::Duration::seconds((60i64 << doublings).min(3600)))
}

impl Identity {
    /// Checks a sign-in attempt; on success returns the principal (with a placeholder
    /// credential the caller replaces: a token family or a session).
    pub async fn sign_in(&self, login: Login<'_>, origin: &Origin) -> Result<SignedIn, AuthError> {
        let email = login.email.trim().to_lowercase();
        let (tenant_id, account) = self
            .store
            .credentials_by_email(login.tenant.trim(), &email)
            .await?;
        let attempt = |outcome| origin.event("anonymous", "auth.login", outcome);
        // One client trying many accounts (or tenants that do not exist): ten accounts' worth
        // of attempts a minute per address, checked before any password hashing.
        let per_account = self.settings.login_attempts_per_minute.max(1);
        let mut buckets = vec![(
            format!(
                "login-ip:{}",
                origin.client_addr.as_deref().unwrap_or("in-process")
            ),
            RateLimit::per_minute(per_account.saturating_mul(10)),
            "login-throttle-address",
        )];
        if let Some(tenant_id) = tenant_id {
            buckets.push((
                format!("t:{tenant_id}:login:{email}"),
                RateLimit::per_minute(per_account),
                "login-throttle",
            ));
        }
        for (key, rate, rule) in buckets {
            let decision = self.kv.rate_limit(&key, &rate).await?;
            if !decision.allowed {
                let retry = decision.retry_after.as_secs().max(1);
                if let Some(tenant_id) = tenant_id {
                    let event = attempt(Outcome::Denied)
                        .target(format!("email:{email}"))
                        .rule(rule)
                        .detail(json!({ "retry_after_secs": retry }));
                    audit::record(&self.store, tenant_id, event).await?;
                }
                return Err(AuthError::Throttled(retry));
            }
        }
        let Some(tenant_id) = tenant_id else {
            self.burn_time(&login.password).await?;
            return Err(AuthError::InvalidCredentials);
        };
        let scope = TenantScope::verified(tenant_id);

        let Some(account) = account else {
            self.burn_time(&login.password).await?;
            let event = attempt(Outcome::Failure)
                .target(format!("email:{email}"))
                .detail(json!({ "reason": "unknown account" }));
            audit::record(&self.store, tenant_id, event).await?;
            return Err(AuthError::InvalidCredentials);
        };
        let target = format!("user:{}", account.user_id);
        let attempt = |outcome| {
            origin
                .event(format!("user:{}", account.user_id), "auth.login", outcome)
                .target(target.clone())
        };

        if let Some(until) = account.locked_until.filter(|u| *u > Utc::now()) {
            let retry = (until - Utc::now()).num_seconds().max(1) as u64;
            let event = attempt(Outcome::Denied)
                .rule("account-locked")
                .detail(json!({ "locked_until": until }));
            audit::record(&self.store, tenant_id, event).await?;
            return Err(AuthError::Locked(retry));
        }

        let password_ok = match account.password_hash.clone() {
            Some(phc) => self.verify(login.password.clone(), phc).await?,
            None => {
                self.burn_time(&login.password).await?;
                false
            }
        };
        if !password_ok {
            let (failures, locked_until) = self.count_failure(&scope, account.user_id).await?;
            let event = attempt(Outcome::Failure).detail(json!({
                "reason": "wrong password",
                "consecutive_failures": failures,
                "locked_until": locked_until,
            }));
            audit::record(&self.store, tenant_id, event).await?;
            return Err(AuthError::InvalidCredentials);
        }
        if account.disabled {
            let event = attempt(Outcome::Denied).rule("account-disabled");
            audit::record(&self.store, tenant_id, event).await?;
            return Err(AuthError::Disabled);
        }

        let mfa = account.totp_enabled;
        if mfa && let Err(e) = self.check_second_factor(&account, login.mfa_code).await {
            if matches!(e, AuthError::InvalidMfaCode) {
                self.count_failure(&scope, account.user_id).await?;
            }
            let (outcome, reason) = match e {
                AuthError::MfaRequired => (Outcome::Denied, "second factor required"),
                _ => (Outcome::Failure, "wrong or reused second factor"),
            };
            let event = attempt(outcome)
                .rule("mfa")
                .detail(json!({ "reason": reason }));
            audit::record(&self.store, tenant_id, event).await?;
            return Err(e);
        }

        self.store
            .clear_login_failures(&scope, account.user_id)
            .await?;
        let principal = self
            .principal_for(
                &account,
                Credential::Session {
                    csrf: String::new(),
                },
            )
            .await?;
        let event = attempt(Outcome::Success).detail(json!({ "mfa": mfa }));
        audit::record(&self.store, tenant_id, event).await?;
        Ok(SignedIn { principal, mfa })
    }

    /// Counts a failed sign-in, locking the account once the threshold is reached.
    async fn count_failure(
        &self,
        scope: &TenantScope,
        user_id: uuid::Uuid,
    ) -> Result<(i32, Option<chrono::DateTime<Utc>>), AuthError> {
        let threshold = self.settings.lockout_after_failures.max(1) as i32;
        Ok(self
            .store
            .record_login_failure(scope, user_id, threshold, |n| lock_for(threshold, n))
            .await?)
    }

    /// argon2id verification, at most as many at once as there are cores: a flood of
    /// sign-ins queues here instead of occupying every blocking thread.
    async fn verify(&self, password: Secret, phc: String) -> Result<bool, AuthError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok(verify_password(password, phc).await?)
    }

    pub(super) async fn hash(&self, password: Secret) -> Result<String, AuthError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok(hash_password(password).await?)
    }

    /// Verifies a password against a throwaway hash, so an unknown account costs the same
    /// time as a known one (no account enumeration by timing).
    async fn burn_time(&self, password: &Secret) -> Result<(), AuthError> {
        let phc = self
            .dummy_hash
            .get_or_try_init(|| self.hash(Secret::new(super::random_token(16))))
            .await?
            .clone();
        self.verify(password.clone(), phc).await?;
        Ok(())
    }

    /// Changes the caller's own password after checking the current one; other console
    /// sessions and every refresh family end.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: Secret,
        new: Secret,
        origin: &Origin,
    ) -> Result<(), AuthError> {
        let scope = TenantScope::verified(principal.tenant_id);
        let account: Credentials = self.store.credentials(&scope, principal.user_id).await?;
        let ok = match account.password_hash {
            Some(phc) => self.verify(current, phc).await?,
            None => false,
        };
        if !ok {
            let event = origin
                .event(principal.actor(), "auth.password.change", Outcome::Failure)
                .target(principal.actor())
                .detail(json!({ "reason": "current password wrong" }));
            audit::record(&self.store, principal.tenant_id, event).await?;
            return Err(AuthError::InvalidCredentials);
        }
        self.check_password_policy(new.expose())
            .map_err(AuthError::Refused)?;
        let hash = self.hash(new).await?;
        self.store
            .set_password_hash(&scope, principal.user_id, &hash, true)
            .await?;
        self.end_all_families(&scope, principal.user_id).await?;
        let event = origin
            .event(principal.actor(), "auth.password.change", Outcome::Success)
            .target(principal.actor());
        audit::record(&self.store, principal.tenant_id, event).await?;
        Ok(())
    }

    /// An administrator sets a user's password (and unlocks the account); the user's sessions
    /// and sign-ins end.
    pub async fn reset_password(
        &self,
        admin: &Principal,
        scope: &TenantScope,
        user_id: uuid::Uuid,
        new: Secret,
        origin: &Origin,
    ) -> Result<(), AuthError> {
        self.check_password_policy(new.expose())
            .map_err(AuthError::Refused)?;
        let hash = self.hash(new).await?;
        self.store
            .set_password_hash(scope, user_id, &hash, true)
            .await?;
        self.end_all_families(scope, user_id).await?;
        let event = origin
            .event(admin.actor(), "auth.password.reset", Outcome::Success)
            .target(format!("user:{user_id}"));
        audit::record(&self.store, scope.tenant_id(), event).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::lock_for;

    #[test]
    fn locks_double_up_to_an_hour() {
        let secs = |n| lock_for(10, n).unwrap().num_seconds();
        assert_eq!(secs(10), 60);
        assert_eq!(secs(11), 120);
        assert_eq!(secs(13), 480);
        assert_eq!(secs(20), 3600);
    }
}
