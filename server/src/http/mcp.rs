//! `/mcp/{tenant}` and `/mcp/{tenant}/{virtual-server}`: the tenant's MCP endpoints
//! (Streamable HTTP). Before rmcp sees a request, this layer
//! - refuses a `Host` it does not serve, and a browser `Origin` that is neither the
//!   endpoint's own nor configured (403; MCP 2025-11-25 basic/transports §Security Warning,
//!   against DNS rebinding);
//! - resolves the tenant by slug and the virtual server by name (404 when unknown);
//! - authenticates a bearer JWT or API key (401 with `WWW-Authenticate`, RFC 6750 §3; no
//!   cookies: a page must not drive a user's tools);
//! - admits a named session only for its owner, on any replica (404 when unknown, expired,
//!   ended or someone else's: the client initializes again);
//! - takes a session's answer to an ask another replica made (sampling, elicitation:
//!   `gateway::Answers`), which rmcp here would not know;
//! - lets a `Last-Event-ID` resume only the session's own streams (400 otherwise; the
//!   events themselves are `gateway::Events`, on any replica).
//!
//! Afterwards it records the owner of a session rmcp opened, ends one on DELETE, and closes
//! a session's SSE answer after `gateway.sse_poll_ms` for the client to resume (SEP-1699).
//! Errors are JSON-RPC error objects with `id: null`, as the transport section shows.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::extract::RequestContext;
use crate::AppState;
use crate::gateway::{self, McpCaller, Owner};
use crate::identity::{AuthError, Principal};
use crate::store::StoreError;
use crate::tenancy::TenantScope;

const SESSION_HEADER: &str = "mcp-session-id";

pub fn router(state: AppState) -> Router {
    let body_limit = state.settings.http.body_limit_bytes;
    let replica = gateway::Replica {
        watch: state.mcp.watch.clone(),
        cancels: state.mcp.cancels.clone(),
        answers: state.mcp.answers.clone(),
        sessions: state.mcp.sessions.clone(),
        events: state.mcp.events.clone(),
    };
    let service = gateway::mcp_service(
        state.gateway.clone(),
        replica,
        std::time::Duration::from_secs(state.settings.gateway.session_idle_secs.max(1)),
        body_limit,
        state.mcp.shutdown.clone(),
    );
    Router::new()
        .route_service("/mcp/{tenant}", service.clone())
        .route_service("/mcp/{tenant}/{server}", service)
        .route_layer(from_fn_with_state(state, admit))
}

/// A JSON-RPC error answer outside any request (`id: null`).
fn refuse(status: StatusCode, code: i32, message: impl Into<String>) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": message.into() },
    });
    (status, axum::Json(body)).into_response()
}

/// A 401 whose challenge names the endpoint's Protected Resource Metadata (RFC 9728 §5.1),
/// where an MCP client finds the authorization server to get a token from.
fn unauthorized(detail: &str, invalid_token: bool, resource: &Resource) -> Response {
    let mut response = refuse(StatusCode::UNAUTHORIZED, -32001, detail);
    let metadata = format!(
        "resource_metadata=\"{}\", scope=\"{}\"",
        resource.metadata_url(),
        crate::gateway::oauth::SCOPE
    );
    let challenge = if invalid_token {
        format!(
            "Bearer realm=\"switchyard\", error=\"invalid_token\", error_description=\"{detail}\", {metadata}"
        )
    } else {
        format!("Bearer realm=\"switchyard\", {metadata}")
    };
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// The endpoint as a protected resource: its canonical URI, the only `aud` besides the
/// API's that its tokens may carry (RFC 8707 §2).
struct Resource {
    origin: String,
    /// `/mcp/{tenant}[/{server}]`.
    path: String,
}

impl Resource {
    fn uri(&self) -> String {
        format!("{}{}", self.origin, self.path)
    }

    /// RFC 9728 §3.1: the well-known name inserted before the resource's path.
    fn metadata_url(&self) -> String {
        format!(
            "{}/.well-known/oauth-protected-resource{}",
            self.origin, self.path
        )
    }
}

/// Whether the request's `Host` is one this endpoint answers to (see `allowed_hosts`).
pub(super) fn host_allowed(
    headers: &HeaderMap,
    allowed: &[String],
    bind: std::net::SocketAddr,
) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    // `name`, `name:port`, `[v6]`, `[v6]:port`.
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    if !allowed.is_empty() {
        return allowed.iter().any(|a| {
            let a = a.to_ascii_lowercase();
            a == host || a == name
        });
    }
    if !bind.ip().is_loopback() {
        return true;
    }
    matches!(name, "localhost" | "127.0.0.1" | "::1")
}

/// Whether the request's `Origin`, if any, is the endpoint's own or an allowed one.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let origin = origin.to_str().unwrap_or_default().trim_end_matches('/');
    if allowed.iter().any(|a| a.trim_end_matches('/') == origin) {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map_or("", |(_, h)| h);
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

async fn bearer_principal(
    state: &AppState,
    headers: &HeaderMap,
    resource: &Resource,
) -> Result<Principal, Response> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            "send `Authorization: Bearer <token or API key>`",
            false,
            resource,
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| unauthorized("only Bearer authorization is accepted", true, resource))?;
    let identity = &state.identity;
    let verified = if token.starts_with(crate::identity::API_KEY_PREFIX) {
        identity.verify_api_key(token).await
    } else {
        identity
            .verify_access_at(token, Some(&resource.uri()))
            .await
    };
    verified.map_err(|error| match error {
        AuthError::InvalidToken(detail) => unauthorized(detail, true, resource),
        AuthError::InvalidCredentials => {
            unauthorized("the credential is not valid", true, resource)
        }
        AuthError::Disabled => refuse(StatusCode::FORBIDDEN, -32001, error.to_string()),
        other => {
            tracing::error!(error = %other, "MCP authentication failed");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                -32603,
                "authentication is unavailable",
            )
        }
    })
}

/// The endpoint's path: the tenant's slug, and a virtual server's name if it is one.
#[derive(serde::Deserialize)]
struct Endpoint {
    tenant: String,
    server: Option<String>,
}

async fn admit(
    State(state): State<AppState>,
    Path(Endpoint { tenant, server }): Path<Endpoint>,
    ctx: RequestContext,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    let gateway = &state.settings.gateway;
    if !host_allowed(
        request.headers(),
        &gateway.allowed_hosts,
        state.settings.http.bind,
    ) {
        return refuse(StatusCode::FORBIDDEN, -32600, "Host not allowed");
    }
    if !origin_allowed(request.headers(), &gateway.allowed_origins) {
        return refuse(StatusCode::FORBIDDEN, -32600, "Origin not allowed");
    }
    let (tenant, config_version) = match state.store.tenant_by_slug(&tenant).await {
        Ok(found) => found,
        Err(StoreError::NotFound(_)) => {
            return refuse(StatusCode::NOT_FOUND, -32600, "no MCP endpoint here");
        }
        Err(error) => {
            tracing::error!(%error, "tenant lookup failed");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, -32603, "try again shortly");
        }
    };
    let resource = Resource {
        origin: super::oauth::public_origin(&state, request.headers()),
        path: match &server {
            Some(name) => format!("/mcp/{}/{name}", tenant.slug),
            None => format!("/mcp/{}", tenant.slug),
        },
    };
    let principal = match bearer_principal(&state, request.headers(), &resource).await {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    // Members only: a token of another tenant (platform administrators included) does not
    // open this tenant's tools; the answer does not say whether the tenant exists.
    if principal.tenant_id != tenant.id {
        return refuse(StatusCode::NOT_FOUND, -32600, "no MCP endpoint here");
    }
    if principal.must_enrol_mfa {
        return refuse(
            StatusCode::FORBIDDEN,
            -32001,
            "a role you hold requires a second factor: enrol TOTP, then sign in again",
        );
    }
    let scope = TenantScope::verified(tenant.id);
    if let Some(name) = &server {
        match state.gateway.serves(&scope, config_version, name).await {
            Ok(true) => {}
            Ok(false) => return refuse(StatusCode::NOT_FOUND, -32600, "no MCP endpoint here"),
            Err(error) => {
                tracing::error!(%error, "virtual server lookup failed");
                return refuse(StatusCode::SERVICE_UNAVAILABLE, -32603, "try again shortly");
            }
        }
    }
    let owner = Owner::of(&principal, server.as_deref());
    let session = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(id) = &session {
        match state.mcp.sessions.admit(id, &owner).await {
            Ok(true) => {}
            Ok(false) => return refuse(StatusCode::NOT_FOUND, -32001, "Session not found"),
            Err(error) => {
                tracing::error!(%error, "session lookup failed");
                return refuse(StatusCode::SERVICE_UNAVAILABLE, -32603, "try again shortly");
            }
        }
    }
    let method = request.method().clone();
    // Resuming (MCP 2025-11-25 §Resumability): only into this session's own streams.
    if let (Some(id), Some(last)) = (&session, request.headers().get("last-event-id")) {
        let last = last.to_str().unwrap_or_default();
        let resumable = gateway::resumable_by(last, id);
        state
            .metrics
            .sse_resume(if resumable { "resumed" } else { "refused" });
        if !resumable {
            return refuse(
                StatusCode::BAD_REQUEST,
                -32600,
                "Last-Event-ID does not name an event of this session's streams",
            );
        }
    }
    // A session's POST may answer an ask another replica made (`gateway::Answers`).
    if let (Some(id), &Method::POST) = (&session, &method) {
        let (parts, body) = request.into_parts();
        let limit = state.settings.http.body_limit_bytes;
        let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                -32600,
                "request body too large",
            );
        };
        if state.mcp.answers.take(id, &bytes).await {
            return StatusCode::ACCEPTED.into_response();
        }
        request = Request::from_parts(parts, Body::from(bytes));
    }
    request.extensions_mut().insert(Arc::new(McpCaller {
        scope,
        principal,
        origin: ctx.origin(),
        config_version,
        server,
    }));
    let mut response = next.run(request).await;
    let outcome = match (&session, method) {
        (None, Method::POST) => match response.headers().get(SESSION_HEADER) {
            Some(id) => {
                let id = id.to_str().unwrap_or_default().to_owned();
                state.mcp.sessions.bind(&id, &owner).await
            }
            None => Ok(()),
        },
        (Some(id), Method::DELETE) => {
            // This replica may never have held the session in memory; it existed all the
            // same (it was admitted), and now it has ended everywhere.
            if response.status() == StatusCode::NOT_FOUND {
                response = StatusCode::OK.into_response();
            }
            state.mcp.sessions.end(id).await
        }
        (Some(_), Method::POST) => {
            poll(&mut response, state.settings.gateway.sse_poll_ms);
            Ok(())
        }
        _ => Ok(()),
    };
    if let Err(error) = outcome {
        // An unrecorded session would be refused on its next request: say so now.
        tracing::error!(%error, "session record failed");
        return refuse(StatusCode::SERVICE_UNAVAILABLE, -32603, "try again shortly");
    }
    response
}

/// Closes a session's SSE answer after `after_ms` (0: never), for the client to resume.
fn poll(response: &mut Response, after_ms: u64) {
    let streams = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
    if after_ms == 0 || !streams {
        return;
    }
    let body = std::mem::take(response.body_mut());
    *response.body_mut() =
        gateway::PollAfter(std::time::Duration::from_millis(after_ms)).wrap(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn hosts_are_checked_against_the_list_or_loopback() {
        let loopback: std::net::SocketAddr = "127.0.0.1:3000".parse().unwrap();
        let anywhere: std::net::SocketAddr = "0.0.0.0:3000".parse().unwrap();
        for ok in ["localhost:3000", "127.0.0.1", "[::1]:3000", "LOCALHOST"] {
            assert!(host_allowed(&host(ok), &[], loopback), "{ok}");
        }
        assert!(!host_allowed(&host("evil.example.com"), &[], loopback));
        assert!(host_allowed(&host("evil.example.com"), &[], anywhere));
        let listed = [
            "gateway.example.com".to_owned(),
            "other.example.com:8443".to_owned(),
        ];
        assert!(host_allowed(
            &host("gateway.example.com:443"),
            &listed,
            anywhere
        ));
        assert!(host_allowed(
            &host("other.example.com:8443"),
            &listed,
            anywhere
        ));
        assert!(!host_allowed(
            &host("other.example.com:9000"),
            &listed,
            anywhere
        ));
        assert!(!host_allowed(&host("localhost"), &listed, loopback));
    }
}
