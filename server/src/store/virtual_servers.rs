//! Virtual servers of one tenant: named bundles of name patterns (migration 0011).

use app::api::{VirtualServer, VirtualServerInput};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use tracing::instrument;
use uuid::Uuid;

use super::{Db, Store, StoreError, Wall, walled};
use crate::tenancy::TenantScope;

#[derive(Clone, Debug, sqlx::FromRow)]
struct VirtualServerRow {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    description: String,
    tools: Json<Vec<String>>,
    prompts: Json<Vec<String>>,
    resources: Json<Vec<String>>,
    bare_names: bool,
    enabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<VirtualServerRow> for VirtualServer {
    fn from(r: VirtualServerRow) -> Self {
        VirtualServer {
            id: r.id,
            tenant_id: r.tenant_id,
            name: r.name,
            description: r.description,
            tools: r.tools.0,
            prompts: r.prompts.0,
            resources: r.resources.0,
            bare_names: r.bare_names,
            enabled: r.enabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

macro_rules! columns {
    () => {
        "id, tenant_id, name, description, tools, prompts, resources, bare_names, enabled, \
         created_at, updated_at"
    };
}

impl Store {
    #[instrument(skip_all)]
    pub async fn list_virtual_servers(
        &self,
        scope: &TenantScope,
    ) -> Result<Vec<VirtualServer>, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM virtual_servers WHERE tenant_id = $1 ORDER BY name"
        );
        let rows: Vec<VirtualServerRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    #[instrument(skip_all)]
    pub async fn get_virtual_server(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<VirtualServer, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM virtual_servers WHERE tenant_id = $1 AND id = $2"
        );
        let row: Option<VirtualServerRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).bind(id).fetch_optional(pool).await?
        });
        row.map(Into::into)
            .ok_or(StoreError::NotFound("virtual server"))
    }

    /// Creates one; a name already used in the tenant is a conflict on `name`.
    #[instrument(skip_all)]
    pub async fn create_virtual_server(
        &self,
        scope: &TenantScope,
        input: &VirtualServerInput,
    ) -> Result<VirtualServer, StoreError> {
        let sql = concat!(
            "INSERT INTO virtual_servers (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING ",
            columns!()
        );
        let row: VirtualServerRow = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql)
                .bind(Uuid::now_v7()).bind(scope.tenant_id()).bind(&input.name).bind(&input.description)
                .bind(Json(&input.tools)).bind(Json(&input.prompts)).bind(Json(&input.resources))
                .bind(input.bare_names).bind(input.enabled).bind(Utc::now())
                .fetch_one(pool).await?
        });
        Ok(row.into())
    }

    /// Replaces everything but the id and creation time.
    #[instrument(skip_all)]
    pub async fn replace_virtual_server(
        &self,
        scope: &TenantScope,
        id: Uuid,
        input: &VirtualServerInput,
    ) -> Result<VirtualServer, StoreError> {
        let sql = concat!(
            "UPDATE virtual_servers SET name = $3, description = $4, tools = $5, prompts = $6, \
             resources = $7, bare_names = $8, enabled = $9, updated_at = $10 \
             WHERE tenant_id = $1 AND id = $2 RETURNING ",
            columns!()
        );
        let row: Option<VirtualServerRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql)
                .bind(scope.tenant_id()).bind(id).bind(&input.name).bind(&input.description)
                .bind(Json(&input.tools)).bind(Json(&input.prompts)).bind(Json(&input.resources))
                .bind(input.bare_names).bind(input.enabled).bind(Utc::now())
                .fetch_optional(pool).await?
        });
        row.map(Into::into)
            .ok_or(StoreError::NotFound("virtual server"))
    }

    #[instrument(skip_all)]
    pub async fn delete_virtual_server(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<(), StoreError> {
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query("DELETE FROM virtual_servers WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id()).bind(id).execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("virtual server"));
        }
        Ok(())
    }
}
