//! `/api/v1/tenants/{tenant_id}/llm-providers`, `…/llm-usage` and `…/llm-budget`: the
//! tenant's OpenAI-compatible model providers (managed like upstreams, with the
//! `upstreams:*` permissions), the tokens they used, and the monthly budget (`tenant:*`).
//! Keys are write-only: sealed on the way in, never returned, never in an audit record.

use std::time::Instant;

use app::api::{
    LlmBudget, LlmProbe, LlmProvider, LlmProviderInput, LlmProviderList, LlmUsage, LlmUsageQuery,
    Problem,
};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::authn::authorize;
use super::error::ApiError;
use super::extract::{Json, Path, RequestContext};
use crate::AppState;
use crate::access::Permission;
use crate::audit::{self, Outcome};
use crate::engine::llm::wire::{ChatRequest, Message, Role};
use crate::engine::llm::{LlmError, Purpose};
use crate::identity::Principal;
use crate::tenancy::TenantScope;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/tenants/{tenant_id}/llm-providers",
            get(list).post(create),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/llm-providers/{id}",
            get(read).put(replace).delete(remove),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/llm-providers/{id}/test",
            post(test),
        )
        .route("/api/v1/tenants/{tenant_id}/llm-usage", get(usage))
        .route("/api/v1/tenants/{tenant_id}/llm-budget", put(budget))
}

impl From<LlmError> for ApiError {
    fn from(error: LlmError) -> Self {
        match error {
            LlmError::Store(e) => e.into(),
            LlmError::Vault(e) => ApiError::Internal(e.to_string()),
            LlmError::Cancelled => ApiError::Internal("the request was cancelled".into()),
            LlmError::Budget { .. } => ApiError::Forbidden(error.to_string()),
            LlmError::UnknownProvider(_) => ApiError::NotFound(error.to_string()),
            e @ (LlmError::NoDefault(_) | LlmError::Disabled(_) | LlmError::NoEmbeddings(_)) => {
                ApiError::Rejected {
                    status: StatusCode::CONFLICT,
                    detail: e.to_string(),
                }
            }
            e @ (LlmError::Unreachable { .. }
            | LlmError::Status { .. }
            | LlmError::Malformed { .. }) => ApiError::Rejected {
                status: StatusCode::BAD_GATEWAY,
                detail: e.to_string(),
            },
        }
    }
}

/// What an audit record says of an input: everything but the key, and whether one came.
fn described(input: &LlmProviderInput) -> serde_json::Value {
    json!({
        "name": input.name,
        "flavor": input.flavor,
        "base_url": input.base_url,
        "model": input.model,
        "embedding_model": input.embedding_model,
        "api_version": input.api_version,
        "timeout_secs": input.timeout_secs,
        "enabled": input.enabled,
        "api_key": match input.api_key.as_deref() {
            None => "kept",
            Some("") => "removed",
            Some(_) => "set",
        },
    })
}

async fn record(
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

fn check(input: &LlmProviderInput) -> Result<(), ApiError> {
    let problems = input.problems();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(problems))
    }
}

/// The tenant's LLM providers, by name; keys appear only as `has_api_key`.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/llm-providers", tag = "llm",
    params(("tenant_id" = Uuid, Path)),
    responses(
        (status = 200, body = LlmProviderList),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
) -> Result<Json<LlmProviderList>, ApiError> {
    let permission = Permission::UpstreamsRead;
    let scope = authorize(&state, &principal, &ctx, tenant_id, permission).await?;
    let rows = state.store.list_llm_providers(&scope).await?;
    let items = rows.iter().map(|r| r.public()).collect();
    Ok(Json(LlmProviderList { items }))
}

/// Add an OpenAI-compatible provider (OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/llm-providers", tag = "llm",
    params(("tenant_id" = Uuid, Path)), request_body = LlmProviderInput,
    responses(
        (status = 201, body = LlmProvider),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Json(body): Json<LlmProviderInput>,
) -> Result<impl IntoResponse, ApiError> {
    let permission = Permission::UpstreamsWrite;
    let scope = authorize(&state, &principal, &ctx, tenant_id, permission).await?;
    check(&body)?;
    let id = Uuid::now_v7();
    let sealed = state.llm.seal_key(&scope, id, &body, None);
    let row = state
        .store
        .create_llm_provider(&scope, id, &body, sealed)
        .await?;
    let target = format!("llm_provider:{id}");
    record(
        &state,
        &ctx,
        &principal,
        &scope,
        "llm_provider.create",
        target,
        described(&body),
    )
    .await?;
    let location = format!("/api/v1/tenants/{tenant_id}/llm-providers/{id}");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(row.public()),
    ))
}

/// Read one provider.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/llm-providers/{id}", tag = "llm",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 200, body = LlmProvider),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn read(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<Json<LlmProvider>, ApiError> {
    let permission = Permission::UpstreamsRead;
    let scope = authorize(&state, &principal, &ctx, tenant_id, permission).await?;
    Ok(Json(
        state.store.get_llm_provider(&scope, id).await?.public(),
    ))
}

/// Replace a provider; an absent `api_key` keeps the stored one, `""` removes it.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/llm-providers/{id}", tag = "llm",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)), request_body = LlmProviderInput,
    responses(
        (status = 200, body = LlmProvider),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn replace(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
    Json(body): Json<LlmProviderInput>,
) -> Result<Json<LlmProvider>, ApiError> {
    let permission = Permission::UpstreamsWrite;
    let scope = authorize(&state, &principal, &ctx, tenant_id, permission).await?;
    check(&body)?;
    let stored = state.store.get_llm_provider(&scope, id).await?;
    let sealed = state.llm.seal_key(&scope, id, &body, stored.api_key_enc);
    let row = state
        .store
        .replace_llm_provider(&scope, id, &body, sealed)
        .await?;
    let target = format!("llm_provider:{id}");
    record(
        &state,
        &ctx,
        &principal,
        &scope,
        "llm_provider.update",
        target,
        described(&body),
    )
    .await?;
    Ok(Json(row.public()))
}

/// Delete a provider; workflow nodes naming it fail from then on.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/llm-providers/{id}", tag = "llm",
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
    let row = state.store.get_llm_provider(&scope, id).await?;
    state.store.delete_llm_provider(&scope, id).await?;
    let target = format!("llm_provider:{id}");
    let detail = json!({ "name": row.name });
    record(
        &state,
        &ctx,
        &principal,
        &scope,
        "llm_provider.delete",
        target,
        detail,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ask the provider for a one-word answer (counted against the budget like any request).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/llm-providers/{id}/test", tag = "llm",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 200, body = LlmProbe),
        (status = 403, description = "The month's token budget is spent", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The provider failed or could not be reached", body = Problem, content_type = "application/problem+json"),
    ))]
async fn test(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<Json<LlmProbe>, ApiError> {
    let permission = Permission::UpstreamsWrite;
    let scope = authorize(&state, &principal, &ctx, tenant_id, permission).await?;
    let row = state.store.get_llm_provider(&scope, id).await?;
    let endpoint = state.llm.provider_of(row)?;
    let request = ChatRequest {
        messages: vec![Message::new(Role::User, "Reply with the word OK.")],
        max_tokens: Some(8),
        temperature: Some(0.0),
        ..ChatRequest::default()
    };
    let purpose = Purpose {
        kind: "test",
        run_id: None,
        user_id: Some(principal.user_id),
    };
    let started = Instant::now();
    let stop = CancellationToken::new();
    let completion = state
        .llm
        .chat(&scope, &endpoint, purpose, request, &mut |_| {}, &stop)
        .await?;
    Ok(Json(LlmProbe {
        model: completion.model.unwrap_or(endpoint.model),
        reply: completion.message.content,
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        usage: completion.usage.unwrap_or_default(),
    }))
}

/// This month's tokens against the budget, by provider and model; or one run's tokens.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/llm-usage", tag = "llm",
    params(("tenant_id" = Uuid, Path), LlmUsageQuery),
    responses(
        (status = 200, body = LlmUsage),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn usage(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Query(query): Query<LlmUsageQuery>,
) -> Result<Json<LlmUsage>, ApiError> {
    let permission = Permission::TenantRead;
    let scope = authorize(&state, &principal, &ctx, tenant_id, permission).await?;
    Ok(Json(state.llm.usage(&scope, query.run_id).await?))
}

/// Set (or with `null` lift) the tenant's monthly token budget.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/llm-budget", tag = "llm",
    params(("tenant_id" = Uuid, Path)), request_body = LlmBudget,
    responses(
        (status = 200, body = LlmUsage),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn budget(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Json(body): Json<LlmBudget>,
) -> Result<Json<LlmUsage>, ApiError> {
    let permission = Permission::TenantWrite;
    let scope = authorize(&state, &principal, &ctx, tenant_id, permission).await?;
    if body.monthly_tokens.is_some_and(|n| n > i64::MAX as u64) {
        return Err(ApiError::Validation(vec![app::api::FieldError::new(
            "monthly_tokens",
            "at most 9223372036854775807",
        )]));
    }
    state
        .store
        .set_llm_budget(&scope, body.monthly_tokens)
        .await?;
    let target = format!("tenant:{tenant_id}");
    let detail = json!({ "monthly_tokens": body.monthly_tokens });
    record(
        &state,
        &ctx,
        &principal,
        &scope,
        "llm.budget",
        target,
        detail,
    )
    .await?;
    Ok(Json(state.llm.usage(&scope, None).await?))
}
