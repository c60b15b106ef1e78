//! Roles and role assignments within one tenant. Built-in roles exist as rows (so assignments
//! can reference them) but their permissions come from code (`access::BUILTIN_ROLES`).

use chrono::{DateTime, Utc};
use tracing::instrument;
use uuid::Uuid;

use super::{Db, Store, StoreError, Wall, on_pool, walled, walled_tx};
use crate::access::{BUILTIN_ROLES, PermissionSet, builtin_role};
use crate::tenancy::TenantScope;

/// A role as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RoleRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub description: String,
    pub permissions: sqlx::types::Json<Vec<String>>,
    pub builtin: bool,
    /// Holders must have a second factor (they may only enrol one until they do).
    pub require_mfa: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RoleRow {
    /// What the role grants: the code's definition for built-in roles, the row's otherwise.
    pub fn permission_set(&self) -> PermissionSet {
        match (self.builtin, builtin_role(&self.name)) {
            (true, Some(role)) => PermissionSet::of(role.permissions),
            _ => PermissionSet::parse(self.permissions.0.iter().map(String::as_str)),
        }
    }
}

macro_rules! role_columns {
    () => {
        "r.id, r.tenant_id, r.name, r.description, r.permissions, r.builtin, r.require_mfa, r.created_at, r.updated_at"
    };
}

impl Store {
    /// Makes sure every tenant has the built-in roles (idempotent; run at start and when a
    /// tenant is created).
    #[instrument(skip_all)]
    pub async fn ensure_builtin_roles(&self, tenant_id: Option<Uuid>) -> Result<(), StoreError> {
        let tenants: Vec<(Uuid,)> = match tenant_id {
            Some(id) => vec![(id,)],
            None => on_pool!(self, pool => {
                sqlx::query_as("SELECT id FROM tenants").fetch_all(pool).await?
            }),
        };
        let now = Utc::now();
        for (tenant,) in tenants {
            for role in &BUILTIN_ROLES {
                let names: Vec<&str> = role.permissions.iter().map(|p| p.as_str()).collect();
                walled!(self, Wall::Tenant(tenant), pool => {
                    sqlx::query("INSERT INTO roles (id, tenant_id, name, description, permissions, builtin, created_at, updated_at) \
                                 VALUES ($1, $2, $3, $4, $5, TRUE, $6, $6) ON CONFLICT (tenant_id, name) DO NOTHING")
                        .bind(Uuid::now_v7()).bind(tenant).bind(role.name).bind(role.description)
                        .bind(sqlx::types::Json(&names)).bind(now)
                        .execute(pool).await?;
                });
            }
        }
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn list_roles(&self, scope: &TenantScope) -> Result<Vec<RoleRow>, StoreError> {
        let sql = concat!(
            "SELECT ",
            role_columns!(),
            " FROM roles r WHERE r.tenant_id = $1 ORDER BY r.builtin DESC, r.name"
        );
        Ok(walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).fetch_all(pool).await?
        }))
    }

    #[instrument(skip_all)]
    pub async fn role_by_name(
        &self,
        scope: &TenantScope,
        name: &str,
    ) -> Result<RoleRow, StoreError> {
        let sql = concat!(
            "SELECT ",
            role_columns!(),
            " FROM roles r WHERE r.tenant_id = $1 AND r.name = $2"
        );
        let row: Option<RoleRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).bind(name).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound("role"))
    }

    /// The roles assigned to a user.
    #[instrument(skip_all)]
    pub async fn user_roles(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
    ) -> Result<Vec<RoleRow>, StoreError> {
        let sql = concat!(
            "SELECT ",
            role_columns!(),
            " FROM roles r JOIN role_assignments a ON a.role_id = r.id \
             WHERE a.tenant_id = $1 AND a.user_id = $2 ORDER BY r.name"
        );
        Ok(walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).bind(user_id).fetch_all(pool).await?
        }))
    }

    /// Replaces a user's role assignments with `role_ids` in one transaction.
    #[instrument(skip_all)]
    pub async fn set_user_roles(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
        role_ids: &[Uuid],
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        walled_tx!(self, Wall::of(scope), tx => {
            let user: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM users WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id()).bind(user_id).fetch_optional(&mut *tx).await?;
            if user.is_none() {
                return Err(StoreError::NotFound("user"));
            }
            sqlx::query("DELETE FROM role_assignments WHERE tenant_id = $1 AND user_id = $2")
                .bind(scope.tenant_id()).bind(user_id).execute(&mut *tx).await?;
            for role_id in role_ids {
                // The role must belong to the same tenant: checked in the insert itself.
                let done = sqlx::query("INSERT INTO role_assignments (tenant_id, user_id, role_id, created_at) \
                                        SELECT $1, $2, id, $4 FROM roles WHERE tenant_id = $1 AND id = $3")
                    .bind(scope.tenant_id()).bind(user_id).bind(role_id).bind(now)
                    .execute(&mut *tx).await?.rows_affected();
                if done == 0 {
                    return Err(StoreError::NotFound("role"));
                }
            }
        });
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn get_role(&self, scope: &TenantScope, id: Uuid) -> Result<RoleRow, StoreError> {
        let sql = concat!(
            "SELECT ",
            role_columns!(),
            " FROM roles r WHERE r.tenant_id = $1 AND r.id = $2"
        );
        let row: Option<RoleRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound("role"))
    }

    /// Creates a custom role; a taken name is a conflict on `name`.
    #[instrument(skip_all)]
    pub async fn create_role(
        &self,
        scope: &TenantScope,
        name: &str,
        description: &str,
        permissions: &[String],
    ) -> Result<RoleRow, StoreError> {
        let (id, now) = (Uuid::now_v7(), Utc::now());
        walled!(self, Wall::of(scope), pool => {
            sqlx::query("INSERT INTO roles (id, tenant_id, name, description, permissions, builtin, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, FALSE, $6, $6)")
                .bind(id).bind(scope.tenant_id()).bind(name).bind(description)
                .bind(sqlx::types::Json(permissions)).bind(now)
                .execute(pool).await?;
        });
        self.get_role(scope, id).await
    }

    /// Replaces a custom role's name, description and permissions; built-in roles are
    /// refused by the caller before this.
    #[instrument(skip_all)]
    pub async fn replace_role(
        &self,
        scope: &TenantScope,
        id: Uuid,
        name: &str,
        description: &str,
        permissions: &[String],
    ) -> Result<RoleRow, StoreError> {
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query("UPDATE roles SET name = $3, description = $4, permissions = $5, updated_at = $6 \
                         WHERE tenant_id = $1 AND id = $2 AND builtin = FALSE")
                .bind(scope.tenant_id()).bind(id).bind(name).bind(description)
                .bind(sqlx::types::Json(permissions)).bind(Utc::now())
                .execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("role"));
        }
        self.get_role(scope, id).await
    }

    #[instrument(skip_all)]
    pub async fn delete_role(&self, scope: &TenantScope, id: Uuid) -> Result<(), StoreError> {
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query("DELETE FROM roles WHERE tenant_id = $1 AND id = $2 AND builtin = FALSE")
                .bind(scope.tenant_id()).bind(id).execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("role"));
        }
        Ok(())
    }

    /// Sets whether holders of a role (built-in or custom) must use a second factor.
    #[instrument(skip_all)]
    pub async fn set_role_mfa(
        &self,
        scope: &TenantScope,
        id: Uuid,
        required: bool,
    ) -> Result<RoleRow, StoreError> {
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query("UPDATE roles SET require_mfa = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id()).bind(id).bind(required).bind(Utc::now())
                .execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("role"));
        }
        self.get_role(scope, id).await
    }
}
