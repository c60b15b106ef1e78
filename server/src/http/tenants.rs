//! `/api/v1/tenants`: list, create, read, update, delete.

use app::api::{
    NewTenant, Problem, Tenant, TenantLimits, TenantList, TenantPatch, TenantQuery, validate_name,
    validate_slug,
};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use uuid::Uuid;

use super::audit::admin_action;
use super::authn::{authorize, require_platform_admin};
use super::error::ApiError;
use super::extract::{Json, Path, Query, RequestContext};
use super::{check_fields, page_limit, search_text};
use crate::AppState;
use crate::access::Permission;
use crate::identity::Principal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants", get(list).post(create))
        .route(
            "/api/v1/tenants/{id}",
            get(read).patch(update).delete(remove),
        )
        .route("/api/v1/tenants/{id}/limits", get(limits).put(set_limits))
}

/// List tenants in creation order, optionally filtered.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", params(TenantQuery),
    responses(
        (status = 200, description = "One page of tenants", body = TenantList),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<TenantQuery>,
) -> Result<Json<TenantList>, ApiError> {
    let limit = page_limit(query.limit)?;
    let q = search_text(query.q.as_deref())?;
    if !principal.platform_admin {
        // Everyone else sees exactly their own tenant.
        let own = state.store.get_tenant(principal.tenant_id).await?;
        let wanted = q.is_none_or(|q| {
            let q = q.to_lowercase();
            own.slug.contains(&q) || own.name.to_lowercase().contains(&q)
        });
        let items = if wanted && query.cursor.is_none_or(|c| c < own.id) {
            vec![own]
        } else {
            Vec::new()
        };
        return Ok(Json(TenantList {
            items,
            next_cursor: None,
        }));
    }
    let (items, next_cursor) = state.store.list_tenants(query.cursor, q, limit).await?;
    Ok(Json(TenantList { items, next_cursor }))
}

/// Create a tenant.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", request_body = NewTenant,
    responses(
        (status = 201, description = "Created", body = Tenant),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Slug taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Json(new): Json<NewTenant>,
) -> Result<impl IntoResponse, ApiError> {
    require_platform_admin(&principal)?;
    check_fields([
        validate_slug("slug", &new.slug),
        validate_name("name", &new.name),
    ])?;
    let tenant = state.store.create_tenant(&new).await?;
    let detail = serde_json::json!({ "slug": tenant.slug, "name": tenant.name });
    admin_action(
        &state,
        &principal,
        &ctx,
        tenant.id,
        "tenant.create",
        format!("tenant:{}", tenant.id),
        detail,
    )
    .await?;
    // The built-in servers the operator chose; one that cannot be registered leaves the
    // tenant without it (an admin adds it in the console), not without a tenant.
    let scope = crate::tenancy::TenantScope::verified(tenant.id);
    for &server in &state.settings.tools.builtin_for_new_tenants {
        if let Err(error) =
            super::upstreams::add_builtin(&state, &principal, &ctx, &scope, server).await
        {
            tracing::warn!(?error, tenant = %tenant.id, server = server.name(), "built-in server not registered");
        }
    }
    let location = format!("/api/v1/tenants/{}", tenant.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(tenant),
    ))
}

/// Read one tenant.
#[utoipa::path(get, path = "/api/v1/tenants/{id}", tag = "tenants", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Tenant),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn read(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<Tenant>, ApiError> {
    authorize(&state, &principal, &ctx, id, Permission::TenantRead).await?;
    Ok(Json(state.store.get_tenant(id).await?))
}

/// Change a tenant's slug or name.
#[utoipa::path(patch, path = "/api/v1/tenants/{id}", tag = "tenants", params(("id" = Uuid, Path)),
    request_body = TenantPatch,
    responses(
        (status = 200, body = Tenant),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn update(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(patch): Json<TenantPatch>,
) -> Result<Json<Tenant>, ApiError> {
    authorize(&state, &principal, &ctx, id, Permission::TenantWrite).await?;
    check_fields([
        patch
            .slug
            .as_deref()
            .map_or(Ok(()), |s| validate_slug("slug", s)),
        patch
            .name
            .as_deref()
            .map_or(Ok(()), |n| validate_name("name", n)),
    ])?;
    let tenant = state.store.update_tenant(id, &patch).await?;
    let detail = serde_json::to_value(&patch).unwrap_or_default();
    admin_action(
        &state,
        &principal,
        &ctx,
        id,
        "tenant.update",
        format!("tenant:{id}"),
        detail,
    )
    .await?;
    Ok(Json(tenant))
}

/// Delete a tenant and everything it owns.
#[utoipa::path(delete, path = "/api/v1/tenants/{id}", tag = "tenants", params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn remove(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    authorize(&state, &principal, &ctx, id, Permission::TenantWrite).await?;
    require_platform_admin(&principal)?;
    state.store.delete_tenant(id).await?;
    // The tenant's audit trail outlives it; this is its last record.
    let detail = serde_json::json!({});
    admin_action(
        &state,
        &principal,
        &ctx,
        id,
        "tenant.delete",
        format!("tenant:{id}"),
        detail,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant's API rate limits as stored (absent: the platform default applies).
#[utoipa::path(get, path = "/api/v1/tenants/{id}/limits", tag = "tenants", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = TenantLimits),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn limits(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<TenantLimits>, ApiError> {
    authorize(&state, &principal, &ctx, id, Permission::TenantRead).await?;
    let (tenant_per_second, principal_per_second) = state.store.tenant_limits(id).await?;
    Ok(Json(TenantLimits {
        tenant_per_second,
        principal_per_second,
    }))
}

/// Set the tenant's API rate limits (platform administrators: a tenant does not raise its
/// own quota). Applies on every replica within 30 s.
#[utoipa::path(put, path = "/api/v1/tenants/{id}/limits", tag = "tenants", params(("id" = Uuid, Path)),
    request_body = TenantLimits,
    responses(
        (status = 200, body = TenantLimits),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn set_limits(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(body): Json<TenantLimits>,
) -> Result<Json<TenantLimits>, ApiError> {
    authorize(&state, &principal, &ctx, id, Permission::TenantWrite).await?;
    require_platform_admin(&principal)?;
    state
        .store
        .set_tenant_limits(id, body.tenant_per_second, body.principal_per_second)
        .await?;
    state.limits.forget(id);
    let detail = serde_json::to_value(&body).unwrap_or_default();
    admin_action(
        &state,
        &principal,
        &ctx,
        id,
        "tenant.limits",
        format!("tenant:{id}"),
        detail,
    )
    .await?;
    Ok(Json(body))
}
