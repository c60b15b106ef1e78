//! Roles: listing, creating, editing and removing custom roles, and MFA by role.

#![allow(clippy::result_large_err)]

use super::{ApiClient, Method};
use crate::api::{NewRole, Problem, Role, RoleList, RoleMfa};

impl ApiClient {
    pub async fn list_roles(&self, tenant: uuid::Uuid) -> Result<RoleList, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/roles");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    pub async fn create_role(&self, tenant: uuid::Uuid, body: &NewRole) -> Result<Role, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/roles");
        self.send(Method::Post, &path, Some(body)).await
    }

    /// Replaces a custom role's name, description and permissions.
    pub async fn replace_role(
        &self,
        tenant: uuid::Uuid,
        id: uuid::Uuid,
        body: &NewRole,
    ) -> Result<Role, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/roles/{id}");
        self.send(Method::Put, &path, Some(body)).await
    }

    pub async fn delete_role(&self, tenant: uuid::Uuid, id: uuid::Uuid) -> Result<(), Problem> {
        let path = format!("/api/v1/tenants/{tenant}/roles/{id}");
        self.send::<(), _>(Method::Delete, &path, None).await
    }

    /// Whether holders of the role must use a second factor.
    pub async fn set_role_mfa(
        &self,
        tenant: uuid::Uuid,
        id: uuid::Uuid,
        required: bool,
    ) -> Result<Role, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/roles/{id}/require-mfa");
        self.send(Method::Put, &path, Some(&RoleMfa { required }))
            .await
    }
}
