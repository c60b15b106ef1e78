//! Router-level tests: every API route needs a credential (401 with an RFC 6750 challenge
//! otherwise) while the public routes stay open; Swagger UI serves the generated document.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use switchyard::config::{Secret, Settings};
use switchyard::{AppState, app};
use tower::ServiceExt;

async fn state() -> (AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    settings.database.url = Secret::new(format!("sqlite://{}/t.db", dir.path().display()));
    settings.bootstrap.admin_password = Secret::new("a-long-enough-password");
    let state = AppState::open(settings).await.unwrap();
    (state, dir)
}

async fn answer(state: &AppState, peer: [u8; 4], path: &str) -> http::Response<Body> {
    let mut request = Request::get(path).body(Body::empty()).unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 40000))));
    app(state.clone()).oneshot(request).await.unwrap()
}

#[tokio::test]
async fn api_routes_need_a_credential_and_public_routes_stay_open() {
    let (state, _dir) = state().await;
    for path in [
        "/api/v1/tenants",
        "/api/v1/auth/me",
        "/api/v1/auth/api-keys",
    ] {
        let response = answer(&state, [10, 1, 2, 3], path).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer realm="switchyard""#
        );
    }
    let bad = {
        let mut request = Request::get("/api/v1/tenants")
            .header("authorization", "Bearer not-a-jwt")
            .body(Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([10, 1, 2, 3], 40000))));
        app(state.clone()).oneshot(request).await.unwrap()
    };
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert!(
        bad.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );
    for path in ["/healthz", "/.well-known/jwks.json", "/api/v1/openapi.json"] {
        assert_eq!(
            answer(&state, [10, 1, 2, 3], path).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }
}

#[tokio::test]
async fn swagger_ui_and_the_served_document() {
    let (state, _dir) = state().await;
    assert_eq!(
        answer(&state, [127, 0, 0, 1], "/api/docs/").await.status(),
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
