//! Roles of a tenant (built-in and custom) and role assignment, under
//! `/api/v1/tenants/{tenant_id}`. Nobody can grant, through a role they create or assign,
//! a permission they do not hold.

use app::api::{NewRole, Problem, Role, RoleList, RoleMfa, UserRoles, validate_identifier};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, put};
use serde_json::json;
use uuid::Uuid;

use super::authn::authorize;
use super::error::ApiError;
use super::extract::{Json, Path, RequestContext};
use crate::AppState;
use crate::access::{Permission, PermissionSet};
use crate::audit::{self, Outcome};
use crate::identity::Principal;
use crate::store::RoleRow;
use crate::tenancy::TenantScope;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants/{tenant_id}/roles", get(list).post(create))
        .route(
            "/api/v1/tenants/{tenant_id}/roles/{id}",
            put(replace).delete(remove),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/roles/{id}/require-mfa",
            put(require_mfa),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/users/{id}/roles",
            get(user_roles).put(set_user_roles),
        )
}

fn to_api(row: RoleRow) -> Role {
    Role {
        permissions: row.permission_set().names(),
        id: row.id,
        name: row.name,
        description: row.description,
        builtin: row.builtin,
        require_mfa: row.require_mfa,
    }
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

/// Checks a role body: the name, the description, and permissions that exist and that the
/// caller holds. Returns the permission names to store.
fn check_role(principal: &Principal, body: &NewRole) -> Result<Vec<String>, ApiError> {
    super::check_fields([
        validate_identifier("name", &body.name),
        if body.description.chars().count() > 500 {
            Err(app::api::FieldError::new(
                "description",
                "must be at most 500 characters long",
            ))
        } else {
            Ok(())
        },
    ])?;
    let unknown: Vec<&str> = body
        .permissions
        .iter()
        .map(String::as_str)
        .filter(|p| Permission::parse(p).is_none())
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::Validation(vec![app::api::FieldError::new(
            "permissions",
            format!("unknown permissions: {}", unknown.join(", ")),
        )]));
    }
    let wanted = PermissionSet::parse(body.permissions.iter().map(String::as_str));
    let beyond = principal.lacking(wanted);
    if !beyond.is_empty() {
        return Err(ApiError::Forbidden(format!(
            "a role cannot grant permissions you do not hold: {}",
            beyond.join(", ")
        )));
    }
    Ok(wanted.names())
}

/// Create a custom role.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/roles", tag = "roles",
    params(("tenant_id" = Uuid, Path)), request_body = NewRole,
    responses(
        (status = 201, body = Role),
        (status = 403, description = "Permissions beyond the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Json(body): Json<NewRole>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::RolesWrite).await?;
    let permissions = check_role(&principal, &body)?;
    let role = state
        .store
        .create_role(&scope, &body.name, &body.description, &permissions)
        .await?;
    let event = ctx
        .origin()
        .event(principal.actor(), "role.create", Outcome::Success)
        .target(format!("role:{}", role.id))
        .detail(json!({ "name": role.name, "permissions": permissions }));
    audit::record(&state.store, tenant_id, event).await?;
    let location = format!("/api/v1/tenants/{tenant_id}/roles/{}", role.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(to_api(role)),
    ))
}

/// Replace a custom role's name, description and permissions (built-in roles are fixed).
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/roles/{id}", tag = "roles",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)), request_body = NewRole,
    responses(
        (status = 200, body = Role),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn replace(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
    Json(body): Json<NewRole>,
) -> Result<Json<Role>, ApiError> {
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::RolesWrite).await?;
    if state.store.get_role(&scope, id).await?.builtin {
        return Err(ApiError::Forbidden(
            "built-in roles cannot be changed".into(),
        ));
    }
    let permissions = check_role(&principal, &body)?;
    let role = state
        .store
        .replace_role(&scope, id, &body.name, &body.description, &permissions)
        .await?;
    let event = ctx
        .origin()
        .event(principal.actor(), "role.update", Outcome::Success)
        .target(format!("role:{id}"))
        .detail(json!({ "name": role.name, "permissions": permissions }));
    audit::record(&state.store, tenant_id, event).await?;
    Ok(Json(to_api(role)))
}

/// Delete a custom role; its assignments and tool rules go with it.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/roles/{id}", tag = "roles",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Built-in role", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn remove(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::RolesWrite).await?;
    let role = state.store.get_role(&scope, id).await?;
    if role.builtin {
        return Err(ApiError::Forbidden(
            "built-in roles cannot be deleted".into(),
        ));
    }
    state.store.delete_role(&scope, id).await?;
    let event = ctx
        .origin()
        .event(principal.actor(), "role.delete", Outcome::Success)
        .target(format!("role:{id}"))
        .detail(json!({ "name": role.name }));
    audit::record(&state.store, tenant_id, event).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Require (or stop requiring) a second factor of a role's holders, built-in roles included.
/// Holders without one may then only enrol one.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/roles/{id}/require-mfa", tag = "roles",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)), request_body = RoleMfa,
    responses(
        (status = 200, body = Role),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn require_mfa(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
    Json(body): Json<RoleMfa>,
) -> Result<Json<Role>, ApiError> {
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::RolesWrite).await?;
    let role = state.store.set_role_mfa(&scope, id, body.required).await?;
    let event = ctx
        .origin()
        .event(principal.actor(), "role.require_mfa", Outcome::Success)
        .target(format!("role:{id}"))
        .detail(json!({ "name": role.name, "required": body.required }));
    audit::record(&state.store, tenant_id, event).await?;
    Ok(Json(to_api(role)))
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
    super::accounts::guard_target(&state, &scope, &principal, id).await?;
    let roles = grantable_roles(
        &state,
        &principal,
        &ctx,
        &scope,
        "user.roles.set",
        id,
        &body.roles,
    )
    .await?;
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

/// The roles `names` of the tenant, if `principal` may grant them: each must exist (422
/// naming it) and together grant nothing the principal lacks (403, and the attempt is
/// audited under `action` with rule `no-escalation`).
pub(super) async fn grantable_roles(
    state: &AppState,
    principal: &Principal,
    ctx: &RequestContext,
    scope: &TenantScope,
    action: &'static str,
    target: Uuid,
    names: &[String],
) -> Result<Vec<RoleRow>, ApiError> {
    let mut roles = Vec::new();
    for name in names {
        let role = state.store.role_by_name(scope, name).await.map_err(|_| {
            ApiError::Validation(vec![app::api::FieldError::new(
                "roles",
                format!("no role named `{name}` in this tenant"),
            )])
        })?;
        roles.push(role);
    }
    let beyond = principal.lacking(crate::access::granted_by(&roles));
    if !beyond.is_empty() {
        let event = ctx
            .origin()
            .event(principal.actor(), action, Outcome::Denied)
            .target(format!("user:{target}"))
            .rule("no-escalation")
            .detail(json!({ "roles": names, "permissions_not_held": beyond }));
        audit::record(&state.store, scope.tenant_id(), event).await?;
        return Err(ApiError::Forbidden(format!(
            "cannot assign roles granting permissions you do not hold: {}",
            beyond.join(", ")
        )));
    }
    Ok(roles)
}
