//! The official MCP SDK clients against the gateway, as PEERS.md lists them: the Python SDK
//! (`mcp` 2.x, in the venv `.ci/setup --test` makes) in its 2026-07-28 mode (`server/discover`)
//! and its legacy mode (`initialize`), and the TypeScript SDK (npm, in end2end) which
//! negotiates 2025-11-25 with a session. Each lists, calls, reads and gets prompts through
//! the gateway in front of server-everything, and is refused the tool policy denies.

mod common;

use std::path::PathBuf;

use common::mcp::tenant_with_everything;
use common::peers::python;
use common::{TestDb, TestServer, settings};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs a peer client; its last stdout line is what it saw.
async fn run(program: &std::path::Path, args: &[&str]) -> Value {
    let out = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} {} failed: {}\n{stdout}\n{}",
        program.display(),
        args[0],
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {stdout}"))
}

/// What every client must have seen, whatever its SDK.
fn check(seen: &Value, label: &str) {
    let tools: Vec<&str> = seen["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(tools.contains(&"everything.echo"), "{label}: {seen}");
    assert!(!tools.contains(&"everything.get-env"), "{label}: {seen}");
    assert!(
        seen["echo"][0].as_str().unwrap().contains(label),
        "{label}: {seen}"
    );
    let denied = seen["denied"].as_str().unwrap();
    assert!(denied.contains("Unknown tool"), "{label}: {denied}");
    let resource = seen["resource"].as_str().unwrap();
    assert!(
        resource.starts_with("switchyard://everything/"),
        "{label}: {seen}"
    );
    assert_eq!(seen["read_uri"], seen["resource"], "{label}");
    assert!(
        seen["prompt_messages"].as_u64().unwrap() >= 1,
        "{label}: {seen}"
    );
}

#[tokio::test]
async fn the_official_sdk_clients_work_through_the_gateway() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    tenant_with_everything(&server.base, &server.client).await;
    let url = server.url("/mcp/default");
    let token = server.admin_token.as_str();
    let script = repo().join("server/tests/peers/python_client.py");
    let script = script.to_str().unwrap();

    let modern = run(&python(), &[script, &url, token, "auto"]).await;
    assert_eq!(modern["protocol"], "2026-07-28", "{modern}");
    check(&modern, "python auto");

    let legacy = run(&python(), &[script, &url, token, "legacy"]).await;
    assert_eq!(legacy["protocol"], "2025-11-25", "{legacy}");
    check(&legacy, "python legacy");

    let ts = repo().join("end2end/interop/ts_client.mjs");
    let typescript = run(
        std::path::Path::new("node"),
        &[ts.to_str().unwrap(), &url, token],
    )
    .await;
    assert_eq!(typescript["session"], true, "{typescript}");
    check(&typescript, "typescript");
    server.stop().await;
}
