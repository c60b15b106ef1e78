//! What sign-in reads and writes about an account: its password hash, lock state and MFA
//! state. Kept apart from `users.rs` so these columns never reach the public `User` type.

use chrono::{DateTime, Utc};
use tracing::instrument;
use uuid::Uuid;

use super::{Db, Store, StoreError, Wall, on_pool, walled, walled_tx};
use crate::tenancy::TenantScope;

/// An account as sign-in sees it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Credentials {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub platform_admin: bool,
    pub failed_logins: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub sessions_revoked_at: Option<DateTime<Utc>>,
    pub totp_enabled: bool,
    pub totp_secret_enc: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
}

macro_rules! credential_columns {
    () => {
        "u.tenant_id, u.id AS user_id, u.email, u.password_hash, u.disabled, u.platform_admin, \
         u.failed_logins, u.locked_until, u.sessions_revoked_at, u.totp_enabled, \
         u.totp_secret_enc, u.totp_last_step"
    };
}

impl Store {
    /// The account `email` (any case) in the tenant with `slug`, if both exist. Also returns
    /// the tenant id when only the tenant exists, so a failed attempt can be audited there.
    #[instrument(skip_all)]
    pub async fn credentials_by_email(
        &self,
        tenant_slug: &str,
        email: &str,
    ) -> Result<(Option<Uuid>, Option<Credentials>), StoreError> {
        let tenant: Option<(Uuid,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM tenants WHERE slug = $1")
                .bind(tenant_slug).fetch_optional(pool).await?
        });
        let Some((tenant_id,)) = tenant else {
            return Ok((None, None));
        };
        let sql = concat!(
            "SELECT ",
            credential_columns!(),
            " FROM users u WHERE u.tenant_id = $1 AND u.email_lower = $2"
        );
        let found: Option<Credentials> = walled!(self, Wall::Tenant(tenant_id), pool => {
            sqlx::query_as(sql).bind(tenant_id).bind(email.to_lowercase()).fetch_optional(pool).await?
        });
        Ok((Some(tenant_id), found))
    }

    #[instrument(skip_all)]
    pub async fn credentials(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
    ) -> Result<Credentials, StoreError> {
        let sql = concat!(
            "SELECT ",
            credential_columns!(),
            " FROM users u WHERE u.tenant_id = $1 AND u.id = $2"
        );
        let found: Option<Credentials> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).bind(user_id).fetch_optional(pool).await?
        });
        found.ok_or(StoreError::NotFound("user"))
    }

    /// Counts a failed sign-in and sets the lock the caller computed from the new count.
    /// The increment happens in the database, so concurrent failures all count.
    #[instrument(skip_all)]
    pub async fn record_login_failure(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
        lock_after: i32,
        lock_for: impl Fn(i32) -> Option<chrono::Duration>,
    ) -> Result<(i32, Option<DateTime<Utc>>), StoreError> {
        let (count,): (i32,) = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as("UPDATE users SET failed_logins = failed_logins + 1 WHERE tenant_id = $1 AND id = $2 RETURNING failed_logins")
                .bind(scope.tenant_id()).bind(user_id).fetch_one(pool).await?
        });
        if count < lock_after {
            return Ok((count, None));
        }
        let until = lock_for(count).map(|d| Utc::now() + d);
        walled!(self, Wall::of(scope), pool => {
            sqlx::query("UPDATE users SET locked_until = $3 WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id()).bind(user_id).bind(until).execute(pool).await?;
        });
        Ok((count, until))
    }

    /// A successful sign-in (or an administrator's unlock) clears the failure count and lock.
    #[instrument(skip_all)]
    pub async fn clear_login_failures(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
    ) -> Result<(), StoreError> {
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id()).bind(user_id).execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(())
    }

    /// Replaces the password hash; `revoke_sessions` also voids every console session.
    #[instrument(skip_all)]
    pub async fn set_password_hash(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
        hash: &str,
        revoke_sessions: bool,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query("UPDATE users SET password_hash = $3, password_changed_at = $4, failed_logins = 0, locked_until = NULL, \
                         sessions_revoked_at = CASE WHEN $5 THEN $4 ELSE sessions_revoked_at END, updated_at = $4 \
                         WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id()).bind(user_id).bind(hash).bind(now).bind(revoke_sessions)
                .execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(())
    }

    /// Voids every console session of the user made before now ("sign out everywhere").
    #[instrument(skip_all)]
    pub async fn revoke_sessions(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
    ) -> Result<DateTime<Utc>, StoreError> {
        let now = Utc::now();
        walled!(self, Wall::of(scope), pool => {
            sqlx::query("UPDATE users SET sessions_revoked_at = $3 WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id()).bind(user_id).bind(now).execute(pool).await?;
        });
        Ok(now)
    }

    /// Stores (or clears) the sealed TOTP secret and whether sign-in requires it.
    #[instrument(skip_all)]
    pub async fn set_totp(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
        sealed: Option<&[u8]>,
        enabled: bool,
    ) -> Result<(), StoreError> {
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query("UPDATE users SET totp_secret_enc = $3, totp_enabled = $4, totp_last_step = NULL WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id()).bind(user_id).bind(sealed).bind(enabled)
                .execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(())
    }

    /// Turns TOTP on and replaces the recovery codes, in one transaction.
    #[instrument(skip_all)]
    pub async fn enable_totp(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
        recovery_hashes: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        walled_tx!(self, Wall::of(scope), tx => {
            sqlx::query("UPDATE users SET totp_enabled = TRUE WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id()).bind(user_id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2")
                .bind(scope.tenant_id()).bind(user_id).execute(&mut *tx).await?;
            for hash in recovery_hashes {
                sqlx::query("INSERT INTO recovery_codes (id, tenant_id, user_id, code_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(Uuid::now_v7()).bind(scope.tenant_id()).bind(user_id).bind(hash).bind(now)
                    .execute(&mut *tx).await?;
            }
        });
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn delete_recovery_codes(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
    ) -> Result<(), StoreError> {
        walled!(self, Wall::of(scope), pool => {
            sqlx::query("DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2")
                .bind(scope.tenant_id()).bind(user_id).execute(pool).await?;
        });
        Ok(())
    }

    /// Spends an unused recovery code; false if there is none with this hash.
    #[instrument(skip_all)]
    pub async fn use_recovery_code(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
        hash: &[u8],
    ) -> Result<bool, StoreError> {
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query("UPDATE recovery_codes SET used_at = $4 WHERE tenant_id = $1 AND user_id = $2 AND code_hash = $3 AND used_at IS NULL")
                .bind(scope.tenant_id()).bind(user_id).bind(hash).bind(Utc::now())
                .execute(pool).await?.rows_affected()
        });
        Ok(done > 0)
    }

    /// Records `step` as the last accepted TOTP step if it is newer; false means the code's
    /// step was already used (a replay).
    #[instrument(skip_all)]
    pub async fn advance_totp_step(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
        step: i64,
    ) -> Result<bool, StoreError> {
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query("UPDATE users SET totp_last_step = $3 WHERE tenant_id = $1 AND id = $2 AND (totp_last_step IS NULL OR totp_last_step < $3)")
                .bind(scope.tenant_id()).bind(user_id).bind(step)
                .execute(pool).await?.rows_affected()
        });
        Ok(done > 0)
    }
}
