//! The gateway's upstream registry.

#![allow(clippy::result_large_err)]

use super::{ApiClient, Method};
use crate::api::{
    AuthorizationStart, BuiltinRegistration, CatalogList, CatalogQuery, Problem, ToolCall,
    ToolCallResult, ToolList, ToolStatsList, ToolStatsQuery, Upstream, UpstreamInput, UpstreamList,
    UpstreamProbe,
};

impl ApiClient {
    pub async fn list_upstreams(&self, tenant: uuid::Uuid) -> Result<UpstreamList, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/upstreams");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    pub async fn create_upstream(
        &self,
        tenant: uuid::Uuid,
        body: &UpstreamInput,
    ) -> Result<Upstream, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/upstreams");
        self.send(Method::Post, &path, Some(body)).await
    }

    /// Registers one of Switchyard's own servers, with its policy for everyone.
    pub async fn create_builtin_upstream(
        &self,
        tenant: uuid::Uuid,
        body: &BuiltinRegistration,
    ) -> Result<Upstream, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/upstreams/builtin");
        self.send(Method::Post, &path, Some(body)).await
    }

    pub async fn replace_upstream(
        &self,
        tenant: uuid::Uuid,
        id: uuid::Uuid,
        body: &UpstreamInput,
    ) -> Result<Upstream, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/upstreams/{id}");
        self.send(Method::Put, &path, Some(body)).await
    }

    /// Test connection: what the upstream offers, or why it could not be reached.
    pub async fn test_upstream(
        &self,
        tenant: uuid::Uuid,
        id: uuid::Uuid,
    ) -> Result<UpstreamProbe, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/upstreams/{id}/test");
        self.send::<(), _>(Method::Post, &path, None).await
    }

    /// Starts authorizing the gateway at an OAuth-protected upstream.
    pub async fn authorize_upstream(
        &self,
        tenant: uuid::Uuid,
        id: uuid::Uuid,
    ) -> Result<AuthorizationStart, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/upstreams/{id}/authorize");
        self.send::<(), _>(Method::Post, &path, None).await
    }

    pub async fn delete_upstream(&self, tenant: uuid::Uuid, id: uuid::Uuid) -> Result<(), Problem> {
        let path = format!("/api/v1/tenants/{tenant}/upstreams/{id}");
        self.send::<(), _>(Method::Delete, &path, None).await
    }

    /// The tools the caller may use, across the tenant's upstreams.
    pub async fn list_tools(&self, tenant: uuid::Uuid) -> Result<ToolList, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/tools");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    /// Everything the caller may use, optionally searched and narrowed to one kind.
    pub async fn catalog(
        &self,
        tenant: uuid::Uuid,
        query: &CatalogQuery,
    ) -> Result<CatalogList, Problem> {
        let query = super::query_string(query)?;
        let path = format!("/api/v1/tenants/{tenant}/catalog{query}");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    /// Calls a tool through the gateway as the caller.
    pub async fn call_tool(
        &self,
        tenant: uuid::Uuid,
        body: &ToolCall,
    ) -> Result<ToolCallResult, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/tools/call");
        self.send(Method::Post, &path, Some(body)).await
    }

    /// Calls per tool over the last `hours`, from the audit trail.
    pub async fn tool_stats(
        &self,
        tenant: uuid::Uuid,
        hours: u32,
    ) -> Result<ToolStatsList, Problem> {
        let query = super::query_string(&ToolStatsQuery { hours: Some(hours) })?;
        let path = format!("/api/v1/tenants/{tenant}/tools/stats{query}");
        self.send::<(), _>(Method::Get, &path, None).await
    }
}
