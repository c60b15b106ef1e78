//! Vector indexes of the built-in vectors server.

#![allow(clippy::result_large_err)]

use super::{ApiClient, Method};
use crate::api::{Problem, VectorIndex, VectorIndexInput, VectorIndexList};

impl ApiClient {
    pub async fn list_vector_indexes(
        &self,
        tenant: uuid::Uuid,
    ) -> Result<VectorIndexList, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/vector-indexes");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    pub async fn create_vector_index(
        &self,
        tenant: uuid::Uuid,
        body: &VectorIndexInput,
    ) -> Result<VectorIndex, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/vector-indexes");
        self.send(Method::Post, &path, Some(body)).await
    }

    pub async fn delete_vector_index(&self, tenant: uuid::Uuid, name: &str) -> Result<(), Problem> {
        let path = format!("/api/v1/tenants/{tenant}/vector-indexes/{name}");
        self.send::<(), _>(Method::Delete, &path, None).await
    }
}
