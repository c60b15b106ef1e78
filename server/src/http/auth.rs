//! `/api/v1/auth/*`: sign-in for apps (tokens) and the console (session cookie), refresh,
//! revocation, the caller's profile, password change, MFA enrolment, and the JWKS.

use app::api::{
    Me, MfaCode, MfaEnrolment, PasswordChange, Problem, RecoveryCodes, RefreshToken, SignIn,
    TokenResponse,
};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::authn::cookie;
use super::error::ApiError;
use super::extract::{Json, RequestContext};
use crate::AppState;
use crate::config::Secret;
use crate::identity::{Credential, Login, Principal, TokenPair};
use crate::tenancy::TenantScope;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/token", post(token))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/revoke", post(revoke))
        .route(
            "/api/v1/auth/session",
            post(open_session).delete(close_session),
        )
        .route("/api/v1/auth/me", get(me))
        .route("/api/v1/auth/password", post(change_password))
        .route(
            "/api/v1/auth/sign-out-everywhere",
            post(sign_out_everywhere),
        )
        .route("/api/v1/auth/mfa/totp", post(begin_totp))
        .route("/api/v1/auth/mfa/totp/confirm", post(confirm_totp))
        .route("/api/v1/auth/mfa/totp/disable", post(disable_totp))
        .route("/.well-known/jwks.json", get(jwks))
}

fn login<'a>(body: &'a SignIn) -> Login<'a> {
    Login {
        tenant: &body.tenant,
        email: &body.email,
        password: Secret::new(body.password.clone()),
        mfa_code: body.mfa_code.as_deref(),
    }
}

fn token_response(pair: TokenPair) -> Response {
    let body = TokenResponse {
        access_token: pair.access_token,
        token_type: "Bearer".into(),
        expires_in: pair.expires_in,
        refresh_token: pair.refresh_token,
    };
    // RFC 6749 §5.1: token responses must not be cached.
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// Sign in with password (and TOTP or recovery code) for an access and a refresh token.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", request_body = SignIn,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Wrong credentials, or `mfa-required`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Account disabled", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Throttled or locked; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ))]
async fn token(
    State(state): State<AppState>,
    ctx: RequestContext,
    Json(body): Json<SignIn>,
) -> Result<Response, ApiError> {
    let signed_in = state.identity.sign_in(login(&body), &ctx.origin()).await?;
    let pair = state.identity.start_family(&signed_in.principal).await?;
    Ok(token_response(pair))
}

/// Exchange a refresh token for new tokens; the old refresh token is spent. Presenting a
/// spent token revokes the whole sign-in.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshToken,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
async fn refresh(
    State(state): State<AppState>,
    ctx: RequestContext,
    Json(body): Json<RefreshToken>,
) -> Result<Response, ApiError> {
    let (pair, _) = state
        .identity
        .refresh(&body.refresh_token, &ctx.origin())
        .await?;
    Ok(token_response(pair))
}

/// Revoke the sign-in a refresh token belongs to (RFC 7009: unknown tokens also get 200).
#[utoipa::path(post, path = "/api/v1/auth/revoke", tag = "auth", request_body = RefreshToken,
    responses((status = 200, description = "Revoked (or unknown)")))]
async fn revoke(
    State(state): State<AppState>,
    ctx: RequestContext,
    Json(body): Json<RefreshToken>,
) -> Result<StatusCode, ApiError> {
    state
        .identity
        .revoke_refresh(&body.refresh_token, &ctx.origin())
        .await?;
    Ok(StatusCode::OK)
}

fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: u64,
    http_only: bool,
) -> HeaderValue {
    let secure = if state.identity.settings().secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let http_only = if http_only { "; HttpOnly" } else { "" };
    let text =
        format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite=Lax{secure}{http_only}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Console sign-in: sets the session cookie (HttpOnly) and the CSRF cookie, and returns the
/// caller with its CSRF token.
#[utoipa::path(post, path = "/api/v1/auth/session", tag = "auth", request_body = SignIn,
    responses(
        (status = 200, body = Me),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
async fn open_session(
    State(state): State<AppState>,
    ctx: RequestContext,
    Json(body): Json<SignIn>,
) -> Result<Response, ApiError> {
    let signed_in = state.identity.sign_in(login(&body), &ctx.origin()).await?;
    let cookie = state.identity.open_session(&signed_in.principal).await?;
    let mut principal = signed_in.principal;
    principal.credential = Credential::Session {
        csrf: cookie.csrf.clone(),
    };
    let me = describe(&state, &principal).await?;
    let (session_name, csrf_name) = state.identity.cookie_names();
    let mut response = Json(me).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(
            &state,
            session_name,
            &cookie.session,
            cookie.max_age_secs,
            true,
        ),
    );
    headers.append(
        header::SET_COOKIE,
        set_cookie(&state, csrf_name, &cookie.csrf, cookie.max_age_secs, false),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Sign out: ends the console session (or, with a bearer token, its sign-in) and clears the
/// cookies.
#[utoipa::path(delete, path = "/api/v1/auth/session", tag = "auth",
    responses((status = 204, description = "Signed out")))]
async fn close_session(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Option<Principal>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (session_name, csrf_name) = state.identity.cookie_names();
    if let Some(value) = cookie(&headers, session_name) {
        state.identity.close_session(value).await?;
    }
    if let Some(p) = &principal {
        if let Credential::Bearer { family } = p.credential {
            state
                .identity
                .end_family(p.tenant_id, p.user_id, family, &ctx.origin())
                .await?;
        } else {
            let event = ctx
                .origin()
                .event(
                    p.actor(),
                    "auth.session.end",
                    crate::audit::Outcome::Success,
                )
                .target(p.actor());
            crate::audit::record(&state.store, p.tenant_id, event).await?;
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    for name in [session_name, csrf_name] {
        response
            .headers_mut()
            .append(header::SET_COOKIE, set_cookie(&state, name, "", 0, true));
    }
    Ok(response)
}

pub(super) async fn describe(state: &AppState, principal: &Principal) -> Result<Me, ApiError> {
    let tenant = state.store.get_tenant(principal.tenant_id).await?;
    let scope = TenantScope::verified(principal.tenant_id);
    let account = state.store.credentials(&scope, principal.user_id).await?;
    let (by, csrf) = match &principal.credential {
        Credential::Bearer { .. } => ("bearer", None),
        Credential::Session { csrf } => ("session", Some(csrf.clone())),
        Credential::ApiKey { .. } => ("api_key", None),
        Credential::Run { .. } => ("workflow_run", None),
    };
    Ok(Me {
        user_id: principal.user_id,
        tenant_id: principal.tenant_id,
        tenant_slug: tenant.slug,
        email: principal.email.clone(),
        platform_admin: principal.platform_admin,
        roles: principal.roles.clone(),
        permissions: principal.effective().names(),
        authenticated_by: by.into(),
        mfa_enabled: account.totp_enabled,
        mfa_enrolment_required: principal.must_enrol_mfa,
        csrf_token: csrf,
    })
}

/// The caller: identity, tenant, roles and effective permissions.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses(
        (status = 200, body = Me),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
async fn me(State(state): State<AppState>, principal: Principal) -> Result<Json<Me>, ApiError> {
    Ok(Json(describe(&state, &principal).await?))
}

/// Change the caller's password; every other session and sign-in of the caller ends.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed"),
        (status = 401, description = "Current password wrong", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "New password too short or long", body = Problem, content_type = "application/problem+json"),
    ))]
async fn change_password(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Json(body): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    super::check_password(&state, "new_password", &body.new_password)?;
    state
        .identity
        .change_password(
            &principal,
            Secret::new(body.current_password),
            Secret::new(body.new_password),
            &ctx.origin(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End every session and sign-in of the caller, on every device.
#[utoipa::path(post, path = "/api/v1/auth/sign-out-everywhere", tag = "auth",
    responses((status = 204, description = "Signed out everywhere")))]
async fn sign_out_everywhere(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
) -> Result<StatusCode, ApiError> {
    state
        .identity
        .sign_out_everywhere(&principal, principal.user_id, &ctx.origin())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start TOTP enrolment: a new secret as text, `otpauth://` URI and QR code.
#[utoipa::path(post, path = "/api/v1/auth/mfa/totp", tag = "auth",
    responses(
        (status = 200, body = MfaEnrolment),
        (status = 403, description = "TOTP already enabled", body = Problem, content_type = "application/problem+json"),
    ))]
async fn begin_totp(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<MfaEnrolment>, ApiError> {
    let enrolment = state.identity.begin_totp(&principal).await?;
    let qr_svg = super::qr::svg(&enrolment.otpauth_uri)
        .ok_or_else(|| ApiError::Internal("QR code encoding failed".into()))?;
    Ok(Json(MfaEnrolment {
        secret: enrolment.secret_base32,
        otpauth_uri: enrolment.otpauth_uri,
        qr_svg,
    }))
}

/// Confirm TOTP enrolment with a current code; returns ten one-time recovery codes.
#[utoipa::path(post, path = "/api/v1/auth/mfa/totp/confirm", tag = "auth", request_body = MfaCode,
    responses(
        (status = 200, body = RecoveryCodes),
        (status = 401, description = "Wrong code", body = Problem, content_type = "application/problem+json"),
    ))]
async fn confirm_totp(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Json(body): Json<MfaCode>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let codes = state
        .identity
        .confirm_totp(&principal, &body.code, &ctx.origin())
        .await?;
    Ok(Json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

/// Turn TOTP off for the caller, proven with a current code or a recovery code.
#[utoipa::path(post, path = "/api/v1/auth/mfa/totp/disable", tag = "auth", request_body = MfaCode,
    responses(
        (status = 204, description = "Disabled"),
        (status = 401, description = "Wrong code", body = Problem, content_type = "application/problem+json"),
    ))]
async fn disable_totp(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Json(body): Json<MfaCode>,
) -> Result<StatusCode, ApiError> {
    state
        .identity
        .disable_own_totp(&principal, &body.code, &ctx.origin())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The public keys that verify access tokens (RFC 7517 JWK Set).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "JWK Set", body = Object)))]
async fn jwks(State(state): State<AppState>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.identity.jwks()),
    )
        .into_response()
}
