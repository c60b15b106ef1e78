//! LLM providers, their token usage and the tenant's monthly budget.

#![allow(clippy::result_large_err)]

use super::{ApiClient, Method};
use crate::api::{
    LlmBudget, LlmProbe, LlmProvider, LlmProviderInput, LlmProviderList, LlmUsage, Problem,
};

impl ApiClient {
    pub async fn list_llm_providers(&self, tenant: uuid::Uuid) -> Result<LlmProviderList, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/llm-providers");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    pub async fn create_llm_provider(
        &self,
        tenant: uuid::Uuid,
        body: &LlmProviderInput,
    ) -> Result<LlmProvider, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/llm-providers");
        self.send(Method::Post, &path, Some(body)).await
    }

    pub async fn replace_llm_provider(
        &self,
        tenant: uuid::Uuid,
        id: uuid::Uuid,
        body: &LlmProviderInput,
    ) -> Result<LlmProvider, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/llm-providers/{id}");
        self.send(Method::Put, &path, Some(body)).await
    }

    pub async fn delete_llm_provider(
        &self,
        tenant: uuid::Uuid,
        id: uuid::Uuid,
    ) -> Result<(), Problem> {
        let path = format!("/api/v1/tenants/{tenant}/llm-providers/{id}");
        self.send::<(), _>(Method::Delete, &path, None).await
    }

    pub async fn test_llm_provider(
        &self,
        tenant: uuid::Uuid,
        id: uuid::Uuid,
    ) -> Result<LlmProbe, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/llm-providers/{id}/test");
        self.send::<(), _>(Method::Post, &path, None).await
    }

    pub async fn llm_usage(&self, tenant: uuid::Uuid) -> Result<LlmUsage, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/llm-usage");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    pub async fn set_llm_budget(
        &self,
        tenant: uuid::Uuid,
        body: &LlmBudget,
    ) -> Result<LlmUsage, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/llm-budget");
        self.send(Method::Put, &path, Some(body)).await
    }
}
