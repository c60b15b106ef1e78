//! Request guards that run before the handlers: rate limits through `kv`, per client address
//! before authentication, and per tenant and per caller after it.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::AppState;
use crate::identity::{Credential, Principal};
use crate::kv::{RateDecision, RateLimit};

fn peer(request: &Request) -> Option<SocketAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// GCRA per client address over the API, with `RateLimit-*` headers on every answer
/// (draft-ietf-httpapi-ratelimit-headers) and 429 + `Retry-After` when exceeded.
pub async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let per_second = state.settings.http.rate_limit_per_second;
    if per_second == 0 {
        return next.run(request).await;
    }
    let client = peer(&request).map_or_else(|| "in-process".to_string(), |a| a.ip().to_string());
    let buckets = [(
        format!("api:ip:{client}"),
        RateLimit::per_second(per_second),
    )];
    limited(&state, &buckets, request, next).await
}

/// After authentication: one bucket for the caller's tenant and one for the caller (its
/// API key when it used one), each configurable per tenant (`/api/v1/tenants/{id}/limits`).
pub async fn principal_limits(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(principal) = request.extensions().get::<Principal>().cloned() else {
        return next.run(request).await;
    };
    let limits = match state.limits.of(&state.store, principal.tenant_id).await {
        Ok(limits) => limits,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let tenant = principal.tenant_id;
    let who = match principal.credential {
        Credential::ApiKey { id } => format!("key:{id}"),
        _ => format!("user:{}", principal.user_id),
    };
    let mut buckets = Vec::with_capacity(2);
    if limits.tenant_per_second > 0 {
        buckets.push((
            format!("t:{tenant}:rl:tenant"),
            RateLimit::per_second(limits.tenant_per_second),
        ));
    }
    if limits.principal_per_second > 0 {
        buckets.push((
            format!("t:{tenant}:rl:{who}"),
            RateLimit::per_second(limits.principal_per_second),
        ));
    }
    limited(&state, &buckets, request, next).await
}

/// Takes one token from each bucket; refuses with 429 when any is empty, and reports the
/// tightest bucket in the headers (unless an inner limiter already reported a tighter one).
async fn limited(
    state: &AppState,
    buckets: &[(String, RateLimit)],
    request: Request,
    next: Next,
) -> Response {
    let mut tightest: Option<RateDecision> = None;
    for (key, rate) in buckets {
        let decision = match state.kv.rate_limit(key, rate).await {
            Ok(decision) => decision,
            Err(e) => return ApiError::from(e).into_response(),
        };
        let tighter = tightest
            .is_none_or(|t| (!decision.allowed && t.allowed) || decision.remaining < t.remaining);
        if tighter {
            tightest = Some(decision);
        }
        if !decision.allowed {
            break;
        }
    }
    let Some(decision) = tightest else {
        return next.run(request).await;
    };
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        ApiError::RateLimited(decision.retry_after.as_secs_f64().ceil().max(1.0) as u64)
            .into_response()
    };
    let headers = response.headers_mut();
    let reported = headers
        .get("ratelimit-remaining")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok());
    if reported.is_none_or(|r| decision.remaining < r) {
        headers.insert("ratelimit-limit", HeaderValue::from(decision.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(decision.remaining));
        headers.insert(
            "ratelimit-reset",
            HeaderValue::from(decision.reset_after.as_secs_f64().ceil() as u64),
        );
    }
    response
}
