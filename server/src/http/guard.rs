//! Request guards that run before any handler: per-client rate limiting through `kv`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::AppState;
use crate::kv::RateLimit;

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
    let rate = RateLimit::per_second(per_second);
    let decision = match state
        .kv
        .rate_limit(&format!("api:ip:{client}"), &rate)
        .await
    {
        Ok(decision) => decision,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        ApiError::RateLimited(decision.retry_after.as_secs_f64().ceil().max(1.0) as u64)
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert("ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(decision.remaining));
    headers.insert(
        "ratelimit-reset",
        HeaderValue::from(decision.reset_after.as_secs_f64().ceil() as u64),
    );
    response
}
