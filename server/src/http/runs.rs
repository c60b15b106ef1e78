//! `/api/v1/tenants/{tenant_id}/runs`: workflow runs, their checkpoints, and what people do
//! to them: decide an approval, cancel, fork from a checkpoint (time travel).

use app::api::{
    CheckpointList, CheckpointQuery, DEFAULT_PAGE_SIZE, Decision, Fork, MAX_PAGE_SIZE, Problem,
    Run, RunList, RunQuery, RunStatus,
};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;
use uuid::Uuid;

use super::authn::authorize;
use super::error::ApiError;
use super::extract::{Json, Path, Query, RequestContext};
use super::workflows::audited;
use crate::AppState;
use crate::access::Permission;
use crate::identity::Principal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants/{tenant_id}/runs", get(list))
        .route("/api/v1/tenants/{tenant_id}/runs/{run_id}", get(read))
        .route(
            "/api/v1/tenants/{tenant_id}/runs/{run_id}/checkpoints",
            get(checkpoints),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/runs/{run_id}/decisions",
            post(decide),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/runs/{run_id}/cancel",
            post(cancel),
        )
        .route("/api/v1/tenants/{tenant_id}/runs/{run_id}/fork", post(fork))
}

/// The tenant's runs, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/runs", tag = "workflows",
    params(("tenant_id" = Uuid, Path), RunQuery),
    responses(
        (status = 200, body = RunList),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Query(query): Query<RunQuery>,
) -> Result<Json<RunList>, ApiError> {
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(text) => Some(RunStatus::parse(text).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "status must be one of running, waiting, succeeded, failed, cancelled; got `{text}`"
            ))
        })?),
    };
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::WorkflowsRead,
    )
    .await?;
    let rows = state
        .store
        .list_runs(&scope, status, query.workflow_id, limit)
        .await?;
    Ok(Json(RunList {
        items: rows.iter().map(|r| r.to_api()).collect(),
    }))
}

/// Read one run: where it is, its state, what it waits for.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/runs/{run_id}", tag = "workflows",
    params(("tenant_id" = Uuid, Path), ("run_id" = Uuid, Path)),
    responses(
        (status = 200, body = Run),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn read(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, run_id)): Path<(Uuid, Uuid)>,
) -> Result<Json<Run>, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::WorkflowsRead,
    )
    .await?;
    Ok(Json(state.store.get_run(&scope, run_id).await?.to_api()))
}

/// A run's checkpoints in step order, from step 0 (its input) on, a page at a time: the
/// state after each step, the nodes that ran and their outputs.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/runs/{run_id}/checkpoints", tag = "workflows",
    params(("tenant_id" = Uuid, Path), ("run_id" = Uuid, Path), CheckpointQuery),
    responses(
        (status = 200, body = CheckpointList),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn checkpoints(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, run_id)): Path<(Uuid, Uuid)>,
    Query(query): Query<CheckpointQuery>,
) -> Result<Json<CheckpointList>, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::WorkflowsRead,
    )
    .await?;
    let limit = match query.limit {
        None => 200,
        Some(n @ 1..=1000) => n,
        Some(n) => {
            return Err(ApiError::BadRequest(format!(
                "limit must be 1 to 1000, not {n}"
            )));
        }
    };
    state.store.get_run(&scope, run_id).await?;
    let after = query.after.unwrap_or(-1);
    let mut items = (state.store)
        .list_checkpoints(&scope, run_id, after, limit + 1)
        .await?;
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    Ok(Json(CheckpointList { items, more }))
}

/// Approve or reject an approval the run waits for; the run goes on at once.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/runs/{run_id}/decisions", tag = "workflows",
    params(("tenant_id" = Uuid, Path), ("run_id" = Uuid, Path)), request_body = Decision,
    responses(
        (status = 200, body = Run),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run does not wait for this node", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The form does not fit the node's fields", body = Problem, content_type = "application/problem+json"),
    ))]
async fn decide(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, run_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<Decision>,
) -> Result<Json<Run>, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::WorkflowsRun,
    )
    .await?;
    let run = state
        .engine
        .decide(&scope, &principal, run_id, &body)
        .await?;
    let detail = json!({ "node": body.node, "approved": body.approve });
    audited(
        &state,
        &ctx,
        &principal,
        &scope,
        "run.decide",
        format!("run:{run_id}"),
        detail,
    )
    .await?;
    Ok(Json(run.to_api()))
}

/// Cancel a run that has not finished.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/runs/{run_id}/cancel", tag = "workflows",
    params(("tenant_id" = Uuid, Path), ("run_id" = Uuid, Path)),
    responses(
        (status = 200, body = Run),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run has already finished", body = Problem, content_type = "application/problem+json"),
    ))]
async fn cancel(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, run_id)): Path<(Uuid, Uuid)>,
) -> Result<Json<Run>, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::WorkflowsRun,
    )
    .await?;
    let run = state.engine.cancel(&scope, run_id).await?;
    audited(
        &state,
        &ctx,
        &principal,
        &scope,
        "run.cancel",
        format!("run:{run_id}"),
        json!({}),
    )
    .await?;
    Ok(Json(run.to_api()))
}

/// A new run from one of this run's checkpoints, with state keys replaced: time travel.
/// The new run acts for the caller.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/runs/{run_id}/fork", tag = "workflows",
    params(("tenant_id" = Uuid, Path), ("run_id" = Uuid, Path)), request_body = Fork,
    responses(
        (status = 201, body = Run),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such checkpoint, or the state does not fit", body = Problem, content_type = "application/problem+json"),
    ))]
async fn fork(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, run_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<Fork>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::WorkflowsRun,
    )
    .await?;
    let run = state.engine.fork(&scope, &principal, run_id, &body).await?;
    let detail = json!({ "from": run_id, "step": body.step });
    audited(
        &state,
        &ctx,
        &principal,
        &scope,
        "run.fork",
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
