//! Authentication of every API request, and the tenant/permission check of every handler.
//!
//! Credentials, in order: `Authorization: Bearer <JWT>` or `Bearer sy_<API key>`, else the
//! console session cookie. A presented credential that does not verify is answered 401 at
//! once (RFC 6750 §3.1 `invalid_token`); no credential at all leaves the request anonymous,
//! and handlers that need a [`Principal`] answer 401. Cookie-authenticated unsafe requests
//! need the session's CSRF token in `x-csrf-token` and, when the browser sends one, an
//! `Origin` equal to the request's host.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::error::ApiError;
use super::extract::RequestContext;
use crate::AppState;
use crate::access::Permission;
use crate::audit::{self, Outcome};
use crate::identity::{AuthError, Credential, Principal};
use crate::tenancy::TenantScope;

/// Resolves the caller's credential into a [`Principal`] request extension.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    match principal_of(&state, request.headers()).await {
        Ok(Some(principal)) => {
            if let Err(e) = check_csrf(&principal, request.method(), request.headers()) {
                return e.into_response();
            }
            if principal.must_enrol_mfa && !ENROLMENT_ROUTES.contains(&request.uri().path()) {
                return ApiError::MfaEnrolmentRequired(
                    "a role you hold requires a second factor: enrol TOTP at /api/v1/auth/mfa/totp, then sign in again (or refresh)".into(),
                )
                .into_response();
            }
            request.extensions_mut().insert(principal);
        }
        Ok(None) => {}
        Err(e) => return ApiError::from(e).into_response(),
    }
    next.run(request).await
}

/// What a caller who must enrol a second factor may still do.
const ENROLMENT_ROUTES: &[&str] = &[
    "/api/v1/auth/me",
    "/api/v1/auth/mfa/totp",
    "/api/v1/auth/mfa/totp/confirm",
    "/api/v1/auth/session",
    "/api/v1/auth/revoke",
    "/api/v1/auth/refresh",
    "/api/v1/auth/password",
    "/api/v1/auth/sign-out-everywhere",
];

async fn principal_of(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Principal>, AuthError> {
    let identity = &state.identity;
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value
            .to_str()
            .map_err(|_| AuthError::InvalidToken("the Authorization header is not text"))?;
        let token = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .ok_or(AuthError::InvalidToken(
                "only Bearer authorization is accepted",
            ))?
            .trim();
        let principal = if token.starts_with(crate::identity::API_KEY_PREFIX) {
            identity.verify_api_key(token).await?
        } else {
            identity.verify_access(token).await?
        };
        return Ok(Some(principal));
    }
    let (session_cookie, _) = identity.cookie_names();
    match cookie(headers, session_cookie) {
        Some(value) => Ok(Some(identity.session(value).await?.principal)),
        None => Ok(None),
    }
}

/// The value of cookie `name` in the request's `Cookie` headers (RFC 6265 §5.4).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn check_csrf(principal: &Principal, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    let Credential::Session { csrf } = &principal.credential else {
        return Ok(());
    };
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if let (Some(origin), Some(host)) = (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        let origin = origin.to_str().unwrap_or_default();
        let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
        if origin_host.as_bytes() != host.as_bytes() {
            return Err(ApiError::Forbidden(
                "cross-origin request refused (Origin does not match Host)".into(),
            ));
        }
    }
    let sent = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if sent.is_empty() || !bool::from(sent.as_bytes().ct_eq(csrf.as_bytes())) {
        return Err(ApiError::Forbidden(
            "missing or wrong CSRF token: send the session's token in x-csrf-token".into(),
        ));
    }
    Ok(())
}

/// The authenticated caller; handlers that take one answer 401 to anonymous requests.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(ApiError::Unauthorized {
                detail: "sign in first: send a bearer token, an API key or a session cookie".into(),
                invalid_token: false,
            })
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Principal>().cloned())
    }
}

/// The one gate of tenant-owned routes: the principal must belong to `tenant_id` (else 404,
/// as if the tenant did not exist: no existence leak across tenants) and hold `permission`
/// (else 403). Platform administrators pass for any tenant; crossings are audited.
pub async fn authorize(
    state: &AppState,
    principal: &Principal,
    ctx: &RequestContext,
    tenant_id: Uuid,
    permission: Permission,
) -> Result<TenantScope, ApiError> {
    if principal.tenant_id != tenant_id {
        if !principal.platform_admin {
            return Err(ApiError::NotFound("tenant not found".into()));
        }
        let scope = state.store.scope(tenant_id).await?;
        // Recorded in the administrator's own tenant (the target's trail gets a record of
        // every change the administrator makes there), at most once an hour per tenant, so
        // reads do not flood the trail.
        let marker = format!("t:{tenant_id}:crossing:{}", principal.user_id);
        if state
            .kv
            .acquire_lease(&marker, "1", std::time::Duration::from_secs(3600))
            .await?
        {
            let event = ctx
                .origin()
                .event(principal.actor(), "admin.cross_tenant", Outcome::Success)
                .target(format!("tenant:{tenant_id}"))
                .rule("platform-admin")
                .detail(serde_json::json!({ "permission": permission.as_str() }));
            audit::record(&state.store, principal.tenant_id, event).await?;
        }
        return Ok(scope);
    }
    if !principal.can(permission) {
        return Err(ApiError::Forbidden(format!(
            "this action needs the permission {}",
            permission.as_str()
        )));
    }
    Ok(state.store.scope(tenant_id).await?)
}

/// Platform-level actions (creating tenants, rotating keys) need a platform administrator.
pub fn require_platform_admin(principal: &Principal) -> Result<(), ApiError> {
    if principal.platform_admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this action needs a platform administrator".into(),
        ))
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidCredentials => ApiError::Unauthorized {
                detail: error.to_string(),
                invalid_token: false,
            },
            AuthError::InvalidToken(detail) => ApiError::Unauthorized {
                detail: detail.to_string(),
                invalid_token: true,
            },
            AuthError::Throttled(retry) | AuthError::Locked(retry) => ApiError::TooManyAttempts {
                detail: error.to_string(),
                retry_after: retry,
            },
            AuthError::Disabled => ApiError::Forbidden(error.to_string()),
            AuthError::MfaRequired => ApiError::MfaRequired(error.to_string()),
            AuthError::InvalidMfaCode => ApiError::Unauthorized {
                detail: error.to_string(),
                invalid_token: false,
            },
            AuthError::Refused(detail) => ApiError::Forbidden(detail),
            AuthError::Store(e) => e.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}
