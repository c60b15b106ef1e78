//! The OAuth endpoints MCP clients use (MCP 2025-11-25 basic/authorization), outside `/api`:
//! - `/.well-known/oauth-protected-resource/mcp/{tenant}[/{server}]`: Protected Resource
//!   Metadata (RFC 9728 §3, the path of the resource inserted after the well-known name);
//! - `/.well-known/oauth-authorization-server/oauth/{tenant}`: the tenant's authorization
//!   server metadata (RFC 8414 §3.1, likewise);
//! - `/oauth/{tenant}/authorize`, `/token`, `/register` (OAuth 2.1 §3, RFC 7591 §3).
//!
//! Errors are the OAuth JSON error documents (RFC 6749 §5.2), or, where the client and its
//! redirect URI are not yet trusted, a page for the person in the browser.

use axum::Json;
use axum::Router;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::authn::cookie;
use super::extract::RequestContext;
use super::{guard, mcp};
use crate::AppState;
use crate::gateway::oauth::{
    AuthorizeParams, Authorized, Issuer, OAuthError, Registration, SCOPE, TokenParams,
};
use crate::kv::RateLimit;
use crate::store::StoreError;
use crate::tenancy::TenantScope;

/// Client registrations one address may make per minute.
const REGISTRATIONS_PER_MINUTE: u32 = 20;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/.well-known/oauth-protected-resource/mcp/{tenant}",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp/{tenant}/{server}",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server/oauth/{tenant}",
            get(server_metadata),
        )
        .route(
            crate::gateway::upstream_oauth::CLIENT_METADATA_PATH,
            get(upstream_client_metadata),
        )
        .route("/oauth/{tenant}/authorize", get(authorize))
        .route("/oauth/{tenant}/token", post(token).options(preflight))
        .route(
            "/oauth/{tenant}/register",
            post(register).options(preflight),
        )
        .layer(from_fn_with_state(state.clone(), guard::rate_limit))
        .with_state(state)
}

/// The server's public origin: the configured one, else what the request's (vetted) `Host`
/// names.
pub(super) fn public_origin(state: &AppState, headers: &HeaderMap) -> String {
    let configured = state.settings.oauth.public_url.trim_end_matches('/');
    if !configured.is_empty() {
        return configured.to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// The gateway's own Client ID Metadata Document (draft-ietf-oauth-client-id-metadata-document):
/// who it is to upstream authorization servers that take such documents. Served only when it
/// is the configured one, at an https public URL.
async fn upstream_client_metadata(State(state): State<AppState>) -> Response {
    let settings = &state.settings.oauth;
    let client_id = settings.upstream_client_id();
    let base = settings.public_url.trim_end_matches('/');
    let own = format!(
        "{base}{}",
        crate::gateway::upstream_oauth::CLIENT_METADATA_PATH
    );
    if client_id.is_empty() || client_id != own {
        return StatusCode::NOT_FOUND.into_response();
    }
    public_json(json!({
        "client_id": client_id,
        "client_name": "Switchyard gateway",
        "redirect_uris": [format!("{base}{}", crate::gateway::upstream_oauth::CALLBACK_PATH)],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }))
}

/// An OAuth error document (RFC 6749 §5.2); 5xx for faults of ours, logged, never detailed.
fn oauth_error(error: OAuthError) -> Response {
    let mut response = match error.code() {
        Some(code) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": code, "error_description": error.to_string() })),
        )
            .into_response(),
        None => {
            tracing::error!(%error, "OAuth request failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": "server_error", "error_description": "try again shortly" })),
            )
                .into_response()
        }
    };
    no_store(&mut response);
    response
}

/// Token and registration answers carry secrets: never cached (OAuth 2.1 §3.2.3).
fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// Metadata is fetched by browser-based clients from other origins; it carries no secrets.
fn public_json(value: serde_json::Value) -> Response {
    let mut response = Json(value).into_response();
    allow_any_origin(&mut response);
    response
}

/// The tenant's authorization server as this request reaches it (with the tenant's
/// configuration version), or the answer to give.
async fn issuer_of(
    state: &AppState,
    headers: &HeaderMap,
    slug: &str,
) -> Result<(Issuer, i64), Response> {
    if !mcp::host_allowed(
        headers,
        &state.settings.gateway.allowed_hosts,
        state.settings.http.bind,
    ) {
        return Err((StatusCode::FORBIDDEN, "Host not allowed").into_response());
    }
    match state.store.tenant_by_slug(slug).await {
        Ok((tenant, version)) => Ok((
            Issuer {
                tenant_id: tenant.id,
                slug: tenant.slug,
                public: public_origin(state, headers),
            },
            version,
        )),
        Err(StoreError::NotFound(_)) => Err((
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "invalid_request", "error_description": "no such tenant" })),
        )
            .into_response()),
        Err(error) => Err(oauth_error(OAuthError::Store(error))),
    }
}

async fn issuer(state: &AppState, headers: &HeaderMap, slug: &str) -> Result<Issuer, Response> {
    issuer_of(state, headers, slug)
        .await
        .map(|(issuer, _)| issuer)
}

#[derive(serde::Deserialize)]
struct ResourcePath {
    tenant: String,
    server: Option<String>,
}

/// RFC 9728 §3.2. The resource is the endpoint itself; its authorization server is the
/// tenant's.
async fn resource_metadata(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(ResourcePath { tenant, server }): Path<ResourcePath>,
) -> Response {
    let (issuer, version) = match issuer_of(&state, &headers, &tenant).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let mut resource = issuer.resource();
    if let Some(name) = &server {
        let scope = TenantScope::verified(issuer.tenant_id);
        match state.gateway.serves(&scope, version, name).await {
            Ok(true) => resource = format!("{resource}/{name}"),
            Ok(false) => return StatusCode::NOT_FOUND.into_response(),
            Err(error) => return oauth_error(OAuthError::Internal(error.to_string())),
        }
    }
    public_json(json!({
        "resource": resource,
        "authorization_servers": [issuer.url()],
        "scopes_supported": [SCOPE],
        "bearer_methods_supported": ["header"],
        "resource_name": format!("Switchyard MCP endpoint of {}", issuer.slug),
    }))
}

async fn server_metadata(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> Response {
    match issuer(&state, &headers, &tenant).await {
        Ok(issuer) => public_json(issuer.metadata()),
        Err(response) => response,
    }
}

/// OAuth 2.1 §4.1.1. The consent page is the console's; the user signs in there first.
async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: RequestContext,
    Path(tenant): Path<String>,
    params: Result<Query<AuthorizeParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let issuer = match issuer(&state, &headers, &tenant).await {
        Ok(issuer) => issuer,
        Err(response) => return response,
    };
    let Query(params) = match params {
        Ok(params) => params,
        Err(rejection) => {
            return refusal_page(&OAuthError::InvalidRequest(rejection.body_text()));
        }
    };
    let (session_cookie, _) = state.identity.cookie_names();
    let signed_in = match cookie(&headers, session_cookie) {
        Some(value) => state
            .identity
            .session(value)
            .await
            .ok()
            .map(|s| s.principal),
        None => None,
    };
    match state
        .oauth
        .authorize(&issuer, &params, signed_in.as_ref(), &ctx.origin())
        .await
    {
        Ok(Authorized::Consent(request)) => {
            Redirect::to(&format!("/oauth/consent?request={request}")).into_response()
        }
        Ok(Authorized::Redirect(to)) => Redirect::to(&to).into_response(),
        Err(error) if error.code().is_some() => refusal_page(&error),
        Err(error) => oauth_error(error),
    }
}

/// The answer when the request cannot go back to the client: a page for its person, which
/// no other site may frame.
fn refusal_page(error: &OAuthError) -> Response {
    let text = error
        .to_string()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in request refused</title></head>\
         <body><h1>This sign-in request cannot be used</h1><p>{text}</p>\
         <p>Go back to the application and connect again.</p></body></html>"
    );
    let response = (StatusCode::BAD_REQUEST, axum::response::Html(page)).into_response();
    super::console::refuse_framing(response)
}

/// OAuth 2.1 §3.2; form-encoded (§3.2.2). Public clients: `client_id` in the form.
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: RequestContext,
    Path(tenant): Path<String>,
    form: Result<Form<TokenParams>, FormRejection>,
) -> Response {
    let issuer = match issuer(&state, &headers, &tenant).await {
        Ok(issuer) => issuer,
        Err(response) => return response,
    };
    let Form(params) = match form {
        Ok(form) => form,
        Err(rejection) => {
            return oauth_error(OAuthError::InvalidRequest(format!(
                "the body must be application/x-www-form-urlencoded token parameters: {}",
                rejection.body_text()
            )));
        }
    };
    match state.oauth.token(&issuer, &params, &ctx.origin()).await {
        Ok(tokens) => {
            let mut response = Json(tokens).into_response();
            no_store(&mut response);
            allow_any_origin(&mut response);
            response
        }
        Err(error) => {
            let mut response = oauth_error(error);
            allow_any_origin(&mut response);
            response
        }
    }
}

/// CORS preflight of a browser-based client's token or registration request: no cookies
/// are involved, so any origin may ask.
async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, authorization, mcp-protocol-version"),
    );
    response
}

fn allow_any_origin(response: &mut Response) {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

/// RFC 7591 §3: open registration of public clients; 201 with the client's metadata.
async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: RequestContext,
    Path(tenant): Path<String>,
    body: Result<Json<Registration>, JsonRejection>,
) -> Response {
    let issuer = match issuer(&state, &headers, &tenant).await {
        Ok(issuer) => issuer,
        Err(response) => return response,
    };
    // Registration is open to anyone (RFC 7591 §3): bound it per address, so nobody fills
    // the table.
    let who = ctx.client_addr.as_deref().unwrap_or("in-process");
    let rate = RateLimit::per_minute(REGISTRATIONS_PER_MINUTE);
    match state
        .kv
        .rate_limit(&format!("oauth:register:{who}"), &rate)
        .await
    {
        Ok(decision) if !decision.allowed => {
            let retry = decision.retry_after.as_secs().max(1);
            let mut response = oauth_error(OAuthError::InvalidRequest(format!(
                "too many registrations from this address; retry in {retry} s"
            )));
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            if let Ok(value) = HeaderValue::from_str(&retry.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
        Ok(_) => {}
        Err(error) => return oauth_error(OAuthError::Kv(error)),
    }
    let Json(registration) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return oauth_error(OAuthError::InvalidClientMetadata(rejection.body_text()));
        }
    };
    let scope = TenantScope::verified(issuer.tenant_id);
    let mut response = match state
        .oauth
        .register(&scope, registration, &ctx.origin())
        .await
    {
        Ok(client) => (StatusCode::CREATED, Json(client)).into_response(),
        Err(error) => oauth_error(error),
    };
    no_store(&mut response);
    allow_any_origin(&mut response);
    response
}
