//! `/api/v1/tenants/{tenant_id}/upstreams`: the gateway's registry of upstream MCP servers.
//! Secrets go in and never come out: answers and audit records name them only.

use app::api::{
    BuiltinRegistration, BuiltinServer, Problem, Upstream, UpstreamInput, UpstreamList,
    UpstreamProbe,
};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;
use uuid::Uuid;

use super::audit::admin_action;
use super::authn::authorize;
use super::error::ApiError;
use super::extract::{Json, Path, RequestContext};
use crate::AppState;
use crate::access::Permission;
use crate::gateway::RegistryError;
use crate::identity::Principal;
use crate::tenancy::TenantScope;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/tenants/{tenant_id}/upstreams",
            get(list).post(create),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/upstreams/builtin",
            post(create_builtin),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/upstreams/{id}",
            get(read).put(replace).delete(remove),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/upstreams/{id}/test",
            post(test),
        )
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::Invalid(errors) => ApiError::Validation(errors),
            RegistryError::Store(e) => e.into(),
            RegistryError::OAuth(e) => e.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// What the trail keeps of an upstream: never a secret's value.
fn detail(u: &Upstream) -> serde_json::Value {
    json!({ "name": u.name, "connection": u.connection, "secret_names": u.secret_names, "enabled": u.enabled })
}

/// The tenant's upstreams, by name.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/upstreams", tag = "upstreams",
    params(("tenant_id" = Uuid, Path)),
    responses(
        (status = 200, body = UpstreamList),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
) -> Result<Json<UpstreamList>, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::UpstreamsRead,
    )
    .await?;
    let mut items = state.upstreams.list(&scope).await?;
    for upstream in &mut items {
        upstream.status = state.gateway.pool().status(upstream.id);
        upstream.authorization = state.upstreams.oauth().status(&scope, upstream).await?;
    }
    Ok(Json(UpstreamList { items }))
}

/// Register an upstream MCP server (stdio command or Streamable HTTP URL).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/upstreams", tag = "upstreams",
    params(("tenant_id" = Uuid, Path)), request_body = UpstreamInput,
    responses(
        (status = 201, body = Upstream),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Json(input): Json<UpstreamInput>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::UpstreamsWrite,
    )
    .await?;
    let upstream = state.upstreams.create(&scope, &input).await?;
    let target = format!("upstream:{}", upstream.id);
    admin_action(
        &state,
        &principal,
        &ctx,
        tenant_id,
        "upstream.create",
        target,
        detail(&upstream),
    )
    .await?;
    state.mcp.watch.announce(tenant_id, "all").await;
    let location = format!("/api/v1/tenants/{tenant_id}/upstreams/{}", upstream.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(upstream),
    ))
}

/// Register one of Switchyard's own MCP servers, with a policy (`builtin-NAME`) letting
/// everyone in the tenant use its tools.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/upstreams/builtin", tag = "upstreams",
    params(("tenant_id" = Uuid, Path)), request_body = BuiltinRegistration,
    responses(
        (status = 201, body = Upstream),
        (status = 422, description = "Not a built-in server", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Its name or its policy's name is taken in this tenant", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_builtin(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Json(body): Json<BuiltinRegistration>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::UpstreamsWrite,
    )
    .await?;
    // Adding a rule for everyone is a policy change too.
    authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::PoliciesWrite,
    )
    .await?;
    let upstream = add_builtin(&state, &principal, &ctx, &scope, body.server).await?;
    let location = format!("/api/v1/tenants/{tenant_id}/upstreams/{}", upstream.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(upstream),
    ))
}

/// Registers `server` and its policy, and records both in the audit trail.
pub(super) async fn add_builtin(
    state: &AppState,
    principal: &Principal,
    ctx: &RequestContext,
    scope: &TenantScope,
    server: BuiltinServer,
) -> Result<Upstream, ApiError> {
    let tenant_id = scope.tenant_id();
    let (upstream, policy) = state.upstreams.create_builtin(scope, server).await?;
    let target = format!("upstream:{}", upstream.id);
    admin_action(
        state,
        principal,
        ctx,
        tenant_id,
        "upstream.create",
        target,
        detail(&upstream),
    )
    .await?;
    let pattern = format!("{}.*", server.name());
    admin_action(
        state,
        principal,
        ctx,
        tenant_id,
        "policy.create",
        format!("policy:{policy}"),
        json!({ "name": format!("builtin-{}", server.name()), "effect": "allow", "tool_pattern": pattern }),
    )
    .await?;
    state.mcp.watch.announce(tenant_id, "all").await;
    Ok(upstream)
}

/// One upstream.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/upstreams/{id}", tag = "upstreams",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 200, body = Upstream),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn read(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<Json<Upstream>, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::UpstreamsRead,
    )
    .await?;
    let mut upstream = state.upstreams.get(&scope, id).await?;
    upstream.status = state.gateway.pool().status(id);
    upstream.authorization = state.upstreams.oauth().status(&scope, &upstream).await?;
    Ok(Json(upstream))
}

/// Replace an upstream; without `secrets` the stored ones are kept.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/upstreams/{id}", tag = "upstreams",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)), request_body = UpstreamInput,
    responses(
        (status = 200, body = Upstream),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn replace(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
    Json(input): Json<UpstreamInput>,
) -> Result<Json<Upstream>, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::UpstreamsWrite,
    )
    .await?;
    let upstream = state.upstreams.replace(&scope, id, &input).await?;
    // The next call opens a session with the new settings (or none, if disabled).
    state.gateway.pool().evict(id);
    let target = format!("upstream:{id}");
    admin_action(
        &state,
        &principal,
        &ctx,
        tenant_id,
        "upstream.update",
        target,
        detail(&upstream),
    )
    .await?;
    state.mcp.watch.announce(tenant_id, "all").await;
    Ok(Json(upstream))
}

/// Remove an upstream from the registry.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/upstreams/{id}", tag = "upstreams",
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
        Permission::UpstreamsWrite,
    )
    .await?;
    state.upstreams.delete(&scope, id).await?;
    state.gateway.pool().evict(id);
    admin_action(
        &state,
        &principal,
        &ctx,
        tenant_id,
        "upstream.delete",
        format!("upstream:{id}"),
        json!({}),
    )
    .await?;
    state.mcp.watch.announce(tenant_id, "all").await;
    Ok(StatusCode::NO_CONTENT)
}

/// Test connection: connect with the stored credentials, list the upstream's tools,
/// resources, resource templates and prompts, and disconnect. A failure to connect is an
/// answer (`ok: false` with the reason), not an error of this request.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/upstreams/{id}/test", tag = "upstreams",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 200, body = UpstreamProbe),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn test(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<Json<UpstreamProbe>, ApiError> {
    // Starting a process or reaching out is an operator's act, not a reader's.
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::UpstreamsWrite,
    )
    .await?;
    let report = state.upstreams.probe(&scope, id).await?;
    let detail = json!({ "ok": report.ok, "error": report.error, "tools": report.tools.len(), "elapsed_ms": report.elapsed_ms });
    admin_action(
        &state,
        &principal,
        &ctx,
        tenant_id,
        "upstream.test",
        format!("upstream:{id}"),
        detail,
    )
    .await?;
    Ok(Json(report))
}
