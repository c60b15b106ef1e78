//! `/api/v1/auth/api-keys`: the caller's API keys, and `/api/v1/admin/signing-keys/rotate`.

use app::api::{
    ApiKey, ApiKeyList, CreatedApiKey, NewApiKey, Problem, SigningKeyRotated, validate_name,
};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use chrono::Utc;
use uuid::Uuid;

use super::authn::require_platform_admin;
use super::check_fields;
use super::error::ApiError;
use super::extract::{Json, Path, RequestContext};
use crate::AppState;
use crate::access::Permission;
use crate::audit::{self, Outcome};
use crate::identity::{NewKey, Principal};
use crate::store::ApiKeyRow;
use crate::tenancy::TenantScope;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/api-keys", get(list).post(create))
        .route("/api/v1/auth/api-keys/{id}", delete(revoke))
        .route("/api/v1/admin/signing-keys/rotate", post(rotate))
}

fn to_api(row: ApiKeyRow) -> ApiKey {
    ApiKey {
        id: row.id,
        name: row.name,
        prefix: row.prefix,
        permissions: row.scopes.0,
        expires_at: row.expires_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
        created_at: row.created_at,
    }
}

/// The caller's API keys (never their secrets).
#[utoipa::path(get, path = "/api/v1/auth/api-keys", tag = "auth",
    responses(
        (status = 200, body = ApiKeyList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<ApiKeyList>, ApiError> {
    let scope = TenantScope::verified(principal.tenant_id);
    let rows = state.store.list_api_keys(&scope, principal.user_id).await?;
    Ok(Json(ApiKeyList {
        items: rows.into_iter().map(to_api).collect(),
    }))
}

/// Create an API key acting for the caller, with at most the caller's permissions. The full
/// key is in this answer only.
#[utoipa::path(post, path = "/api/v1/auth/api-keys", tag = "auth", request_body = NewApiKey,
    responses(
        (status = 201, body = CreatedApiKey),
        (status = 403, description = "Permissions beyond the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Json(body): Json<NewApiKey>,
) -> Result<impl IntoResponse, ApiError> {
    let permissions = match &body.permissions {
        None => None,
        Some(names) => {
            let mut parsed = Vec::new();
            for name in names {
                parsed.push(Permission::parse(name).ok_or_else(|| {
                    ApiError::Validation(vec![app::api::FieldError::new(
                        "permissions",
                        format!("unknown permission `{name}`"),
                    )])
                })?);
            }
            Some(parsed)
        }
    };
    check_fields([
        validate_name("name", &body.name),
        match body.expires_at {
            Some(t) if t <= Utc::now() => Err(app::api::FieldError::new(
                "expires_at",
                "must be in the future",
            )),
            _ => Ok(()),
        },
    ])?;
    let (row, key) = state
        .identity
        .create_api_key(
            &principal,
            NewKey {
                name: &body.name,
                permissions,
                expires_at: body.expires_at,
            },
            &ctx.origin(),
        )
        .await?;
    let location = format!("/api/v1/auth/api-keys/{}", row.id);
    Ok((
        StatusCode::CREATED,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
        Json(CreatedApiKey {
            key,
            api_key: to_api(row),
        }),
    ))
}

/// Revoke one of the caller's API keys.
#[utoipa::path(delete, path = "/api/v1/auth/api-keys/{id}", tag = "auth",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn revoke(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let scope = TenantScope::verified(principal.tenant_id);
    state
        .store
        .revoke_api_key(&scope, principal.user_id, id)
        .await?;
    let event = ctx
        .origin()
        .event(principal.actor(), "auth.key.revoke", Outcome::Success)
        .target(format!("api_key:{id}"));
    audit::record(&state.store, principal.tenant_id, event).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Make a new token-signing key active now (platform administrators). Tokens signed by the
/// previous key keep verifying until they expire.
#[utoipa::path(post, path = "/api/v1/admin/signing-keys/rotate", tag = "admin",
    responses(
        (status = 200, body = SigningKeyRotated),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn rotate(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
) -> Result<Json<SigningKeyRotated>, ApiError> {
    require_platform_admin(&principal)?;
    let kid = state.identity.rotate_signing_key().await?;
    let event = ctx
        .origin()
        .event(
            principal.actor(),
            "admin.signing_key.rotate",
            Outcome::Success,
        )
        .target(format!("signing_key:{kid}"))
        .rule("platform-admin");
    audit::record(&state.store, principal.tenant_id, event).await?;
    Ok(Json(SigningKeyRotated { kid }))
}
