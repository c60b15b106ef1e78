//! "Test connection" against a real MCP server, the reference `server-everything` (npm, set
//! up by `.ci/setup --test` in end2end/node_modules), over stdio and over Streamable HTTP;
//! and the failures an operator meets: a command that does not exist, a port nobody
//! listens on, an upstream that never answers. Probed children do not outlive the probe.

mod common;

use std::time::Duration;

use common::peers::{everything, wait_for_pids};
use common::{PASSWORD, TestDb, TestServer, default_tenant, make_user, post, settings};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn register(server: &TestServer, t: &str, body: Value) -> String {
    let r = post(
        &server.client,
        server.url(&format!("/api/v1/tenants/{t}/upstreams")),
        body,
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let created: Value = r.json().await.unwrap();
    created["id"].as_str().unwrap().to_string()
}

async fn test_connection(
    server: &TestServer,
    client: &reqwest::Client,
    t: &str,
    id: &str,
) -> reqwest::Response {
    client
        .post(server.url(&format!("/api/v1/tenants/{t}/upstreams/{id}/test")))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn test_connection_lists_a_real_servers_tools_resources_and_prompts() {
    let everything = everything();
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let t = default_tenant(&server).await;
    let marker = format!("probe-marker-{}", uuid::Uuid::new_v4().simple());

    // stdio: a child process that lives only for the probe.
    let stdio = register(&server, &t, json!({
        "name": "everything",
        "connection": { "transport": "stdio", "command": "node", "args": [everything, "stdio", marker] },
        "secrets": { "EVERYTHING_TOKEN": "not-for-logs" },
    }))
    .await;
    let report: Value = test_connection(&server, &server.client, &t, &stdio)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], true, "{report}");
    let names = |kind: &str| -> Vec<String> {
        report[kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        names("tools").contains(&"echo".to_string()),
        "{:?}",
        names("tools")
    );
    assert!(!names("resources").is_empty() || !names("resource_templates").is_empty());
    assert!(!names("prompts").is_empty());
    assert!(
        report["server_name"]
            .as_str()
            .unwrap()
            .contains("everything"),
        "{report}"
    );
    assert!(!report["protocol_version"].as_str().unwrap().is_empty());
    // The child is gone once the probe has answered (closing stdin ends it; a kill follows).
    let left = wait_for_pids(&marker, 0).await.len();
    assert_eq!(left, 0, "the probed child outlived the probe");

    // Streamable HTTP: the same server listening on a loopback port, with a secret header.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut child = tokio::process::Command::new("node")
        .arg(&everything)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let http = register(&server, &t, json!({
        "name": "everything-http",
        "connection": { "transport": "streamable_http", "url": format!("http://127.0.0.1:{port}/mcp") },
        "secrets": { "Authorization": "Bearer upstream-token" },
    }))
    .await;
    let report: Value = test_connection(&server, &server.client, &t, &http)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert!(
        report["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "echo")
    );
    child.kill().await.unwrap();

    // Failures are answers with their reason, within the upstream's timeout.
    let missing = register(
        &server,
        &t,
        json!({
            "name": "missing",
            "connection": { "transport": "stdio", "command": "/nonexistent/mcp-server" },
        }),
    )
    .await;
    let report: Value = test_connection(&server, &server.client, &t, &missing)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], false);
    assert!(
        report["error"].as_str().unwrap().contains("cannot start"),
        "{report}"
    );
    let closed = register(&server, &t, json!({
        "name": "closed",
        "connection": { "transport": "streamable_http", "url": format!("http://127.0.0.1:{port}/mcp") },
        "call_timeout_ms": 3000,
    }))
    .await;
    let report: Value = test_connection(&server, &server.client, &t, &closed)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], false, "{report}");
    let hanging = register(
        &server,
        &t,
        json!({
            "name": "hanging",
            "connection": { "transport": "stdio", "command": "node", "args": ["-e", "setTimeout(() => {}, 30000)", marker] },
            "call_timeout_ms": 500,
        }),
    )
    .await;
    let report: Value = test_connection(&server, &server.client, &t, &hanging)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["error"], "no answer within 500 ms");
    let left = wait_for_pids(&marker, 0).await.len();
    assert_eq!(left, 0, "the hanging child outlived its timeout");

    // Reaching out is an operator's act: a viewer may not.
    make_user(&server, &t, "viewer@example.com", &["viewer"]).await;
    let (viewer, _) = server
        .sign_in_as("default", "viewer@example.com", PASSWORD)
        .await;
    assert_eq!(
        test_connection(&server, &viewer, &t, &stdio).await.status(),
        StatusCode::FORBIDDEN
    );

    // The trail records each test and its outcome, without the secrets.
    let trail = server
        .text(&format!(
            "/api/v1/tenants/{t}/audit/export?format=json&action=upstream.test"
        ))
        .await;
    let records: Vec<Value> = serde_json::from_str(&trail).unwrap();
    assert_eq!(records.len(), 5);
    assert!(!trail.contains("not-for-logs") && !trail.contains("upstream-token"));

    server.stop().await;
    db.drop_db().await;
}
