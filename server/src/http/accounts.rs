//! Account administration under `/api/v1/tenants/{tenant_id}/users/{id}`: unlock, password
//! reset, MFA reset, sign-out everywhere.

use app::api::{PasswordReset, Problem};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use uuid::Uuid;

use super::authn::authorize;
use super::error::ApiError;
use super::extract::{Json, Path, RequestContext};
use crate::AppState;
use crate::access::Permission;
use crate::audit::{self, Outcome};
use crate::config::Secret;
use crate::identity::Principal;
use crate::tenancy::TenantScope;

pub fn router() -> Router<AppState> {
    Router::new()
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
