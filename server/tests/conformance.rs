//! The MCP conformance suite (`@modelcontextprotocol/conformance` 0.1.16, on the Node 22 in
//! end2end/inspector) runs its server scenarios against the gateway: a virtual server with
//! the upstreams' own names, in front of our fixture upstream on the official Python SDK
//! (`peers/conformance_server.py`) over stdio.
//!
//! The suite cannot send credentials, so it talks to a pass-through proxy that adds the
//! caller's `Authorization` header and changes nothing else (Host and Origin included, so the
//! DNS-rebinding scenario sees what a direct client would).
//!
//! Every scenario must pass, except those in [`EXPECTED_FAILURES`], each with its reason; a
//! scenario listed there that starts passing fails the test too, so the list stays true.

mod common;

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use common::peers::{pids_with, python, wait_for_pids};
use common::{TestDb, TestServer, default_tenant, post, settings};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Scenarios the gateway does not pass yet, and why (the suite's pending ones included:
/// `--suite all`).
const EXPECTED_FAILURES: &[(&str, &str)] = &[];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Upstream {
    client: reqwest::Client,
    target: String,
    authorization: String,
}

/// Forwards one request to the target with the caller's credentials; streams the answer.
async fn forward(State(up): State<std::sync::Arc<Upstream>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let mut outbound = up.client.request(parts.method, &up.target).body(bytes);
    for (name, value) in &parts.headers {
        if name != "content-length" && name != "connection" {
            outbound = outbound.header(name, value);
        }
    }
    outbound = outbound.header("authorization", &up.authorization);
    let Ok(answer) = outbound.send().await else {
        return Response::builder().status(502).body(Body::empty()).unwrap();
    };
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from_stream(answer.bytes_stream()))
        .unwrap()
}

/// A proxy on loopback to `target`; returns its URL.
async fn proxy(target: String, token: &str) -> String {
    let upstream = std::sync::Arc::new(Upstream {
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        target,
        authorization: format!("Bearer {token}"),
    });
    let app = axum::Router::new().fallback(forward).with_state(upstream);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Whether every check of a scenario's results (`dir/checks.json`) passed, and the failures.
fn verdict(dir: &std::path::Path) -> (bool, String) {
    let checks: Value =
        serde_json::from_slice(&std::fs::read(dir.join("checks.json")).unwrap_or_default())
            .unwrap_or(Value::Null);
    let checks = checks.as_array().cloned().unwrap_or_default();
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c["status"] != "SUCCESS" && c["status"] != "INFO")
        .map(|c| {
            let why = c.get("errorMessage").unwrap_or(&c["description"]);
            format!("{}: {why}", c["id"])
        })
        .collect();
    (!checks.is_empty() && failed.is_empty(), failed.join("; "))
}

/// What differs from the expectations: a scenario failing that is not listed in `expected`,
/// or listed and passing (so the list stays true).
fn surprises(results: &[(String, bool, String)], expected: &[(&str, &str)]) -> Vec<String> {
    let listed = |s: &str| expected.iter().any(|(n, _)| *n == s);
    results
        .iter()
        .filter(|(scenario, passed, _)| *passed == listed(scenario))
        .map(|(scenario, passed, why)| {
            if *passed {
                format!("{scenario} passes now: take it off the expected failures")
            } else {
                format!("{scenario} fails: {why}")
            }
        })
        .collect()
}

/// Each scenario's name and whether every check in it passed, from the suite's output.
fn results(dir: &std::path::Path) -> Vec<(String, bool, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix("server-") else {
            continue;
        };
        // `server-<scenario>-<timestamp>`: the timestamp starts with the year.
        let scenario = rest.split("-20").next().unwrap_or(rest).to_owned();
        let (passed, why) = verdict(&entry.path());
        out.push((scenario, passed, why));
    }
    out.sort();
    out
}

/// The suite's bin directory (end2end/inspector, Node 22) and a `PATH` that starts there.
fn suite() -> (PathBuf, String) {
    let bin = repo().join("end2end/inspector/node_modules/.bin");
    assert!(
        bin.join("conformance").exists(),
        "{} is missing: run `.ci/setup --test`",
        bin.join("conformance").display()
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (bin, path)
}

#[tokio::test]
async fn the_conformance_suite_runs_against_a_virtual_server() {
    let (bin, path) = suite();
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let mut config = settings(&db);
    // Answers still open after 0.5 s are closed and resumed (SEP-1699): `test_reconnection`.
    config.gateway.sse_poll_ms = 500;
    let server = TestServer::start(config).await;
    let t = default_tenant(&server).await;
    let url = |p: &str| server.url(&format!("/api/v1/tenants/{t}{p}"));
    let marker = format!("conformance-{}", uuid::Uuid::new_v4().simple());
    let fixture = repo().join("server/tests/peers/conformance_server.py");
    let bodies = [
        (
            "/upstreams",
            json!({ "name": "fx", "connection": { "transport": "stdio",
                "command": python(), "args": [fixture, "stdio", marker] } }),
        ),
        (
            "/policies",
            json!({ "name": "fx-all", "effect": "allow", "tool_pattern": "fx.*" }),
        ),
        (
            "/virtual-servers",
            json!({ "name": "conformance", "tools": ["fx.*"], "prompts": ["fx.*"],
                "resources": ["fx.*"], "bare_names": true }),
        ),
    ];
    for (path, body) in bodies {
        let r = post(&server.client, url(path), body).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{path}");
    }
    let endpoint = proxy(server.url("/mcp/default/conformance"), &server.admin_token).await;
    let out = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(bin.join("conformance"))
        .args(["server", "--suite", "all", "--url", &endpoint, "-o"])
        .arg(out.path())
        .env("PATH", path)
        .output();
    let run = tokio::time::timeout(std::time::Duration::from_secs(300), run)
        .await
        .expect("the suite finishes within 5 minutes")
        .expect("the suite starts");
    let log = String::from_utf8_lossy(&run.stdout);
    let summary = log.split("=== SUMMARY ===").nth(1).unwrap_or(&log);
    println!("{summary}");

    let results = results(out.path());
    assert!(
        results.len() >= 30,
        "only {} scenarios ran:\n{log}",
        results.len()
    );
    let surprises = surprises(&results, EXPECTED_FAILURES);
    assert!(surprises.is_empty(), "{surprises:#?}\n{summary}");

    server.stop().await;
    // The fixture child went with the server.
    assert!(
        wait_for_pids(&marker, 0).await.is_empty(),
        "{:?}",
        pids_with(&marker)
    );
}

/// Client scenarios the gateway does not pass, and why.
const EXPECTED_CLIENT_FAILURES: &[(&str, &str)] = &[(
    "auth/cross-app-access-complete-flow",
    "enterprise-managed authorization (SEP-990: token exchange for an ID-JAG) is not implemented",
)];

/// Each client scenario's name and whether every check passed: `<out>/auth/<name>-<time>/`.
fn client_results(dir: &std::path::Path) -> Vec<(String, bool, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir.join("auth"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().to_string();
        let scenario = format!("auth/{}", name.split("-20").next().unwrap_or(&name));
        let (passed, why) = verdict(&entry.path());
        out.push((scenario, passed, why));
    }
    out.sort();
    out
}

/// The suite's client scenarios for authorization, with the gateway as the OAuth client of
/// each scenario's server (`peers/conformance_client.mjs` plays the administrator and the
/// browser). The gateway's client metadata document URL is the one the suite expects.
#[tokio::test]
async fn the_gateway_passes_the_suites_oauth_client_scenarios() {
    let (bin, path) = suite();
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let mut config = settings(&db);
    config.oauth.upstream_client_metadata_url =
        "https://conformance-test.local/client-metadata.json".into();
    let server = TestServer::start(config).await;
    let t = default_tenant(&server).await;
    let r = post(
        &server.client,
        server.url(&format!("/api/v1/tenants/{t}/policies")),
        json!({ "name": "all", "effect": "allow", "tool_pattern": "*" }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let out = tempfile::tempdir().unwrap();
    let script = repo().join("server/tests/peers/conformance_client.mjs");
    let mut log = String::new();
    for suite in ["auth", "backcompat", "draft", "extensions"] {
        let run = tokio::process::Command::new(bin.join("conformance"))
            .args(["client", "--suite", suite, "--command"])
            .arg(format!("node {}", script.display()))
            .arg("-o")
            .arg(out.path())
            .env("PATH", &path)
            .env("SWITCHYARD_URL", server.url(""))
            .env("SWITCHYARD_TOKEN", &server.admin_token)
            .env("SWITCHYARD_TENANT", &t)
            .output();
        let run = tokio::time::timeout(std::time::Duration::from_secs(300), run)
            .await
            .expect("the suite finishes within 5 minutes")
            .expect("the suite starts");
        log.push_str(&String::from_utf8_lossy(&run.stdout));
    }
    println!("{log}");

    let results = client_results(out.path());
    assert!(
        results.len() >= 20,
        "only {} scenarios ran:\n{log}",
        results.len()
    );
    let surprises = surprises(&results, EXPECTED_CLIENT_FAILURES);
    assert!(surprises.is_empty(), "{surprises:#?}\n{log}");
    server.stop().await;
}
