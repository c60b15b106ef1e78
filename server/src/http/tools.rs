//! `/api/v1/tenants/{tenant_id}/tools`: the tools the caller may use, and calling one through
//! the gateway (the console's "try this tool", scripts, mobile apps). Same call path, policy
//! and audit as the MCP endpoint.

use std::collections::BTreeMap;

use app::api::{
    CATALOG_KINDS, CatalogList, CatalogQuery, Problem, ToolCall, ToolCallResult, ToolList,
    ToolStats, ToolStatsList, ToolStatsQuery,
};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::Value;
use uuid::Uuid;

use super::authn::authorize;
use super::error::ApiError;
use super::extract::{Json, Path, Query, RequestContext};
use crate::AppState;
use crate::access::Permission;
use crate::gateway::rounds::Answer;
use crate::gateway::{CallError, Caller, Control, GatewayError};
use crate::identity::Principal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants/{tenant_id}/tools", get(list))
        .route("/api/v1/tenants/{tenant_id}/tools/call", post(call))
        .route("/api/v1/tenants/{tenant_id}/tools/stats", get(stats))
        .route("/api/v1/tenants/{tenant_id}/catalog", get(catalog))
}

impl From<GatewayError> for ApiError {
    fn from(error: GatewayError) -> Self {
        match error {
            GatewayError::Unknown(..) => ApiError::NotFound(error.to_string()),
            // Only the chat asks the user; a REST caller cannot confirm for them.
            GatewayError::Unconfirmed(..) => ApiError::Rejected {
                status: StatusCode::FORBIDDEN,
                detail: format!("{error}; call it from the chat, which asks the user"),
            },
            GatewayError::Call(CallError::Refused(..)) => ApiError::Rejected {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                detail: error.to_string(),
            },
            GatewayError::Call(CallError::Timeout(..)) => ApiError::Rejected {
                status: StatusCode::GATEWAY_TIMEOUT,
                detail: error.to_string(),
            },
            GatewayError::Call(CallError::Registry(e)) | GatewayError::Registry(e) => e.into(),
            GatewayError::Call(e) => ApiError::Rejected {
                status: StatusCode::BAD_GATEWAY,
                detail: e.to_string(),
            },
            // The REST API cannot put an upstream's questions to its caller (SEP-2322).
            GatewayError::Rounds(_) => ApiError::Rejected {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                detail: error.to_string(),
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
    let origin = ctx.origin();
    let caller = Caller::rest(&scope, &principal, &origin);
    Ok(Json(state.gateway.tools(&caller).await?))
}

/// Call a tool through the gateway, as the caller: decided by the tool policies, forwarded
/// to the upstream, audited. A tool the caller may not use is answered as unknown (404).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/tools/call", tag = "upstreams",
    params(("tenant_id" = Uuid, Path)), request_body = ToolCall,
    responses(
        (status = 200, body = ToolCallResult),
        (status = 404, description = "Unknown tool, or not the caller's to use", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The upstream refused the call, or needs input (elicitation, sampling) that only an MCP client can give", body = Problem, content_type = "application/problem+json"),
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
    let origin = ctx.origin();
    let caller = Caller::rest(&scope, &principal, &origin);
    let called = state
        .gateway
        .call(&caller, &body.tool, body.arguments, Control::default())
        .await?;
    // A caller that cannot be asked gets an error, never the upstream's questions.
    let Answer::Complete(result) = called.result else {
        return Err(ApiError::Internal(
            "an input-required result reached REST".into(),
        ));
    };
    let is_error = result.is_error.unwrap_or(false);
    Ok(Json(ToolCallResult {
        result: serde_json::to_value(&result).unwrap_or(Value::Null),
        is_error,
        rule: called.rule,
        latency_ms: called.latency_ms,
    }))
}

/// Calls per tool over the last `hours`, with failures and refusals, from the audit trail:
/// the tenant's usage and error rates.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/tools/stats", tag = "upstreams",
    params(("tenant_id" = Uuid, Path), ToolStatsQuery),
    responses(
        (status = 200, body = ToolStatsList),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ))]
async fn stats(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Query(query): Query<ToolStatsQuery>,
) -> Result<Json<ToolStatsList>, ApiError> {
    let hours = query.hours.unwrap_or(24);
    if !(1..=720).contains(&hours) {
        return Err(ApiError::BadRequest(format!(
            "hours must be between 1 and 720, got {hours}"
        )));
    }
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::AuditRead).await?;
    let since = chrono::Utc::now() - chrono::Duration::hours(i64::from(hours));
    let mut per_tool: BTreeMap<String, ToolStats> = BTreeMap::new();
    for (target, outcome, count) in state.store.tool_call_counts(&scope, since).await? {
        let tool = target.strip_prefix("tool:").unwrap_or(&target).to_owned();
        let entry = per_tool.entry(tool.clone()).or_insert(ToolStats {
            tool,
            calls: 0,
            failures: 0,
            denied: 0,
        });
        let count = u64::try_from(count).unwrap_or(0);
        entry.calls += count;
        match outcome.as_str() {
            "failure" => entry.failures += count,
            "denied" => entry.denied += count,
            _ => {}
        }
    }
    let mut items: Vec<ToolStats> = per_tool.into_values().collect();
    items.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.tool.cmp(&b.tool)));
    Ok(Json(ToolStatsList { hours, items }))
}

/// Everything the caller may use across the tenant's upstreams — tools, prompts, resources
/// and resource templates, in gateway names — optionally searched and narrowed to one kind.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/catalog", tag = "upstreams",
    params(("tenant_id" = Uuid, Path), CatalogQuery),
    responses(
        (status = 200, body = CatalogList),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ))]
async fn catalog(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Query(query): Query<CatalogQuery>,
) -> Result<Json<CatalogList>, ApiError> {
    if let Some(kind) = &query.kind
        && !CATALOG_KINDS.contains(&kind.as_str())
    {
        return Err(ApiError::BadRequest(format!(
            "kind must be one of tool, prompt, resource, template; got `{kind}`"
        )));
    }
    let needle = query.q.as_deref().map(str::to_lowercase);
    if needle.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::BadRequest("q is at most 200 characters".into()));
    }
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::TenantRead).await?;
    let origin = ctx.origin();
    let caller = Caller::rest(&scope, &principal, &origin);
    let mut list = state.gateway.entries(&caller).await?;
    list.items.retain(|e| {
        query.kind.as_ref().is_none_or(|k| *k == e.kind)
            && needle.as_ref().is_none_or(|q| e.mentions(q))
    });
    Ok(Json(list))
}
