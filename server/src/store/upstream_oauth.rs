//! What the gateway was granted by each OAuth-protected upstream: one row per upstream, its
//! secrets only as the vault's sealed blob, beside the non-secret facts the console shows.

use chrono::{DateTime, Utc};
use tracing::instrument;
use uuid::Uuid;

use super::{Db, Store, StoreError, Wall, walled};
use crate::tenancy::TenantScope;

#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct UpstreamOAuthRow {
    pub sealed: Option<Vec<u8>>,
    pub scope: Option<String>,
    pub required_scope: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub refreshable: bool,
    pub authorized_by: Option<Uuid>,
    pub authorized_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl Store {
    /// The upstream's grant, if any was ever recorded.
    #[instrument(skip_all)]
    pub async fn get_upstream_oauth(
        &self,
        scope: &TenantScope,
        upstream: Uuid,
    ) -> Result<Option<UpstreamOAuthRow>, StoreError> {
        let sql = "SELECT sealed, scope, required_scope, expires_at, refreshable, authorized_by, \
                   authorized_at, last_error FROM upstream_oauth WHERE tenant_id = $1 AND upstream_id = $2";
        Ok(walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).bind(upstream).fetch_optional(pool).await?
        }))
    }

    /// Writes the whole row (one statement: the sealed blob and the facts beside it never
    /// disagree).
    #[instrument(skip_all)]
    pub async fn put_upstream_oauth(
        &self,
        scope: &TenantScope,
        upstream: Uuid,
        row: &UpstreamOAuthRow,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO upstream_oauth (upstream_id, tenant_id, sealed, scope, required_scope, \
                   expires_at, refreshable, authorized_by, authorized_at, last_error, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                   ON CONFLICT (upstream_id) DO UPDATE SET sealed = excluded.sealed, scope = excluded.scope, \
                   required_scope = excluded.required_scope, expires_at = excluded.expires_at, \
                   refreshable = excluded.refreshable, authorized_by = excluded.authorized_by, \
                   authorized_at = excluded.authorized_at, last_error = excluded.last_error, \
                   updated_at = excluded.updated_at";
        walled!(self, Wall::of(scope), pool => {
            sqlx::query(sql)
                .bind(upstream).bind(scope.tenant_id()).bind(&row.sealed).bind(&row.scope)
                .bind(&row.required_scope).bind(row.expires_at).bind(row.refreshable)
                .bind(row.authorized_by).bind(row.authorized_at).bind(&row.last_error).bind(Utc::now())
                .execute(pool).await?.rows_affected()
        });
        Ok(())
    }
}
