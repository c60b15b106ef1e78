//! `/api/v1/tenants/{tenant_id}/users`: users within one tenant.

use app::api::{
    NewUser, Problem, User, UserList, UserPatch, UserQuery, validate_email, validate_name,
};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use uuid::Uuid;

use super::accounts::guard_target;
use super::audit::admin_action;
use super::authn::authorize;
use super::error::ApiError;
use super::extract::{Json, Path, Query, RequestContext};
use super::{check_fields, page_limit, search_text};
use crate::AppState;
use crate::access::Permission;
use crate::identity::Principal;
use crate::store::NewUserRecord;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants/{tenant_id}/users", get(list).post(create))
        .route(
            "/api/v1/tenants/{tenant_id}/users/{id}",
            get(read).patch(update).delete(remove),
        )
}

/// List a tenant's users in creation order, optionally filtered.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/users", tag = "users",
    params(("tenant_id" = Uuid, Path), UserQuery),
    responses(
        (status = 200, body = UserList),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Query(query): Query<UserQuery>,
) -> Result<Json<UserList>, ApiError> {
    let limit = page_limit(query.limit)?;
    let q = search_text(query.q.as_deref())?;
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::UsersRead).await?;
    let (mut items, next_cursor) = state
        .store
        .list_users(&scope, query.cursor, q, query.disabled, limit)
        .await?;
    state.store.with_roles(&scope, &mut items).await?;
    Ok(Json(UserList { items, next_cursor }))
}

/// Create a user in a tenant.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/users", tag = "users",
    params(("tenant_id" = Uuid, Path)), request_body = NewUser,
    responses(
        (status = 201, body = User),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email taken in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Json(new): Json<NewUser>,
) -> Result<impl IntoResponse, ApiError> {
    check_fields([
        validate_email("email", &new.email),
        validate_name("display_name", &new.display_name),
    ])?;
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::UsersWrite).await?;
    let record = NewUserRecord {
        email: &new.email,
        display_name: &new.display_name,
        password_hash: None,
        platform_admin: false,
    };
    let user = state.store.create_user(&scope, &record).await?;
    let detail = serde_json::json!({ "email": user.email, "display_name": user.display_name });
    admin_action(
        &state,
        &principal,
        &ctx,
        tenant_id,
        "user.create",
        format!("user:{}", user.id),
        detail,
    )
    .await?;
    let location = format!("/api/v1/tenants/{tenant_id}/users/{}", user.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(user),
    ))
}

/// Read one user.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/users/{id}", tag = "users",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 200, body = User),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn read(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<Json<User>, ApiError> {
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::UsersRead).await?;
    let mut user = [state.store.get_user(&scope, id).await?];
    state.store.with_roles(&scope, &mut user).await?;
    let [user] = user;
    Ok(Json(user))
}

/// Change a user's email, name or disabled flag.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}/users/{id}", tag = "users",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)), request_body = UserPatch,
    responses(
        (status = 200, body = User),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn update(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
    Json(patch): Json<UserPatch>,
) -> Result<Json<User>, ApiError> {
    check_fields([
        patch
            .email
            .as_deref()
            .map_or(Ok(()), |e| validate_email("email", e)),
        patch
            .display_name
            .as_deref()
            .map_or(Ok(()), |n| validate_name("display_name", n)),
    ])?;
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::UsersWrite).await?;
    guard_target(&state, &scope, &principal, id).await?;
    let user = state.store.update_user(&scope, id, &patch).await?;
    let detail = serde_json::to_value(&patch).unwrap_or_default();
    admin_action(
        &state,
        &principal,
        &ctx,
        tenant_id,
        "user.update",
        format!("user:{id}"),
        detail,
    )
    .await?;
    Ok(Json(user))
}

/// Delete a user.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/users/{id}", tag = "users",
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
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::UsersWrite).await?;
    guard_target(&state, &scope, &principal, id).await?;
    state.store.delete_user(&scope, id).await?;
    let detail = serde_json::json!({});
    admin_action(
        &state,
        &principal,
        &ctx,
        tenant_id,
        "user.delete",
        format!("user:{id}"),
        detail,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
