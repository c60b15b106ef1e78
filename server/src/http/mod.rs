//! The HTTP surface: `/api/v1` (REST, problem+json errors, OpenAPI), `/healthz`, `/readyz`,
//! `/metrics` and the console, under one middleware stack (request id, trace span, timeout,
//! metrics); the API adds rate limiting and authentication.

mod accounts;
mod audit;
mod auth;
mod authn;
mod chat;
mod chat_settings;
mod chat_stream;
mod console;
mod error;
mod explorer;
mod extract;
mod gateway_settings;
mod guard;
mod invitations;
mod keys;
mod llm;
mod mcp;
mod oauth;
mod oauth_grants;
mod openapi;
mod ops;
mod policies;
mod qr;
mod roles;
mod run_events;
mod runs;
mod tenants;
mod tools;
mod unread;
mod upstream_oauth;
mod upstreams;
mod users;
mod vector_indexes;
mod virtual_servers;
mod workflows;

pub use error::{ApiError, PROBLEM_JSON};
pub use openapi::document as openapi_document;

use std::time::{Duration, Instant};

use app::api::{DEFAULT_PAGE_SIZE, FieldError, MAX_PAGE_SIZE};
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::any;
use leptos::prelude::LeptosOptions;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::AppState;

/// The whole application router.
pub fn router(state: AppState, options: LeptosOptions) -> Router {
    let http = &state.settings.http;
    let api = Router::new()
        .merge(tenants::router())
        .merge(users::router())
        .merge(invitations::router())
        .merge(upstreams::router())
        .merge(upstream_oauth::router())
        .merge(virtual_servers::router())
        .merge(vector_indexes::router())
        .merge(llm::router())
        .merge(tools::router())
        .merge(audit::router())
        .merge(auth::router())
        .merge(keys::router())
        .merge(roles::router())
        .merge(accounts::router())
        .merge(policies::router())
        .merge(gateway_settings::router())
        .merge(explorer::router())
        .merge(oauth_grants::router())
        .merge(workflows::router())
        .merge(runs::router())
        .merge(run_events::router())
        .merge(chat::router())
        .route("/api/{*rest}", any(|| async { StatusCode::NOT_FOUND }))
        .layer(from_fn_with_state(state.clone(), guard::principal_limits))
        .layer(from_fn_with_state(state.clone(), authn::authenticate))
        .layer(from_fn_with_state(state.clone(), guard::rate_limit))
        .with_state(state.clone())
        .merge(SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", openapi::ApiDoc::openapi()))
        .layer(DefaultBodyLimit::max(http.body_limit_bytes))
        .layer(from_fn(error::finish_problems));

    Router::new()
        .merge(api.clone())
        .merge(ops::router().with_state(state.clone()))
        .merge(console::router(
            options,
            api,
            Duration::from_secs(http.request_timeout_secs),
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(http.request_timeout_secs),
        ))
        // MCP requests are bounded by each upstream's call timeout, and its SSE streams by
        // the session: the API's request timeout would cut both short.
        .merge(mcp::router(state.clone()))
        .merge(oauth::router(state.clone()))
        // A panicking handler answers 500 instead of dropping the connection.
        .layer(CatchPanicLayer::new())
        .layer(from_fn_with_state(state.clone(), record_metrics))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
                    let id = header("x-request-id").unwrap_or("");
                    let span = tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id);
                    // A caller's trace continues here (W3C Trace Context).
                    if let Some(parent) = header("traceparent") {
                        crate::telemetry::otel::continue_trace(&span, parent, header("tracestate"));
                    }
                    span
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        // Outermost, so that refusals from every layer above are covered.
        .layer(from_fn(unread::close_if_unread))
}

/// Counts every request by method, route template and status, with its latency.
async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    state.metrics.http_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The page size a list request asked for, refused (not clamped) when out of range.
fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_PAGE_SIZE}, got {n}"
        ))),
    }
}

/// The search text of a list request: trimmed, empty treated as absent, at most 200 chars.
fn search_text(q: Option<&str>) -> Result<Option<&str>, ApiError> {
    match q.map(str::trim) {
        Some("") | None => Ok(None),
        Some(q) if q.chars().count() > 200 => Err(ApiError::BadRequest(
            "q must be at most 200 characters".into(),
        )),
        Some(q) => Ok(Some(q)),
    }
}

/// The password policy as a field error (422), checked before any hashing.
fn check_password(state: &AppState, field: &str, password: &str) -> Result<(), ApiError> {
    state
        .identity
        .check_password_policy(password)
        .map_err(|message| ApiError::Validation(vec![FieldError::new(field, message)]))
}

/// Collects every field error of a request, so a client sees all of them at once.
fn check_fields<const N: usize>(checks: [Result<(), FieldError>; N]) -> Result<(), ApiError> {
    let errors: Vec<FieldError> = checks.into_iter().filter_map(Result::err).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}
