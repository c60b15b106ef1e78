//! Token-signing keys (platform-wide) and refresh-token families (per tenant and user).

use chrono::{DateTime, Utc};
use tracing::instrument;
use uuid::Uuid;

use super::{Db, Store, StoreError, Wall, on_pool, walled, walled_tx};
use crate::tenancy::TenantScope;

/// A signing key as stored; `private_enc` is sealed by the vault.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub public_jwk: String,
    pub private_enc: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A refresh token as stored (the token itself only as a hash).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefreshRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub family_expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The OAuth client and resource of a family issued through `/oauth/{tenant}`; `None`
    /// for the API's own sign-ins.
    pub client_id: Option<String>,
    pub audience: Option<String>,
}

/// A refresh token to store.
pub struct NewRefresh<'a> {
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub token_hash: &'a [u8],
    pub expires_at: DateTime<Utc>,
    pub family_expires_at: DateTime<Utc>,
    pub client_id: Option<&'a str>,
    pub audience: Option<&'a str>,
}

impl Store {
    /// Keys that still verify: not expired.
    #[instrument(skip_all)]
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRow>, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query_as("SELECT kid, alg, public_jwk, private_enc, created_at, retired_at, expires_at FROM signing_keys \
                            WHERE expires_at IS NULL OR expires_at > $1 ORDER BY created_at")
                .bind(Utc::now()).fetch_all(pool).await?
        }))
    }

    /// Adds `key` as the signing key and retires the others: they verify until `old_expire`.
    #[instrument(skip_all)]
    pub async fn rotate_signing_key(
        &self,
        key: &SigningKeyRow,
        old_expire: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE signing_keys SET retired_at = $1, expires_at = $2 WHERE retired_at IS NULL")
                .bind(key.created_at).bind(old_expire).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO signing_keys (kid, alg, public_jwk, private_enc, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&key.kid).bind(&key.alg).bind(&key.public_jwk).bind(&key.private_enc).bind(key.created_at)
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn insert_refresh(
        &self,
        scope: &TenantScope,
        new: &NewRefresh<'_>,
    ) -> Result<(), StoreError> {
        walled!(self, Wall::of(scope), pool => {
            sqlx::query("INSERT INTO refresh_tokens (id, tenant_id, user_id, family_id, token_hash, created_at, expires_at, family_expires_at, client_id, audience) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
                .bind(Uuid::now_v7()).bind(scope.tenant_id()).bind(new.user_id).bind(new.family_id)
                .bind(new.token_hash).bind(Utc::now()).bind(new.expires_at).bind(new.family_expires_at)
                .bind(new.client_id).bind(new.audience)
                .execute(pool).await?;
        });
        Ok(())
    }

    /// Behind the platform wall: the token names no tenant until it is found.
    #[instrument(skip_all)]
    pub async fn refresh_by_hash(&self, hash: &[u8]) -> Result<Option<RefreshRow>, StoreError> {
        Ok(walled!(self, Wall::Platform, pool => {
            sqlx::query_as("SELECT id, tenant_id, user_id, family_id, expires_at, family_expires_at, used_at, revoked_at, client_id, audience \
                            FROM refresh_tokens WHERE token_hash = $1")
                .bind(hash).fetch_optional(pool).await?
        }))
    }

    /// Marks the token used if nobody did first: of two concurrent uses exactly one wins, and
    /// the other is treated as reuse.
    #[instrument(skip_all)]
    pub async fn claim_refresh(&self, tenant_id: Uuid, id: Uuid) -> Result<bool, StoreError> {
        let done = walled!(self, Wall::Tenant(tenant_id), pool => {
            sqlx::query("UPDATE refresh_tokens SET used_at = $3 WHERE tenant_id = $1 AND id = $2 AND used_at IS NULL AND revoked_at IS NULL")
                .bind(tenant_id).bind(id).bind(Utc::now()).execute(pool).await?.rows_affected()
        });
        Ok(done == 1)
    }

    /// Revokes every token of a family; returns how many were still live.
    #[instrument(skip_all)]
    pub async fn revoke_family(&self, tenant_id: Uuid, family_id: Uuid) -> Result<u64, StoreError> {
        Ok(walled!(self, Wall::Tenant(tenant_id), pool => {
            sqlx::query("UPDATE refresh_tokens SET revoked_at = $3 WHERE tenant_id = $1 AND family_id = $2 AND revoked_at IS NULL")
                .bind(tenant_id).bind(family_id).bind(Utc::now()).execute(pool).await?.rows_affected()
        }))
    }

    /// Revokes every refresh family of a user; returns the families touched.
    #[instrument(skip_all)]
    pub async fn revoke_user_families(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
    ) -> Result<Vec<Uuid>, StoreError> {
        let families: Vec<(Uuid,)> = walled_tx!(self, Wall::of(scope), tx => {
            let families = sqlx::query_as("SELECT DISTINCT family_id FROM refresh_tokens WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL")
                .bind(scope.tenant_id()).bind(user_id).fetch_all(&mut *tx).await?;
            sqlx::query("UPDATE refresh_tokens SET revoked_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL")
                .bind(scope.tenant_id()).bind(user_id).bind(Utc::now()).execute(&mut *tx).await?;
            families
        });
        Ok(families.into_iter().map(|(f,)| f).collect())
    }

    /// Revokes the families a user's consent to one client produced; returns them.
    #[instrument(skip_all)]
    pub async fn revoke_client_families(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
        client_id: &str,
    ) -> Result<Vec<Uuid>, StoreError> {
        let families: Vec<(Uuid,)> = walled_tx!(self, Wall::of(scope), tx => {
            let families = sqlx::query_as("SELECT DISTINCT family_id FROM refresh_tokens WHERE tenant_id = $1 AND user_id = $2 AND client_id = $3 AND revoked_at IS NULL")
                .bind(scope.tenant_id()).bind(user_id).bind(client_id).fetch_all(&mut *tx).await?;
            sqlx::query("UPDATE refresh_tokens SET revoked_at = $4 WHERE tenant_id = $1 AND user_id = $2 AND client_id = $3 AND revoked_at IS NULL")
                .bind(scope.tenant_id()).bind(user_id).bind(client_id).bind(Utc::now()).execute(&mut *tx).await?;
            families
        });
        Ok(families.into_iter().map(|(f,)| f).collect())
    }
}
