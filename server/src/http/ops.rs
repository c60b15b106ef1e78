//! Operations endpoints: liveness, readiness and Prometheus metrics.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// Liveness: the process serves HTTP. Checks nothing else, so a slow database never gets a
/// healthy pod restarted.
async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers, and Redis too when configured.
async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: database unreachable");
        ApiError::Unavailable("the database is unreachable".into())
    })?;
    state.kv.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: shared state unreachable");
        ApiError::Unavailable("redis is unreachable".into())
    })?;
    Ok(axum::Json(json!({
        "status": "ready",
        "database": format!("{:?}", state.store.backend()).to_lowercase(),
        "kv": format!("{:?}", state.kv.backend()).to_lowercase(),
    })))
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
