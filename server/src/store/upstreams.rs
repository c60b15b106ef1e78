//! The upstream registry's rows. The connection is stored as JSON; credentials only as the
//! vault's sealed blob, with their names beside it for display.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use tracing::instrument;
use uuid::Uuid;

use super::policies::PolicyRecord;
use super::{Db, Store, StoreError, Wall, walled, walled_tx};
use crate::tenancy::TenantScope;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UpstreamRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub description: String,
    pub transport: String,
    pub config: Json<serde_json::Value>,
    pub credentials_enc: Option<Vec<u8>>,
    pub secret_names: Json<Vec<String>>,
    pub call_timeout_ms: i32,
    pub enabled: bool,
    pub tags: Json<Vec<String>>,
    pub tool_filter: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a create or replace writes.
pub struct UpstreamRecord<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub description: &'a str,
    pub transport: &'a str,
    pub config: serde_json::Value,
    pub credentials_enc: Option<Vec<u8>>,
    pub secret_names: Vec<String>,
    pub call_timeout_ms: u32,
    pub enabled: bool,
    pub tags: &'a [String],
    pub tool_filter: serde_json::Value,
}

macro_rules! columns {
    () => {
        "id, tenant_id, name, description, transport, config, credentials_enc, secret_names, \
         call_timeout_ms, enabled, tags, tool_filter, created_at, updated_at"
    };
}

impl Store {
    /// Registers an upstream; a name already used in the tenant is a conflict.
    #[instrument(skip_all)]
    pub async fn create_upstream(
        &self,
        scope: &TenantScope,
        r: &UpstreamRecord<'_>,
    ) -> Result<UpstreamRow, StoreError> {
        let sql = concat!(
            "INSERT INTO upstreams (id, tenant_id, name, description, transport, config, credentials_enc, \
             secret_names, call_timeout_ms, enabled, tags, tool_filter, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING ",
            columns!()
        );
        Ok(walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql)
                .bind(r.id).bind(scope.tenant_id()).bind(r.name).bind(r.description).bind(r.transport)
                .bind(Json(&r.config)).bind(&r.credentials_enc).bind(Json(&r.secret_names))
                .bind(r.call_timeout_ms as i32).bind(r.enabled).bind(Json(r.tags)).bind(Json(&r.tool_filter)).bind(Utc::now())
                .fetch_one(pool).await?
        }))
    }

    /// Registers an upstream and a policy for its tools in one transaction: both or neither
    /// (a built-in server and the rule that lets everyone use it). Returns the policy's id.
    #[instrument(skip_all)]
    pub async fn create_upstream_with_policy(
        &self,
        scope: &TenantScope,
        r: &UpstreamRecord<'_>,
        policy: &PolicyRecord<'_>,
    ) -> Result<Uuid, StoreError> {
        let (now, policy_id) = (Utc::now(), Uuid::now_v7());
        walled_tx!(self, Wall::of(scope), tx => {
            sqlx::query("INSERT INTO upstreams (id, tenant_id, name, description, transport, config, credentials_enc, \
                         secret_names, call_timeout_ms, enabled, tags, tool_filter, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)")
                .bind(r.id).bind(scope.tenant_id()).bind(r.name).bind(r.description).bind(r.transport)
                .bind(Json(&r.config)).bind(&r.credentials_enc).bind(Json(&r.secret_names))
                .bind(r.call_timeout_ms as i32).bind(r.enabled).bind(Json(r.tags)).bind(Json(&r.tool_filter)).bind(now)
                .execute(&mut *tx).await?;
            sqlx::query("INSERT INTO tool_policies (id, tenant_id, name, effect, tool_pattern, role_id, conditions, priority, confirm, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)")
                .bind(policy_id).bind(scope.tenant_id()).bind(policy.name).bind(policy.effect).bind(policy.tool_pattern)
                .bind(policy.role_id).bind(Json(policy.conditions)).bind(policy.priority).bind(policy.confirm).bind(now)
                .execute(&mut *tx).await?;
        });
        Ok(policy_id)
    }

    #[instrument(skip_all)]
    pub async fn list_upstreams(
        &self,
        scope: &TenantScope,
    ) -> Result<Vec<UpstreamRow>, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM upstreams WHERE tenant_id = $1 ORDER BY name"
        );
        Ok(walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).fetch_all(pool).await?
        }))
    }

    #[instrument(skip_all)]
    pub async fn get_upstream(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<UpstreamRow, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM upstreams WHERE tenant_id = $1 AND id = $2"
        );
        let row: Option<UpstreamRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound("upstream"))
    }

    /// Replaces everything but the id and creation time.
    #[instrument(skip_all)]
    pub async fn replace_upstream(
        &self,
        scope: &TenantScope,
        r: &UpstreamRecord<'_>,
    ) -> Result<UpstreamRow, StoreError> {
        let sql = concat!(
            "UPDATE upstreams SET name = $3, description = $4, transport = $5, config = $6, \
             credentials_enc = $7, secret_names = $8, call_timeout_ms = $9, enabled = $10, tags = $11, \
             tool_filter = $12, updated_at = $13 WHERE tenant_id = $1 AND id = $2 RETURNING ",
            columns!()
        );
        let row: Option<UpstreamRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql)
                .bind(scope.tenant_id()).bind(r.id).bind(r.name).bind(r.description).bind(r.transport)
                .bind(Json(&r.config)).bind(&r.credentials_enc).bind(Json(&r.secret_names))
                .bind(r.call_timeout_ms as i32).bind(r.enabled).bind(Json(r.tags)).bind(Json(&r.tool_filter)).bind(Utc::now())
                .fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound("upstream"))
    }

    #[instrument(skip_all)]
    pub async fn delete_upstream(&self, scope: &TenantScope, id: Uuid) -> Result<(), StoreError> {
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query("DELETE FROM upstreams WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id()).bind(id).execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("upstream"));
        }
        Ok(())
    }
}
