//! Operations: health, readiness, metrics, request ids, rate-limit answers, graceful shutdown,
//! first run, and the committed OpenAPI document.

mod common;

use std::time::Duration;

use common::{TestDb, TestServer, backends, settings};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn health_readiness_metrics_and_request_ids() {
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let server = TestServer::start(settings(&db)).await;
        let health: serde_json::Value = server.get("/healthz").await.json().await.unwrap();
        assert_eq!(health["status"], "ok");
        let ready: serde_json::Value = server.get("/readyz").await.json().await.unwrap();
        let expected_db = match backend {
            common::Backend::Sqlite => "sqlite",
            common::Backend::Postgres(_) => "postgres",
        };
        assert_eq!(ready["database"], expected_db);
        assert_eq!(
            ready["kv"],
            if common::redis_url().is_some() {
                "redis"
            } else {
                "memory"
            }
        );

        // A request id is made when absent and kept when the client sends one.
        let response = server.get("/api/v1/tenants").await;
        assert_eq!(response.headers()["x-request-id"].len(), 36);
        let response = server
            .client
            .get(server.url("/api/v1/tenants?limit=0"))
            .header("x-request-id", "trace-me-42")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-request-id"], "trace-me-42");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["request_id"], "trace-me-42");

        // Metrics count by route template and status, with latency histograms.
        let metrics = server.text("/metrics").await;
        assert!(
            metrics.contains(
                r#"http_requests_total{method="GET",route="/api/v1/tenants",status="200"} 1"#
            ),
            "{metrics}"
        );
        assert!(
            metrics.contains(
                r#"http_requests_total{method="GET",route="/api/v1/tenants",status="400"} 1"#
            ),
            "{metrics}"
        );
        assert!(
            metrics.contains("http_request_duration_seconds_bucket{"),
            "{metrics}"
        );
        // Readiness fails, with a problem document, once the database is really gone.
        if let common::Backend::Postgres(_) = backend {
            db.drop_db().await;
            let response = server.get("/readyz").await;
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            let problem: serde_json::Value = response.json().await.unwrap();
            assert_eq!(problem["detail"], "the database is unreachable");
            assert_eq!(
                server.get("/healthz").await.status(),
                StatusCode::OK,
                "liveness must not depend on the database"
            );
            server.stop().await;
        } else {
            server.stop().await;
            db.drop_db().await;
        }
    }
}

#[tokio::test]
async fn rate_limit_answers_429_with_headers() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let mut s = settings(&db);
    s.http.rate_limit_per_second = 3;
    let server = TestServer::start(s).await;
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        let response = server.get("/api/v1/tenants").await;
        statuses.push(response.status());
        assert_eq!(response.headers()["ratelimit-limit"], "3");
        last = Some(response);
    }
    assert_eq!(&statuses[..3], &[StatusCode::OK; 3]);
    let denied = last.unwrap();
    assert_eq!(denied.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(denied.headers()["retry-after"], "1");
    assert_eq!(denied.headers()["ratelimit-remaining"], "0");
    assert_eq!(denied.headers()["content-type"], "application/problem+json");
    // Operations endpoints are not limited.
    assert_eq!(server.get("/healthz").await.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let mut server = TestServer::start(settings(&db)).await;
    let address = server.base.trim_start_matches("http://").to_string();
    // Start a request whose body is still on its way when shutdown begins.
    let body = br#"{"slug": "late", "name": "Arrived during shutdown"}"#;
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/v1/tenants HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        server.admin_token,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.signal_stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(&body[10..]).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    server.wait().await.unwrap();

    // The write is durable, and new connections are refused once stopped.
    assert!(tokio::net::TcpStream::connect(&address).await.is_err());
    let server = TestServer::start(settings(&db)).await;
    let found: serde_json::Value = server
        .get("/api/v1/tenants?q=late")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"][0]["name"], "Arrived during shutdown");
    server.stop().await;
}

#[tokio::test]
async fn first_run_uses_the_configured_password_and_happens_once() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let mut s = settings(&db);
    s.bootstrap.tenant_slug = "home".into();
    s.bootstrap.admin_email = "root@example.com".into();
    let server = TestServer::start(s.clone()).await;
    server.stop().await;

    let store = switchyard::store::Store::open(&s.database_url(), 1)
        .await
        .unwrap();
    let (tenants, _) = store.list_tenants(None, None, 10).await.unwrap();
    assert_eq!(tenants.len(), 1);
    assert_eq!(tenants[0].slug, "home");
    let hash: (String,) =
        sqlx::query_as("SELECT password_hash FROM users WHERE email = 'root@example.com'")
            .fetch_one(&sqlx::SqlitePool::connect(&db.url).await.unwrap())
            .await
            .unwrap();
    let config_password = s.bootstrap.admin_password.clone();
    assert!(
        switchyard::identity::verify_password(config_password, hash.0.clone())
            .await
            .unwrap()
    );

    // A second start with another slug seeds nothing.
    s.bootstrap.tenant_slug = "second".into();
    let server = TestServer::start(s).await;
    let (admin, _) = server
        .sign_in_as("home", "root@example.com", common::ADMIN_PASSWORD)
        .await;
    let list: serde_json::Value = admin
        .get(server.url("/api/v1/tenants"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn console_pages_render_on_the_server_with_api_data() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    // Signed out, pages say so instead of showing data.
    let html = server
        .anon
        .get(server.url("/tenants"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("You are signed out"), "{html}");
    // A console session: the pages read the API in process with the visitor's cookies.
    let signed_in = server
        .anon
        .post(server.url("/api/v1/auth/session"))
        .json(&serde_json::json!({ "tenant": "default", "email": "admin@localhost", "password": common::ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    let cookies = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    let page = |path: &str| {
        server
            .anon
            .get(server.url(path))
            .header("cookie", cookies.clone())
            .send()
    };
    for path in ["/", "/tenants", "/users"] {
        let response = page(path).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("Switchyard"), "{path}");
        assert!(
            html.contains("/pkg/switchyard.js"),
            "{path}: no hydration script"
        );
    }
    // The tenants page was rendered with data read through the API in process.
    let html = page("/tenants").await.unwrap().text().await.unwrap();
    assert!(html.contains(">default<"), "{html}");
    let html = page("/users").await.unwrap().text().await.unwrap();
    assert!(html.contains("admin@localhost"), "{html}");
    server.stop().await;
}

/// The committed `server/openapi.json` must equal what the code generates. Regenerate with
/// `cargo run -p server -- openapi > server/openapi.json`.
#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = switchyard::http::openapi_document();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    let committed = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).to_string())
        .unwrap_or_default();
    assert!(
        committed == generated,
        "server/openapi.json is stale; run `cargo run -p server -- openapi > server/openapi.json`"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated).unwrap();
    for path in [
        "/api/v1/tenants",
        "/api/v1/tenants/{id}",
        "/api/v1/tenants/{tenant_id}/users",
        "/api/v1/tenants/{tenant_id}/users/{id}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}
