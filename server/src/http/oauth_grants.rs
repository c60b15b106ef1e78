//! The console's side of OAuth for MCP clients: the consent page reads a pending request and
//! answers it as the signed-in user (`/api/v1/oauth/requests/{id}`), and each user lists and
//! withdraws the apps they allowed (`/api/v1/auth/oauth-consents`).

use app::api::{OAuthAnswer, OAuthConsent, OAuthConsentList, OAuthRedirect, OAuthRequest, Problem};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use serde_json::json;
use uuid::Uuid;

use super::error::ApiError;
use super::extract::{Json, Path, RequestContext};
use crate::AppState;
use crate::audit::{self, Outcome};
use crate::gateway::oauth::OAuthError;
use crate::identity::{Credential, Principal};
use crate::tenancy::TenantScope;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/oauth/requests/{id}", get(request).post(answer))
        .route("/api/v1/auth/oauth-consents", get(consents))
        .route("/api/v1/auth/oauth-consents/{id}", delete(withdraw))
}

impl From<OAuthError> for ApiError {
    fn from(error: OAuthError) -> Self {
        match error {
            OAuthError::UnknownRequest => ApiError::NotFound(error.to_string()),
            OAuthError::Store(e) => e.into(),
            OAuthError::Kv(e) => e.into(),
            other if other.code().is_some() => ApiError::BadRequest(other.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Consent is a person's: given in the console, with its session, never by a token or key.
fn person(principal: &Principal) -> Result<(), ApiError> {
    match principal.credential {
        Credential::Session { .. } => Ok(()),
        _ => Err(ApiError::Forbidden(
            "consent is given in the console, signed in as yourself".into(),
        )),
    }
}

/// The request a consent page is about: which client, where the answer goes, what for.
#[utoipa::path(get, path = "/api/v1/oauth/requests/{id}", tag = "oauth",
    params(("id" = String, Path, description = "the pending request, from the consent page's URL")),
    responses(
        (status = 200, body = OAuthRequest),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn request(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<OAuthRequest>, ApiError> {
    person(&principal)?;
    let view = state.oauth.pending(&principal, &id).await?;
    let tenant = state.store.get_tenant(principal.tenant_id).await?;
    Ok(Json(OAuthRequest {
        user_email: principal.email.clone(),
        tenant_slug: tenant.slug,
        client_id: view.client_id,
        client_name: view.client_name,
        metadata_document: view.metadata_document,
        redirect_uri: view.redirect_uri,
        scopes: view.scopes,
        resource: view.resource,
    }))
}

/// Allow or refuse; the request is spent either way. Allowing remembers the consent, so the
/// same client is not asked again.
#[utoipa::path(post, path = "/api/v1/oauth/requests/{id}", tag = "oauth",
    params(("id" = String, Path, description = "the pending request")),
    request_body = OAuthAnswer,
    responses(
        (status = 200, body = OAuthRedirect),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn answer(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<OAuthAnswer>,
) -> Result<Json<OAuthRedirect>, ApiError> {
    person(&principal)?;
    let redirect_to = state
        .oauth
        .answer(&principal, &id, body.allow, &ctx.origin())
        .await?;
    Ok(Json(OAuthRedirect { redirect_to }))
}

/// The apps the caller allowed to use their MCP endpoints.
#[utoipa::path(get, path = "/api/v1/auth/oauth-consents", tag = "oauth",
    responses(
        (status = 200, body = OAuthConsentList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
async fn consents(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<OAuthConsentList>, ApiError> {
    let scope = TenantScope::verified(principal.tenant_id);
    let rows = state.store.list_consents(&scope, principal.user_id).await?;
    Ok(Json(OAuthConsentList {
        items: rows
            .into_iter()
            .map(|r| OAuthConsent {
                id: r.id,
                client_id: r.client_id,
                client_name: r.client_name,
                scopes: r.scopes.split_whitespace().map(str::to_owned).collect(),
                granted_at: r.granted_at,
            })
            .collect(),
    }))
}

/// Withdraws a consent: the app's refresh and access tokens stop working, and it must ask
/// again.
#[utoipa::path(delete, path = "/api/v1/auth/oauth-consents/{id}", tag = "oauth",
    params(("id" = Uuid, Path)),
    responses(
        (status = 204),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn withdraw(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let scope = TenantScope::verified(principal.tenant_id);
    let consent = state
        .store
        .withdraw_consent(&scope, principal.user_id, id)
        .await?;
    let ended = state
        .identity
        .end_client_families(&scope, principal.user_id, &consent.client_id)
        .await?;
    let event = ctx
        .origin()
        .event(
            principal.actor(),
            "oauth.consent.withdraw",
            Outcome::Success,
        )
        .target(format!("oauth-client:{}", consent.client_id))
        .detail(json!({ "client_name": consent.client_name, "sign_ins_ended": ended }));
    audit::record(&state.store, principal.tenant_id, event).await?;
    Ok(StatusCode::NO_CONTENT)
}
