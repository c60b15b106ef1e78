//! Tenants: the one table that is not itself tenant-scoped.

use app::api::{NewTenant, Tenant, TenantPatch};
use chrono::{DateTime, Utc};
use tracing::instrument;
use uuid::Uuid;

use super::{Db, Store, StoreError, like_pattern, on_pool, paginate};
use crate::tenancy::TenantScope;

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: Uuid,
    slug: String,
    name: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct VersionedRow {
    #[sqlx(flatten)]
    tenant: TenantRow,
    config_version: i64,
}

impl From<TenantRow> for Tenant {
    fn from(r: TenantRow) -> Self {
        Tenant {
            id: r.id,
            slug: r.slug,
            name: r.name,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The columns every query returns, as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, slug, name, created_at, updated_at"
    };
}

impl Store {
    /// Creates a tenant; a taken slug is a [`StoreError::Conflict`] on `slug`.
    #[instrument(skip_all)]
    pub async fn create_tenant(&self, new: &NewTenant) -> Result<Tenant, StoreError> {
        let now = Utc::now();
        let sql = concat!(
            "INSERT INTO tenants (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $4) RETURNING ",
            columns!()
        );
        let row: TenantRow = on_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(Uuid::now_v7())
                .bind(&new.slug)
                .bind(&new.name)
                .bind(now)
                .fetch_one(pool)
                .await?
        });
        self.ensure_builtin_roles(Some(row.id)).await?;
        Ok(row.into())
    }

    #[instrument(skip_all)]
    pub async fn get_tenant(&self, id: Uuid) -> Result<Tenant, StoreError> {
        let sql = concat!("SELECT ", columns!(), " FROM tenants WHERE id = $1");
        let row: Option<TenantRow> = on_pool!(self, pool => {
            sqlx::query_as(sql).bind(id).fetch_optional(pool).await?
        });
        row.map(Into::into).ok_or(StoreError::NotFound("tenant"))
    }

    /// The tenant whose slug is `slug` (the MCP endpoint's path names tenants by slug), with
    /// the version of its gateway configuration (see [`Store::tenant_config_version`]).
    #[instrument(skip_all)]
    pub async fn tenant_by_slug(&self, slug: &str) -> Result<(Tenant, i64), StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            ", config_version FROM tenants WHERE slug = $1"
        );
        let row: Option<VersionedRow> = on_pool!(self, pool => {
            sqlx::query_as(sql).bind(slug).fetch_optional(pool).await?
        });
        let row = row.ok_or(StoreError::NotFound("tenant"))?;
        Ok((row.tenant.into(), row.config_version))
    }

    /// The version of the tenant's gateway configuration: a trigger bumps it on every write
    /// to its upstreams or tool policies (migration 0010), so caches compare it, not a clock.
    #[instrument(skip_all)]
    pub async fn tenant_config_version(&self, scope: &TenantScope) -> Result<i64, StoreError> {
        let row: Option<(i64,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT config_version FROM tenants WHERE id = $1")
                .bind(scope.tenant_id())
                .fetch_optional(pool)
                .await?
        });
        row.map(|(v,)| v).ok_or(StoreError::NotFound("tenant"))
    }

    /// One page of tenants in creation order after `cursor`, optionally filtered by `q`.
    #[instrument(skip_all)]
    pub async fn list_tenants(
        &self,
        cursor: Option<Uuid>,
        q: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<Tenant>, Option<Uuid>), StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM tenants \
             WHERE ($1 IS NULL OR id > $1) \
               AND ($2 IS NULL OR lower(slug) LIKE $2 ESCAPE '\\' OR lower(name) LIKE $2 ESCAPE '\\') \
             ORDER BY id LIMIT $3"
        );
        let rows: Vec<TenantRow> = on_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(cursor)
                .bind(like_pattern(q))
                .bind(i64::from(limit) + 1)
                .fetch_all(pool)
                .await?
        });
        let (rows, next) = paginate(rows, limit, |r| r.id);
        Ok((rows.into_iter().map(Into::into).collect(), next))
    }

    /// Applies the fields present in `patch` in one statement.
    #[instrument(skip_all)]
    pub async fn update_tenant(&self, id: Uuid, patch: &TenantPatch) -> Result<Tenant, StoreError> {
        let sql = concat!(
            "UPDATE tenants SET slug = COALESCE($2, slug), name = COALESCE($3, name), updated_at = $4 \
             WHERE id = $1 RETURNING ",
            columns!()
        );
        let row: Option<TenantRow> = on_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(id)
                .bind(patch.slug.as_deref())
                .bind(patch.name.as_deref())
                .bind(Utc::now())
                .fetch_optional(pool)
                .await?
        });
        row.map(Into::into).ok_or(StoreError::NotFound("tenant"))
    }

    /// Deletes a tenant and, by cascade, everything it owns.
    #[instrument(skip_all)]
    pub async fn delete_tenant(&self, id: Uuid) -> Result<(), StoreError> {
        let done = on_pool!(self, pool => {
            sqlx::query("DELETE FROM tenants WHERE id = $1").bind(id).execute(pool).await?.rows_affected()
        });
        if done == 0 {
            Err(StoreError::NotFound("tenant"))
        } else {
            Ok(())
        }
    }

    /// Whether any tenant exists (the first-run check).
    #[instrument(skip_all)]
    pub async fn has_tenants(&self) -> Result<bool, StoreError> {
        let found: Option<(Uuid,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM tenants LIMIT 1").fetch_optional(pool).await?
        });
        Ok(found.is_some())
    }

    /// The tenant's own rate limits (`None`: the platform default).
    #[instrument(skip_all)]
    pub async fn tenant_limits(&self, id: Uuid) -> Result<(Option<u32>, Option<u32>), StoreError> {
        let row: Option<(Option<i32>, Option<i32>)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT rate_limit_tenant, rate_limit_principal FROM tenants WHERE id = $1")
                .bind(id).fetch_optional(pool).await?
        });
        let (tenant, principal) = row.ok_or(StoreError::NotFound("tenant"))?;
        let positive = |n: Option<i32>| n.map(|n| n.max(0) as u32);
        Ok((positive(tenant), positive(principal)))
    }

    #[instrument(skip_all)]
    pub async fn set_tenant_limits(
        &self,
        id: Uuid,
        tenant: Option<u32>,
        principal: Option<u32>,
    ) -> Result<(), StoreError> {
        let as_i32 = |n: Option<u32>| n.map(|n| n.min(i32::MAX as u32) as i32);
        let done = on_pool!(self, pool => {
            sqlx::query("UPDATE tenants SET rate_limit_tenant = $2, rate_limit_principal = $3, updated_at = $4 WHERE id = $1")
                .bind(id).bind(as_i32(tenant)).bind(as_i32(principal)).bind(Utc::now())
                .execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("tenant"));
        }
        Ok(())
    }

    /// Whether the tenant keeps gateway arguments in its audit trail (migration 0012).
    #[instrument(skip_all)]
    pub async fn store_arguments(&self, scope: &TenantScope) -> Result<bool, StoreError> {
        let row: Option<(bool,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT store_arguments FROM tenants WHERE id = $1")
                .bind(scope.tenant_id()).fetch_optional(pool).await?
        });
        row.map(|(on,)| on).ok_or(StoreError::NotFound("tenant"))
    }

    /// Sets it, moving the configuration version so every replica's cache reloads.
    #[instrument(skip_all)]
    pub async fn set_store_arguments(
        &self,
        scope: &TenantScope,
        on: bool,
    ) -> Result<(), StoreError> {
        let done = on_pool!(self, pool => {
            sqlx::query("UPDATE tenants SET store_arguments = $2, config_version = config_version + 1, updated_at = $3 WHERE id = $1")
                .bind(scope.tenant_id()).bind(on).bind(Utc::now())
                .execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("tenant"));
        }
        Ok(())
    }
}
