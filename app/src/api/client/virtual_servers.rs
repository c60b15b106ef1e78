//! Virtual servers: bundles of the tenant's tools at their own MCP endpoints.

#![allow(clippy::result_large_err)]

use super::{ApiClient, Method};
use crate::api::{Problem, VirtualServer, VirtualServerInput, VirtualServerList};

impl ApiClient {
    pub async fn list_virtual_servers(
        &self,
        tenant: uuid::Uuid,
    ) -> Result<VirtualServerList, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/virtual-servers");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    pub async fn create_virtual_server(
        &self,
        tenant: uuid::Uuid,
        body: &VirtualServerInput,
    ) -> Result<VirtualServer, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/virtual-servers");
        self.send(Method::Post, &path, Some(body)).await
    }

    pub async fn replace_virtual_server(
        &self,
        tenant: uuid::Uuid,
        id: uuid::Uuid,
        body: &VirtualServerInput,
    ) -> Result<VirtualServer, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/virtual-servers/{id}");
        self.send(Method::Put, &path, Some(body)).await
    }

    pub async fn delete_virtual_server(
        &self,
        tenant: uuid::Uuid,
        id: uuid::Uuid,
    ) -> Result<(), Problem> {
        let path = format!("/api/v1/tenants/{tenant}/virtual-servers/{id}");
        self.send::<(), _>(Method::Delete, &path, None).await
    }
}
