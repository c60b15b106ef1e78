//! API keys (personal access tokens): stored as a public prefix and the SHA-256 of the secret.

use chrono::{DateTime, Utc};
use tracing::instrument;
use uuid::Uuid;

use super::{Db, Store, StoreError, Wall, walled};
use crate::tenancy::TenantScope;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    pub scopes: sqlx::types::Json<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub struct NewApiKey<'a> {
    pub user_id: Uuid,
    pub name: &'a str,
    pub prefix: &'a str,
    pub key_hash: &'a str,
    pub scopes: &'a [String],
    pub expires_at: Option<DateTime<Utc>>,
}

macro_rules! key_columns {
    () => {
        "id, tenant_id, user_id, name, prefix, key_hash, scopes, expires_at, last_used_at, revoked_at, created_at"
    };
}

impl Store {
    #[instrument(skip_all)]
    pub async fn create_api_key(
        &self,
        scope: &TenantScope,
        new: &NewApiKey<'_>,
    ) -> Result<ApiKeyRow, StoreError> {
        let sql = concat!(
            "INSERT INTO api_keys (id, tenant_id, user_id, name, prefix, key_hash, scopes, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
            key_columns!()
        );
        Ok(walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql)
                .bind(Uuid::now_v7()).bind(scope.tenant_id()).bind(new.user_id).bind(new.name)
                .bind(new.prefix).bind(new.key_hash).bind(sqlx::types::Json(new.scopes))
                .bind(new.expires_at).bind(Utc::now())
                .fetch_one(pool).await?
        }))
    }

    /// The key with this public prefix, in any tenant (the prefix is globally unique). Behind
    /// the platform wall: the key names no tenant until it is found.
    #[instrument(skip_all)]
    pub async fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let sql = concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys WHERE prefix = $1"
        );
        Ok(walled!(self, Wall::Platform, pool => {
            sqlx::query_as(sql).bind(prefix).fetch_optional(pool).await?
        }))
    }

    #[instrument(skip_all)]
    pub async fn list_api_keys(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
    ) -> Result<Vec<ApiKeyRow>, StoreError> {
        let sql = concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys WHERE tenant_id = $1 AND user_id = $2 ORDER BY id"
        );
        Ok(walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).bind(user_id).fetch_all(pool).await?
        }))
    }

    #[instrument(skip_all)]
    pub async fn revoke_api_key(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<(), StoreError> {
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $4) WHERE tenant_id = $1 AND user_id = $2 AND id = $3")
                .bind(scope.tenant_id()).bind(user_id).bind(id).bind(Utc::now())
                .execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("API key"));
        }
        Ok(())
    }

    /// Records use at most once a minute per key, so busy keys do not write on every call.
    #[instrument(skip_all)]
    pub async fn touch_api_key(&self, tenant_id: Uuid, id: Uuid) -> Result<(), StoreError> {
        let now = Utc::now();
        walled!(self, Wall::Tenant(tenant_id), pool => {
            sqlx::query("UPDATE api_keys SET last_used_at = $3 WHERE tenant_id = $1 AND id = $2 AND (last_used_at IS NULL OR last_used_at < $4)")
                .bind(tenant_id).bind(id).bind(now).bind(now - chrono::Duration::seconds(60))
                .execute(pool).await?;
        });
        Ok(())
    }
}
