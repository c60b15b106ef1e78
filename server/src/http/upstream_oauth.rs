//! Authorizing the gateway at OAuth-protected upstreams: `POST …/upstreams/{id}/authorize`
//! starts it (an administrator's act), the authorization server sends the same person back to
//! `GET /api/v1/upstream-oauth/callback`, and the gateway's own Client ID Metadata Document
//! is served for servers that fetch it.

use app::api::{AuthorizationStart, Problem};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::json;
use uuid::Uuid;

use super::audit::admin_action;
use super::authn::authorize;
use super::error::ApiError;
use super::extract::{Json, Path, RequestContext};
use crate::AppState;
use crate::access::Permission;
use crate::audit::Outcome;
use crate::gateway::upstream_oauth::{CALLBACK_PATH, CallbackAnswer, UpstreamAuthError};
use crate::identity::Principal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/tenants/{tenant_id}/upstreams/{id}/authorize",
            post(start),
        )
        .route(CALLBACK_PATH, get(callback))
}

impl From<UpstreamAuthError> for ApiError {
    fn from(error: UpstreamAuthError) -> Self {
        let status = match &error {
            UpstreamAuthError::Store(_) => {
                let UpstreamAuthError::Store(e) = error else {
                    unreachable!("matched above")
                };
                return e.into();
            }
            UpstreamAuthError::UnknownState | UpstreamAuthError::BadCallback(_) => {
                return ApiError::BadRequest(error.to_string());
            }
            UpstreamAuthError::OtherUser => return ApiError::Forbidden(error.to_string()),
            UpstreamAuthError::NotOAuth(_)
            | UpstreamAuthError::Refused(_)
            | UpstreamAuthError::Required(_)
            | UpstreamAuthError::StepUp(..) => StatusCode::CONFLICT,
            UpstreamAuthError::Upstream(_) => StatusCode::BAD_GATEWAY,
            UpstreamAuthError::Renewed(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => return ApiError::Internal(error.to_string()),
        };
        ApiError::Rejected {
            status,
            detail: error.to_string(),
        }
    }
}

/// Authorize the gateway at an OAuth-protected upstream. For the authorization code grant
/// the answer names the URL to open in the browser of the person authorizing, who must come
/// back signed in as the caller; for client credentials the grant is made at once.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/upstreams/{id}/authorize", tag = "upstreams",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 200, body = AuthorizationStart),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not an OAuth upstream, or authorizing again would not help", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The upstream or its authorization server could not be used", body = Problem, content_type = "application/problem+json"),
    ))]
async fn start(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    headers: HeaderMap,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<Json<AuthorizationStart>, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::UpstreamsWrite,
    )
    .await?;
    let upstream = state.upstreams.get(&scope, id).await?;
    let base = super::oauth::public_origin(&state, &headers);
    let oauth = state.upstreams.oauth();
    let started = oauth
        .start(&scope, &upstream, principal.user_id, &base)
        .await;
    let outcome = if started.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    let detail = match &started {
        Ok(s) => json!({ "name": upstream.name, "interactive": s.authorization_url.is_some() }),
        Err(e) => json!({ "name": upstream.name, "error": e.to_string() }),
    };
    let event = ctx
        .origin()
        .event(principal.actor(), "upstream.authorize", outcome)
        .target(format!("upstream:{id}"))
        .detail(detail);
    crate::audit::record(&state.store, tenant_id, event).await?;
    let started = started?;
    if started.authorization_url.is_none() {
        // Client credentials: granted already; the next call opens a session with it.
        state.gateway.pool().evict(id);
    }
    Ok(Json(started))
}

/// The authorization server's answer (RFC 6749 §4.1.2): the code is exchanged, and the
/// browser goes back to the console's upstreams page; an API client asking for JSON gets
/// the upstream's id. Only the person who started the flow can finish it.
#[utoipa::path(get, path = "/api/v1/upstream-oauth/callback", tag = "upstreams",
    params(
        ("state" = String, Query), ("code" = Option<String>, Query), ("iss" = Option<String>, Query),
        ("error" = Option<String>, Query), ("error_description" = Option<String>, Query),
    ),
    responses(
        (status = 303, description = "Authorized; on to the console"),
        (status = 200, description = "Authorized (for `Accept: application/json`)"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Started by someone else", body = Problem, content_type = "application/problem+json"),
        (status = 502, body = Problem, content_type = "application/problem+json"),
    ))]
async fn callback(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    headers: HeaderMap,
    Query(answer): Query<CallbackAnswer>,
) -> Result<Response, ApiError> {
    let flow = answer
        .state
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest("the answer has no `state`".into()))?;
    let finished = state
        .upstreams
        .oauth()
        .finish(flow, principal.user_id, &answer)
        .await?;
    let id = finished.upstream_id;
    state.gateway.pool().evict(id);
    admin_action(
        &state,
        &principal,
        &ctx,
        finished.tenant_id,
        "upstream.authorized",
        format!("upstream:{id}"),
        json!({}),
    )
    .await?;
    state.mcp.watch.announce(finished.tenant_id, "all").await;
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let body =
            json!({ "tenant_id": finished.tenant_id, "upstream_id": id, "authorized": true });
        return Ok((StatusCode::OK, Json(body)).into_response());
    }
    let page = format!("/upstreams?tenant={}&authorized={id}", finished.tenant_id);
    Ok(Redirect::to(&page).into_response())
}
