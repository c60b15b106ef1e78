//! Invitations: `/api/v1/tenants/{tenant_id}/invitations` for administrators, and
//! `/api/v1/auth/invitations/*` for the invitee, who has no account to sign in with yet and
//! proves the invitation by its link's secret alone.

use app::api::{
    AcceptInvitation, CreatedInvitation, Invitation, InvitationInfo, InvitationList,
    InvitationToken, NewInvitation, Problem, validate_email, validate_name,
};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use uuid::Uuid;

use super::audit::admin_action;
use super::authn::authorize;
use super::check_fields;
use super::error::ApiError;
use super::extract::{Json, Path, RequestContext};
use super::roles::grantable_roles;
use crate::AppState;
use crate::access::Permission;
use crate::config::Secret;
use crate::identity::{AuthError, Principal};
use crate::store::{InvitationRow, NewUserRecord};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/tenants/{tenant_id}/invitations",
            get(list).post(create),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/invitations/{id}",
            delete(withdraw),
        )
        .route("/api/v1/auth/invitations/inspect", post(inspect))
        .route("/api/v1/auth/invitations/accept", post(accept))
}

fn to_api(row: InvitationRow) -> Invitation {
    Invitation {
        id: row.id,
        user_id: row.user_id,
        email: row.email,
        invited_by: row.invited_by,
        created_at: row.created_at,
        expires_at: row.expires_at,
    }
}

/// Invite an address: creates the user with the given roles (no password yet) and returns a
/// single-use link, valid 7 days, shown only in this answer.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/invitations", tag = "users",
    params(("tenant_id" = Uuid, Path)), request_body = NewInvitation,
    responses(
        (status = 201, body = CreatedInvitation),
        (status = 403, description = "The roles grant permissions the caller does not hold", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email taken in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Json(new): Json<NewInvitation>,
) -> Result<impl IntoResponse, ApiError> {
    let display_name = match new.display_name.trim() {
        "" => new.email.clone(),
        name => name.to_owned(),
    };
    check_fields([
        validate_email("email", &new.email),
        validate_name("display_name", &display_name),
    ])?;
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::UsersWrite).await?;
    // The invitee does not exist yet; a nil id marks a refused attempt in the trail.
    let roles = grantable_roles(
        &state,
        &principal,
        &ctx,
        &scope,
        "user.invite",
        Uuid::nil(),
        &new.roles,
    )
    .await?;
    let role_ids: Vec<Uuid> = roles.iter().map(|r| r.id).collect();
    let user = NewUserRecord {
        email: &new.email,
        display_name: &display_name,
        password_hash: None,
        platform_admin: false,
    };
    let invited = state
        .identity
        .invite(
            &principal,
            &scope,
            user,
            (&role_ids, &new.roles),
            &ctx.origin(),
        )
        .await?;
    let body = CreatedInvitation {
        accept_path: format!("/invite#{}", invited.token),
        token: invited.token,
        invitation: to_api(invited.invitation),
    };
    let location = format!(
        "/api/v1/tenants/{tenant_id}/users/{}",
        body.invitation.user_id
    );
    Ok((
        StatusCode::CREATED,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
        Json(body),
    ))
}

/// The tenant's pending invitations (expired ones included until withdrawn).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/invitations", tag = "users",
    params(("tenant_id" = Uuid, Path)),
    responses(
        (status = 200, body = InvitationList),
        (status = 404, description = "No such tenant", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
) -> Result<Json<InvitationList>, ApiError> {
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::UsersRead).await?;
    let rows = state.store.list_invitations(&scope).await?;
    Ok(Json(InvitationList {
        items: rows.into_iter().map(to_api).collect(),
    }))
}

/// Withdraw an invitation: its link stops working; the user stays, without a password.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/invitations/{id}", tag = "users",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 204),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn withdraw(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::UsersWrite).await?;
    state.store.delete_invitation(&scope, id).await?;
    let target = format!("invitation:{id}");
    admin_action(
        &state,
        &principal,
        &ctx,
        tenant_id,
        "user.invite.withdraw",
        target,
        serde_json::json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What an invitation link is for: the tenant and the address, before a password is chosen.
#[utoipa::path(post, path = "/api/v1/auth/invitations/inspect", tag = "auth",
    request_body = InvitationToken, security(()),
    responses(
        (status = 200, body = InvitationInfo),
        (status = 401, description = "Invalid, expired or used link", body = Problem, content_type = "application/problem+json"),
    ))]
async fn inspect(
    State(state): State<AppState>,
    Json(body): Json<InvitationToken>,
) -> Result<Json<InvitationInfo>, ApiError> {
    let invitation = state.identity.find_invitation(&body.token).await?;
    let tenant = state.store.get_tenant(invitation.tenant_id).await?;
    Ok(Json(InvitationInfo {
        tenant_slug: tenant.slug,
        tenant_name: tenant.name,
        email: invitation.email,
        expires_at: invitation.expires_at,
    }))
}

/// Accept an invitation by choosing a password; then sign in as usual. The link works once.
#[utoipa::path(post, path = "/api/v1/auth/invitations/accept", tag = "auth",
    request_body = AcceptInvitation, security(()),
    responses(
        (status = 204),
        (status = 401, description = "Invalid, expired or used link", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The password does not meet the policy", body = Problem, content_type = "application/problem+json"),
    ))]
async fn accept(
    State(state): State<AppState>,
    ctx: RequestContext,
    Json(body): Json<AcceptInvitation>,
) -> Result<StatusCode, ApiError> {
    let password = Secret::new(body.password);
    match state
        .identity
        .accept_invitation(&body.token, password, &ctx.origin())
        .await
    {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(AuthError::Refused(reason)) => {
            Err(ApiError::Validation(vec![app::api::FieldError::new(
                "password", reason,
            )]))
        }
        Err(e) => Err(e.into()),
    }
}
