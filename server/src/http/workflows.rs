//! `/api/v1/tenants/{tenant_id}/workflows`: the tenant's workflow definitions, each saved as a
//! new version, and starting runs of them. Every change is audited.

use app::api::workflow::Definition;
use app::api::{Problem, Run, RunInput, Workflow, WorkflowInput, WorkflowList};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;
use uuid::Uuid;

use super::authn::authorize;
use super::error::ApiError;
use super::extract::{Document, Json, Path, RequestContext};
use crate::AppState;
use crate::access::Permission;
use crate::audit::{self, Outcome};
use crate::engine::{Engine, EngineError};
use crate::identity::Principal;
use crate::tenancy::TenantScope;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/tenants/{tenant_id}/workflows",
            get(list).post(create),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/workflows/{id}",
            get(read).put(replace).delete(remove),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/workflows/{id}/runs",
            post(start),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/workflows/{id}/versions/{version}",
            get(version),
        )
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Invalid(problems) => ApiError::Validation(problems),
            EngineError::Refused(detail) => ApiError::Rejected {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                detail,
            },
            EngineError::Conflict(detail) => ApiError::Rejected {
                status: StatusCode::CONFLICT,
                detail,
            },
            EngineError::Store(e) => e.into(),
            EngineError::Kv(e) => e.into(),
        }
    }
}

/// Audits one change to a workflow or a run.
pub(super) async fn audited(
    state: &AppState,
    ctx: &RequestContext,
    principal: &Principal,
    scope: &TenantScope,
    action: &'static str,
    target: String,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    let event = ctx
        .origin()
        .event(principal.actor(), action, Outcome::Success)
        .target(target)
        .detail(detail);
    audit::record(&state.store, scope.tenant_id(), event).await?;
    Ok(())
}

/// The tenant's workflows at their latest versions, by name.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/workflows", tag = "workflows",
    params(("tenant_id" = Uuid, Path)),
    responses(
        (status = 200, body = WorkflowList),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
) -> Result<Json<WorkflowList>, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::WorkflowsRead,
    )
    .await?;
    let items = state.store.list_workflows(&scope).await?;
    Ok(Json(WorkflowList { items }))
}

/// Create a workflow (version 1). A definition that does not check is refused with every
/// problem, each naming its field (`definition.nodes.check.routes[0].when`).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/workflows", tag = "workflows",
    params(("tenant_id" = Uuid, Path)),
    request_body(content((WorkflowInput = "application/json"), (WorkflowInput = "application/yaml"))),
    responses(
        (status = 201, body = Workflow),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The definition does not check", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Document(body): Document<WorkflowInput>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::WorkflowsWrite,
    )
    .await?;
    Engine::check(&body)?;
    let workflow = state
        .store
        .create_workflow(&scope, &body, principal.user_id)
        .await?;
    let target = format!("workflow:{}", workflow.id);
    let detail = json!({ "name": workflow.name, "version": 1 });
    audited(
        &state,
        &ctx,
        &principal,
        &scope,
        "workflow.create",
        target,
        detail,
    )
    .await?;
    let location = format!("/api/v1/tenants/{tenant_id}/workflows/{}", workflow.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(workflow),
    ))
}

/// Read a workflow at its latest version.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/workflows/{id}", tag = "workflows",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 200, body = Workflow),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn read(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<Json<Workflow>, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::WorkflowsRead,
    )
    .await?;
    Ok(Json(state.store.get_workflow(&scope, id).await?))
}

/// One saved version's definition (what runs of that version execute).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/workflows/{id}/versions/{version}", tag = "workflows",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path), ("version" = i32, Path)),
    responses(
        (status = 200, body = Definition),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn version(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id, version)): Path<(Uuid, Uuid, i32)>,
) -> Result<Json<Definition>, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::WorkflowsRead,
    )
    .await?;
    Ok(Json(
        state.store.workflow_version(&scope, id, version).await?,
    ))
}

/// Save a new version. Runs already started keep the version they started with.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/workflows/{id}", tag = "workflows",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    request_body(content((WorkflowInput = "application/json"), (WorkflowInput = "application/yaml"))),
    responses(
        (status = 200, body = Workflow),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn replace(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
    Document(body): Document<WorkflowInput>,
) -> Result<Json<Workflow>, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::WorkflowsWrite,
    )
    .await?;
    Engine::check(&body)?;
    let workflow = state
        .store
        .update_workflow(&scope, id, &body, principal.user_id)
        .await?;
    let detail = json!({ "name": workflow.name, "version": workflow.version });
    audited(
        &state,
        &ctx,
        &principal,
        &scope,
        "workflow.update",
        format!("workflow:{id}"),
        detail,
    )
    .await?;
    Ok(Json(workflow))
}

/// Delete a workflow with all its versions and runs.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/workflows/{id}", tag = "workflows",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 204),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn remove(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::WorkflowsWrite,
    )
    .await?;
    state.store.delete_workflow(&scope, id).await?;
    audited(
        &state,
        &ctx,
        &principal,
        &scope,
        "workflow.delete",
        format!("workflow:{id}"),
        json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start a run, acting for the caller: its tool calls carry the caller's rights (never more
/// than the caller's credential holds). It executes in the background; poll the run or
/// its checkpoints.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/workflows/{id}/runs", tag = "workflows",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)), request_body = RunInput,
    responses(
        (status = 201, body = Run),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The input does not fit the state", body = Problem, content_type = "application/problem+json"),
    ))]
async fn start(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
    Json(body): Json<RunInput>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::WorkflowsRun,
    )
    .await?;
    let workflow = state.store.get_workflow(&scope, id).await?;
    let run = state
        .engine
        .start(&scope, &principal, &workflow, &body)
        .await?;
    let detail = json!({ "workflow": id, "version": run.version });
    audited(
        &state,
        &ctx,
        &principal,
        &scope,
        "workflow.run",
        format!("run:{}", run.id),
        detail,
    )
    .await?;
    let location = format!("/api/v1/tenants/{tenant_id}/runs/{}", run.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(run.to_api()),
    ))
}
