//! Router-level tests of the loopback-only guard: there is no sign-in yet, so clients from
//! other addresses are refused unless the operator opts in.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use switchyard::config::{Secret, Settings};
use switchyard::kv::Kv;
use switchyard::store::Store;
use switchyard::telemetry::Metrics;
use switchyard::{AppState, app};
use tower::ServiceExt;

async fn state(allow_remote: bool) -> (AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.http.allow_remote_unauthenticated = allow_remote;
    let url = Secret::new(format!("sqlite://{}/t.db", dir.path().display()));
    let store = Store::open(&url, 2).await.unwrap();
    let state = AppState {
        store,
        kv: Kv::memory("t:"),
        metrics: Metrics::new().unwrap(),
        settings: Arc::new(settings),
    };
    (state, dir)
}

async fn status_from(state: &AppState, peer: [u8; 4], path: &str) -> StatusCode {
    let mut request = Request::get(path).body(Body::empty()).unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 40000))));
    app(state.clone()).oneshot(request).await.unwrap().status()
}

#[tokio::test]
async fn remote_clients_are_refused_until_allowed() {
    let (closed, _dir) = state(false).await;
    assert_eq!(
        status_from(&closed, [127, 0, 0, 1], "/api/v1/tenants").await,
        StatusCode::OK
    );
    assert_eq!(
        status_from(&closed, [10, 1, 2, 3], "/api/v1/tenants").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status_from(&closed, [192, 168, 0, 9], "/tenants").await,
        StatusCode::FORBIDDEN
    );

    let (open, _dir) = state(true).await;
    assert_eq!(
        status_from(&open, [10, 1, 2, 3], "/api/v1/tenants").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn swagger_ui_and_the_served_document() {
    let (state, _dir) = state(false).await;
    assert_eq!(
        status_from(&state, [127, 0, 0, 1], "/api/docs/").await,
        StatusCode::OK
    );
    let request = Request::get("/api/v1/openapi.json")
        .body(Body::empty())
        .unwrap();
    let response = app(state).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let served: serde_json::Value = serde_json::from_slice(
        &axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    let generated: serde_json::Value =
        serde_json::from_str(&switchyard::http::openapi_document()).unwrap();
    assert_eq!(served, generated);
}
