//! Workflows and their runs.

#![allow(clippy::result_large_err)]

use uuid::Uuid;

use super::{ApiClient, Method};
use crate::api::{
    CheckpointList, Decision, Fork, Problem, Run, RunInput, RunList, RunQuery, Workflow,
    WorkflowInput, WorkflowList,
};

impl ApiClient {
    pub async fn list_workflows(&self, tenant: Uuid) -> Result<WorkflowList, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/workflows");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    /// Creates (`id: None`) or saves a new version.
    pub async fn save_workflow(
        &self,
        tenant: Uuid,
        id: Option<Uuid>,
        body: &WorkflowInput,
    ) -> Result<Workflow, Problem> {
        match id {
            Some(id) => {
                let path = format!("/api/v1/tenants/{tenant}/workflows/{id}");
                self.send(Method::Put, &path, Some(body)).await
            }
            None => {
                let path = format!("/api/v1/tenants/{tenant}/workflows");
                self.send(Method::Post, &path, Some(body)).await
            }
        }
    }

    pub async fn workflow_version(
        &self,
        tenant: Uuid,
        id: Uuid,
        version: i32,
    ) -> Result<crate::api::workflow::Definition, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/workflows/{id}/versions/{version}");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    pub async fn delete_workflow(&self, tenant: Uuid, id: Uuid) -> Result<(), Problem> {
        let path = format!("/api/v1/tenants/{tenant}/workflows/{id}");
        self.send::<(), _>(Method::Delete, &path, None).await
    }

    pub async fn start_run(
        &self,
        tenant: Uuid,
        workflow: Uuid,
        body: &RunInput,
    ) -> Result<Run, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/workflows/{workflow}/runs");
        self.send(Method::Post, &path, Some(body)).await
    }

    pub async fn list_runs(&self, tenant: Uuid, query: &RunQuery) -> Result<RunList, Problem> {
        let mut path = format!(
            "/api/v1/tenants/{tenant}/runs?limit={}",
            query.limit.unwrap_or(50)
        );
        if let Some(status) = &query.status {
            path.push_str(&format!("&status={status}"));
        }
        if let Some(workflow) = query.workflow_id {
            path.push_str(&format!("&workflow_id={workflow}"));
        }
        self.send::<(), _>(Method::Get, &path, None).await
    }

    pub async fn get_run(&self, tenant: Uuid, run: Uuid) -> Result<Run, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/runs/{run}");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    /// The checkpoints after step `after` (all from step 0 when `None`), a page of `limit`.
    pub async fn run_checkpoints(
        &self,
        tenant: Uuid,
        run: Uuid,
        after: Option<i64>,
        limit: u32,
    ) -> Result<CheckpointList, Problem> {
        let after = after.map(|a| format!("&after={a}")).unwrap_or_default();
        let path = format!("/api/v1/tenants/{tenant}/runs/{run}/checkpoints?limit={limit}{after}");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    pub async fn decide(&self, tenant: Uuid, run: Uuid, body: &Decision) -> Result<Run, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/runs/{run}/decisions");
        self.send(Method::Post, &path, Some(body)).await
    }

    pub async fn cancel_run(&self, tenant: Uuid, run: Uuid) -> Result<Run, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/runs/{run}/cancel");
        self.send::<(), _>(Method::Post, &path, None).await
    }

    pub async fn fork_run(&self, tenant: Uuid, run: Uuid, body: &Fork) -> Result<Run, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/runs/{run}/fork");
        self.send(Method::Post, &path, Some(body)).await
    }
}
