//! `/api/v1/tenants/{tenant_id}/tools`: the tools the caller may use, and calling one through
//! the gateway (the console's "try this tool", scripts, mobile apps). Same call path, policy
//! and audit as the MCP endpoint.

use app::api::{Problem, ToolCall, ToolCallResult, ToolList};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use uuid::Uuid;

use super::authn::authorize;
use super::error::ApiError;
use super::extract::{Json, Path, RequestContext};
use crate::AppState;
use crate::access::Permission;
use crate::gateway::{CallError, GatewayError};
use crate::identity::Principal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants/{tenant_id}/tools", get(list))
        .route("/api/v1/tenants/{tenant_id}/tools/call", post(call))
}

impl From<GatewayError> for ApiError {
    fn from(error: GatewayError) -> Self {
        match error {
            GatewayError::UnknownTool(_) => ApiError::NotFound(error.to_string()),
            GatewayError::Call(CallError::Timeout(..)) => ApiError::Rejected {
                status: StatusCode::GATEWAY_TIMEOUT,
                detail: error.to_string(),
            },
            GatewayError::Call(CallError::Registry(e)) | GatewayError::Registry(e) => e.into(),
            GatewayError::Call(e) => ApiError::Rejected {
                status: StatusCode::BAD_GATEWAY,
                detail: e.to_string(),
            },
            GatewayError::RateLimited(_, retry) => ApiError::RateLimited(retry),
            GatewayError::Store(e) => e.into(),
            GatewayError::Kv(e) => e.into(),
        }
    }
}

/// The tools of the tenant's enabled upstreams that the caller may use, named
/// `upstream.tool`. Upstreams that did not answer are listed under `unavailable`.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/tools", tag = "upstreams",
    params(("tenant_id" = Uuid, Path)),
    responses(
        (status = 200, body = ToolList),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
) -> Result<Json<ToolList>, ApiError> {
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::TenantRead).await?;
    Ok(Json(state.gateway.tools(&scope, &principal).await?))
}

/// Call a tool through the gateway, as the caller: decided by the tool policies, forwarded
/// to the upstream, audited. A tool the caller may not use is answered as unknown (404).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/tools/call", tag = "upstreams",
    params(("tenant_id" = Uuid, Path)), request_body = ToolCall,
    responses(
        (status = 200, body = ToolCallResult),
        (status = 404, description = "Unknown tool, or not the caller's to use", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-tool rate; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The upstream failed or its circuit is open", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The upstream did not answer in time", body = Problem, content_type = "application/problem+json"),
    ))]
async fn call(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Json(body): Json<ToolCall>,
) -> Result<Json<ToolCallResult>, ApiError> {
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::TenantRead).await?;
    let result = state
        .gateway
        .call(
            &scope,
            &principal,
            &body.tool,
            body.arguments,
            &ctx.origin(),
        )
        .await?;
    Ok(Json(result))
}
