//! Roles of a tenant, role assignment, and account administration (unlock, password reset,
//! MFA reset, sign-out) under `/api/v1/tenants/{tenant_id}`.

use app::api::{PasswordReset, Problem, Role, RoleList, UserRoles};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::json;
use uuid::Uuid;

use super::authn::authorize;
use super::error::ApiError;
use super::extract::{Json, Path, RequestContext};
use crate::AppState;
use crate::access::{Permission, PermissionSet};
use crate::audit::{self, Outcome};
use crate::config::Secret;
use crate::identity::Principal;
use crate::store::RoleRow;
use crate::tenancy::TenantScope;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants/{tenant_id}/roles", get(list))
        .route(
            "/api/v1/tenants/{tenant_id}/users/{id}/roles",
            get(user_roles).put(set_user_roles),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/users/{id}/unlock",
            post(unlock),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/users/{id}/password",
            post(reset_password),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/users/{id}/mfa/reset",
            post(reset_mfa),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/users/{id}/sign-out",
            post(sign_out),
        )
}

fn to_api(row: RoleRow) -> Role {
    Role {
        permissions: row.permission_set().names(),
        id: row.id,
        name: row.name,
        description: row.description,
        builtin: row.builtin,
    }
}

/// Only a platform administrator may act on a platform administrator's account: a tenant
/// administrator resetting one's password would be a way up.
pub(super) async fn guard_target(
    state: &AppState,
    scope: &TenantScope,
    principal: &Principal,
    user_id: Uuid,
) -> Result<(), ApiError> {
    let target = state.store.get_user(scope, user_id).await?;
    if target.platform_admin && !principal.platform_admin {
        return Err(ApiError::Forbidden(
            "only a platform administrator may change a platform administrator's account".into(),
        ));
    }
    Ok(())
}

/// The tenant's roles with their permissions.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/roles", tag = "roles",
    params(("tenant_id" = Uuid, Path)),
    responses(
        (status = 200, body = RoleList),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
) -> Result<Json<RoleList>, ApiError> {
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::RolesRead).await?;
    let rows = state.store.list_roles(&scope).await?;
    Ok(Json(RoleList {
        items: rows.into_iter().map(to_api).collect(),
    }))
}

/// A user's roles.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/users/{id}/roles", tag = "roles",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 200, body = RoleList),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn user_roles(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<Json<RoleList>, ApiError> {
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::UsersRead).await?;
    state.store.get_user(&scope, id).await?;
    let rows = state.store.user_roles(&scope, id).await?;
    Ok(Json(RoleList {
        items: rows.into_iter().map(to_api).collect(),
    }))
}

/// Replace a user's roles. The caller needs `users:write` and must itself hold every
/// permission the assigned roles grant (no escalation through role assignment).
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/users/{id}/roles", tag = "roles",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)), request_body = UserRoles,
    responses(
        (status = 200, body = RoleList),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn set_user_roles(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
    Json(body): Json<UserRoles>,
) -> Result<Json<RoleList>, ApiError> {
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::UsersWrite).await?;
    guard_target(&state, &scope, &principal, id).await?;
    let mut roles = Vec::new();
    for name in &body.roles {
        let role = state.store.role_by_name(&scope, name).await.map_err(|_| {
            ApiError::Validation(vec![app::api::FieldError::new(
                "roles",
                format!("no role named `{name}` in this tenant"),
            )])
        })?;
        roles.push(role);
    }
    let granted = roles
        .iter()
        .fold(PermissionSet::EMPTY, |set, r| set.union(r.permission_set()));
    let beyond: Vec<String> = granted
        .iter()
        .filter(|p| !principal.can(*p))
        .map(|p| p.as_str().to_string())
        .collect();
    if !beyond.is_empty() {
        let event = ctx
            .origin()
            .event(principal.actor(), "user.roles.set", Outcome::Denied)
            .target(format!("user:{id}"))
            .rule("no-escalation")
            .detail(json!({ "roles": body.roles, "permissions_not_held": beyond }));
        audit::record(&state.store, tenant_id, event).await?;
        return Err(ApiError::Forbidden(format!(
            "cannot assign roles granting permissions you do not hold: {}",
            beyond.join(", ")
        )));
    }
    let ids: Vec<Uuid> = roles.iter().map(|r| r.id).collect();
    state.store.set_user_roles(&scope, id, &ids).await?;
    let event = ctx
        .origin()
        .event(principal.actor(), "user.roles.set", Outcome::Success)
        .target(format!("user:{id}"))
        .detail(json!({ "roles": body.roles }));
    audit::record(&state.store, tenant_id, event).await?;
    Ok(Json(RoleList {
        items: roles.into_iter().map(to_api).collect(),
    }))
}

/// Clear a user's failed sign-ins and lock.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/users/{id}/unlock", tag = "users",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Unlocked"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn unlock(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::UsersWrite).await?;
    state.store.clear_login_failures(&scope, id).await?;
    let event = ctx
        .origin()
        .event(principal.actor(), "user.unlock", Outcome::Success)
        .target(format!("user:{id}"));
    audit::record(&state.store, tenant_id, event).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set a user's password (and unlock the account); the user's sessions and sign-ins end.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/users/{id}/password", tag = "users",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)), request_body = PasswordReset,
    responses(
        (status = 204, description = "Password set"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn reset_password(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
    Json(body): Json<PasswordReset>,
) -> Result<StatusCode, ApiError> {
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::UsersWrite).await?;
    guard_target(&state, &scope, &principal, id).await?;
    super::check_password(&state, "new_password", &body.new_password)?;
    state
        .identity
        .reset_password(
            &principal,
            &scope,
            id,
            Secret::new(body.new_password),
            &ctx.origin(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Turn a user's MFA off (a lost device); they can enrol again after signing in.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/users/{id}/mfa/reset", tag = "users",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 204, description = "MFA off"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn reset_mfa(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::UsersWrite).await?;
    guard_target(&state, &scope, &principal, id).await?;
    state
        .identity
        .disable_totp(&principal, &scope, id, &ctx.origin())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End every session and sign-in of a user.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/users/{id}/sign-out", tag = "users",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Signed out everywhere"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn sign_out(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::UsersWrite).await?;
    guard_target(&state, &scope, &principal, id).await?;
    let mut acting = principal.clone();
    // Sign-out acts in the target's tenant (a platform admin may come from another).
    acting.tenant_id = scope.tenant_id();
    state
        .identity
        .sign_out_everywhere(&acting, id, &ctx.origin())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
