//! Tool policies of one tenant. The role a rule applies to is stored by id and read back by
//! name (a renamed role keeps its rules; a deleted role takes them with it).

use chrono::{DateTime, Utc};
use tracing::instrument;
use uuid::Uuid;

use super::{Db, Store, StoreError, Wall, walled};
use crate::tenancy::TenantScope;

/// A tool policy row, with its role's name.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PolicyRow {
    pub id: Uuid,
    pub name: String,
    pub effect: String,
    pub tool_pattern: String,
    pub role: Option<String>,
    pub conditions: sqlx::types::Json<Vec<serde_json::Value>>,
    pub priority: i32,
    /// An allow rule that allows only after the user confirms the call.
    pub confirm: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A policy to write; `role_id` already resolved within the tenant.
pub struct PolicyRecord<'a> {
    pub name: &'a str,
    pub effect: &'a str,
    pub tool_pattern: &'a str,
    pub role_id: Option<Uuid>,
    pub conditions: &'a [serde_json::Value],
    pub priority: i32,
    pub confirm: bool,
}

macro_rules! policy_select {
    () => {
        "SELECT p.id, p.name, p.effect, p.tool_pattern, r.name AS role, p.conditions, p.priority, \
         p.confirm, p.created_at, p.updated_at FROM tool_policies p LEFT JOIN roles r ON r.id = p.role_id \
         WHERE p.tenant_id = $1"
    };
}

impl Store {
    /// Every rule of the tenant: deny rules first, then by priority (high first) and name,
    /// the order in which they are weighed and shown.
    #[instrument(skip_all)]
    pub async fn list_policies(&self, scope: &TenantScope) -> Result<Vec<PolicyRow>, StoreError> {
        let sql = concat!(
            policy_select!(),
            " ORDER BY CASE p.effect WHEN 'deny' THEN 0 ELSE 1 END, p.priority DESC, p.name"
        );
        Ok(walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).fetch_all(pool).await?
        }))
    }

    #[instrument(skip_all)]
    pub async fn get_policy(&self, scope: &TenantScope, id: Uuid) -> Result<PolicyRow, StoreError> {
        let sql = concat!(policy_select!(), " AND p.id = $2");
        let row: Option<PolicyRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound("policy"))
    }

    #[instrument(skip_all)]
    pub async fn create_policy(
        &self,
        scope: &TenantScope,
        new: &PolicyRecord<'_>,
    ) -> Result<PolicyRow, StoreError> {
        let (id, now) = (Uuid::now_v7(), Utc::now());
        walled!(self, Wall::of(scope), pool => {
            sqlx::query("INSERT INTO tool_policies (id, tenant_id, name, effect, tool_pattern, role_id, conditions, priority, confirm, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10, $9, $9)")
                .bind(id).bind(scope.tenant_id()).bind(new.name).bind(new.effect).bind(new.tool_pattern)
                .bind(new.role_id).bind(sqlx::types::Json(new.conditions)).bind(new.priority).bind(now).bind(new.confirm)
                .execute(pool).await?;
        });
        self.get_policy(scope, id).await
    }

    #[instrument(skip_all)]
    pub async fn replace_policy(
        &self,
        scope: &TenantScope,
        id: Uuid,
        new: &PolicyRecord<'_>,
    ) -> Result<PolicyRow, StoreError> {
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query("UPDATE tool_policies SET name = $3, effect = $4, tool_pattern = $5, role_id = $6, conditions = $7, \
                         priority = $8, updated_at = $9, confirm = $10 WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id()).bind(id).bind(new.name).bind(new.effect).bind(new.tool_pattern)
                .bind(new.role_id).bind(sqlx::types::Json(new.conditions)).bind(new.priority).bind(Utc::now()).bind(new.confirm)
                .execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("policy"));
        }
        self.get_policy(scope, id).await
    }

    #[instrument(skip_all)]
    pub async fn delete_policy(&self, scope: &TenantScope, id: Uuid) -> Result<(), StoreError> {
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query("DELETE FROM tool_policies WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id()).bind(id).execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("policy"));
        }
        Ok(())
    }
}
