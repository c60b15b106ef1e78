//! `/api/v1/tenants/{tenant_id}/virtual-servers`: named bundles of the tenant's tools, prompts
//! and resources, each served at `/mcp/{tenant-slug}/{name}`. Managed like upstreams (the
//! `upstreams:*` permissions); every change is audited and tells open MCP sessions to list
//! again.

use app::api::{Problem, VirtualServer, VirtualServerInput, VirtualServerList};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;
use uuid::Uuid;

use super::authn::authorize;
use super::error::ApiError;
use super::extract::{Json, Path, RequestContext};
use crate::AppState;
use crate::access::Permission;
use crate::audit::{self, Outcome};
use crate::identity::Principal;
use crate::tenancy::TenantScope;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/tenants/{tenant_id}/virtual-servers",
            get(list).post(create),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/virtual-servers/{id}",
            get(read).put(replace).delete(remove),
        )
}

fn check(input: &VirtualServerInput) -> Result<(), ApiError> {
    let problems = input.problems();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(problems))
    }
}

/// Audits a change and tells the tenant's open MCP sessions to list again.
async fn changed(
    state: &AppState,
    ctx: &RequestContext,
    principal: &Principal,
    scope: &TenantScope,
    action: &'static str,
    id: Uuid,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    let event = ctx
        .origin()
        .event(principal.actor(), action, Outcome::Success)
        .target(format!("virtual_server:{id}"))
        .detail(detail);
    audit::record(&state.store, scope.tenant_id(), event).await?;
    state.mcp.watch.announce(scope.tenant_id(), "all").await;
    Ok(())
}

/// The tenant's virtual servers, by name.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/virtual-servers", tag = "upstreams",
    params(("tenant_id" = Uuid, Path)),
    responses(
        (status = 200, body = VirtualServerList),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
) -> Result<Json<VirtualServerList>, ApiError> {
    let permission = Permission::UpstreamsRead;
    let scope = authorize(&state, &principal, &ctx, tenant_id, permission).await?;
    let items = state.store.list_virtual_servers(&scope).await?;
    Ok(Json(VirtualServerList { items }))
}

/// Create a virtual server; its endpoint is `/mcp/{tenant-slug}/{name}`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/virtual-servers", tag = "upstreams",
    params(("tenant_id" = Uuid, Path)), request_body = VirtualServerInput,
    responses(
        (status = 201, body = VirtualServer),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Json(body): Json<VirtualServerInput>,
) -> Result<impl IntoResponse, ApiError> {
    let permission = Permission::UpstreamsWrite;
    let scope = authorize(&state, &principal, &ctx, tenant_id, permission).await?;
    check(&body)?;
    let server = state.store.create_virtual_server(&scope, &body).await?;
    let detail = serde_json::to_value(&body).unwrap_or_default();
    let action = "virtual_server.create";
    changed(&state, &ctx, &principal, &scope, action, server.id, detail).await?;
    let location = format!("/api/v1/tenants/{tenant_id}/virtual-servers/{}", server.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(server),
    ))
}

/// Read one virtual server.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/virtual-servers/{id}", tag = "upstreams",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 200, body = VirtualServer),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn read(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<Json<VirtualServer>, ApiError> {
    let permission = Permission::UpstreamsRead;
    let scope = authorize(&state, &principal, &ctx, tenant_id, permission).await?;
    Ok(Json(state.store.get_virtual_server(&scope, id).await?))
}

/// Replace a virtual server.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/virtual-servers/{id}", tag = "upstreams",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)), request_body = VirtualServerInput,
    responses(
        (status = 200, body = VirtualServer),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn replace(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
    Json(body): Json<VirtualServerInput>,
) -> Result<Json<VirtualServer>, ApiError> {
    let permission = Permission::UpstreamsWrite;
    let scope = authorize(&state, &principal, &ctx, tenant_id, permission).await?;
    check(&body)?;
    let server = state
        .store
        .replace_virtual_server(&scope, id, &body)
        .await?;
    let detail = serde_json::to_value(&body).unwrap_or_default();
    let action = "virtual_server.update";
    changed(&state, &ctx, &principal, &scope, action, id, detail).await?;
    Ok(Json(server))
}

/// Delete a virtual server; its endpoint answers 404 from then on.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/virtual-servers/{id}", tag = "upstreams",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn remove(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let permission = Permission::UpstreamsWrite;
    let scope = authorize(&state, &principal, &ctx, tenant_id, permission).await?;
    let server = state.store.get_virtual_server(&scope, id).await?;
    state.store.delete_virtual_server(&scope, id).await?;
    let detail = json!({ "name": server.name });
    let action = "virtual_server.delete";
    changed(&state, &ctx, &principal, &scope, action, id, detail).await?;
    Ok(StatusCode::NO_CONTENT)
}
