//! Upstream faults as an MCP client meets them at `/mcp/{tenant}`, against real
//! upstream processes (server-everything, and our fixture on the Python SDK): an upstream
//! killed in the middle of an unsafe call gives a clean JSON-RPC error at once; in the
//! middle of a read-only, idempotent call, the call is retried on a new process; either way
//! the next call starts it again. An upstream that does not answer in time gives an error
//! naming the timeout, without holding the client longer; another upstream's calls are
//! untouched throughout. Malformed JSON-RPC of many shapes
//! gets a 4xx or a JSON-RPC error, never a 5xx, and the endpoint keeps serving.

mod common;

use std::time::{Duration, Instant};

use common::mcp::{Era, Watcher, connect, post as rpc, tenant_with_everything};
use common::peers::{everything, fixture_server, pids_with, python, wait_for_pids};
use common::{TestDb, TestServer, post, settings};
use reqwest::StatusCode;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

fn call(name: &str, arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_owned())
        .with_arguments(arguments.as_object().unwrap().clone())
}

/// Registers an upstream and a rule allowing all of it; returns the marker in its command.
async fn register(
    server: &TestServer,
    t: &str,
    name: &str,
    command: &str,
    args: Vec<String>,
    timeout_ms: u32,
) -> String {
    let marker = format!("mcp-faults-{name}-{}", uuid::Uuid::new_v4().simple());
    let mut args = args;
    args.push(marker.clone());
    let body = json!({
        "name": name,
        "call_timeout_ms": timeout_ms,
        "connection": { "transport": "stdio", "command": command, "args": args },
    });
    let url = server.url(&format!("/api/v1/tenants/{t}/upstreams"));
    assert_eq!(
        post(&server.client, url, body).await.status(),
        StatusCode::CREATED
    );
    let rule = json!({ "name": format!("{name}-all"), "effect": "allow", "tool_pattern": format!("{name}.*") });
    let url = server.url(&format!("/api/v1/tenants/{t}/policies"));
    assert_eq!(
        post(&server.client, url, rule).await.status(),
        StatusCode::CREATED
    );
    marker
}

/// Kills every process holding `marker` after `after`.
async fn kill_after(marker: &str, after: Duration) {
    tokio::time::sleep(after).await;
    for pid in pids_with(marker) {
        let kill = tokio::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
        let _ = kill.await;
    }
}

#[tokio::test]
async fn a_dying_or_hanging_upstream_fails_cleanly_and_alone() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let t = tenant_with_everything(&server.base, &server.client).await;
    let everything = everything().to_str().unwrap().to_owned();
    let fragile = register(
        &server,
        &t,
        "fragile",
        "node",
        vec![everything, "stdio".into()],
        1500,
    )
    .await;
    let python = python().to_str().unwrap().to_owned();
    let fixture_args = vec![
        fixture_server().to_str().unwrap().to_owned(),
        "stdio".into(),
    ];
    let fixture = register(&server, &t, "fixture", &python, fixture_args, 5000).await;

    let endpoint = server.url("/mcp/default");
    let client = connect(
        &endpoint,
        &server.admin_token,
        Era::Session,
        Watcher::default(),
    )
    .await;
    let echo = |m: &str| call("everything.echo", json!({ "message": m }));
    client
        .call_tool(call("fragile.echo", json!({ "message": "up" })))
        .await
        .unwrap();
    client
        .call_tool(call("fixture.add", json!({ "a": 1, "b": 2 })))
        .await
        .unwrap();
    assert_eq!(
        wait_for_pids(&fragile, 1).await.len(),
        1,
        "one fragile child"
    );
    assert_eq!(
        wait_for_pids(&fixture, 1).await.len(),
        1,
        "one fixture child"
    );

    // An unsafe tool (not idempotent) killed mid-call: a JSON-RPC error at once, naming the
    // upstream, not after the 5 s timeout, and not retried.
    let started = Instant::now();
    let write = client.call_tool(call("fixture.slow_write", json!({ "seconds": 3 })));
    let (result, ()) = tokio::join!(write, kill_after(&fixture, Duration::from_millis(500)));
    let error = result.expect_err("a killed upstream cannot answer");
    let rmcp::ServiceError::McpError(error) = error else {
        panic!("expected a JSON-RPC error, got {error:?}");
    };
    assert_eq!(error.code.0, -32603, "{error:?}");
    assert!(
        error.message.contains("fixture"),
        "names the upstream: {error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );

    // A read-only, idempotent tool killed mid-call is retried once on a new process.
    let long = client.call_tool(call(
        "fragile.trigger-long-running-operation",
        json!({ "duration": 1, "steps": 1 }),
    ));
    let (result, ()) = tokio::join!(long, kill_after(&fragile, Duration::from_millis(300)));
    assert!(result.is_ok(), "a safe tool is retried: {result:?}");
    let trail = server.tool_calls(&t).await;
    let retried = trail.iter().any(|e| {
        e["target"] == "tool:fragile.trigger-long-running-operation"
            && e["detail"]["retried"] == true
    });
    assert!(retried, "the retry is on the record: {trail:?}");

    // The other upstream never noticed; the killed one comes back on the next call.
    let r = client.call_tool(echo("still here")).await.unwrap();
    assert!(
        serde_json::to_string(&r.content)
            .unwrap()
            .contains("still here")
    );
    let back = client
        .call_tool(call("fixture.add", json!({ "a": 2, "b": 2 })))
        .await;
    assert!(back.is_ok(), "restarted on the next call: {back:?}");

    // Hanging past its 1.5 s timeout: an error naming the timeout, soon after it.
    let started = Instant::now();
    let slow = client
        .call_tool(call(
            "fragile.trigger-long-running-operation",
            json!({ "duration": 10, "steps": 2 }),
        ))
        .await
        .expect_err("over the call timeout");
    let waited = started.elapsed();
    assert!(
        matches!(&slow, rmcp::ServiceError::McpError(e) if e.message.contains("1500 ms")),
        "{slow:?}"
    );
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    let r = client.call_tool(echo("unaffected")).await.unwrap();
    assert!(
        serde_json::to_string(&r.content)
            .unwrap()
            .contains("unaffected")
    );
    client.cancel().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn malformed_json_rpc_never_gets_a_server_error() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let endpoint = server.url("/mcp/default");
    let bearer = format!("Bearer {}", server.admin_token);
    let headers = [
        ("authorization", bearer.as_str()),
        ("mcp-protocol-version", "2026-07-28"),
    ];
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let bodies = [
        json!(null),
        json!(42),
        json!("tools/list"),
        json!([]),
        json!([{ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }]),
        json!({}),
        json!({ "jsonrpc": "1.0", "id": 1, "method": "tools/list" }),
        json!({ "jsonrpc": "2.0", "id": {"nested": true}, "method": "tools/list" }),
        json!({ "jsonrpc": "2.0", "id": 1 }),
        json!({ "jsonrpc": "2.0", "id": 1, "method": 7 }),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "no/such/method", "params": { "_meta": meta } }),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "_meta": meta } }),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": 5, "_meta": meta } }),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "x", "arguments": [1], "_meta": meta } }),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "nodot", "_meta": meta } }),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "a.b", "_meta": meta } }),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": { "uri": "switchyard://", "_meta": meta } }),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "prompts/get", "params": { "name": "", "_meta": meta } }),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": "nope" }),
        json!({ "jsonrpc": "2.0", "method": "notifications/cancelled", "params": { "requestId": [] } }),
        json!({ "jsonrpc": "2.0", "id": 1, "result": {} }),
        json!({ "jsonrpc": "2.0", "id": 1, "error": { "code": "x" } }),
    ];
    for body in &bodies {
        let r = rpc(&server.anon, &endpoint, &headers, body).await;
        assert!(
            !r.status.is_server_error(),
            "{body} → {} {}",
            r.status,
            r.body
        );
        if r.status.is_success() && r.body.is_object() {
            assert!(
                r.body.get("error").is_some() || r.body.get("result").is_some(),
                "{body} → {}",
                r.body
            );
        }
    }
    // Raw bytes that are not JSON at all, or cut short.
    for raw in [
        "",
        "{",
        "\u{0}\u{1}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"",
        "[[[[[[[[[[[[[[[[[[[[",
    ] {
        let r = server
            .anon
            .post(&endpoint)
            .header("authorization", &bearer)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(raw.to_owned())
            .send()
            .await
            .unwrap();
        assert!(!r.status().is_server_error(), "{raw:?} → {}", r.status());
    }
    // A valid request with random bytes flipped, cut or repeated: 300 mutants.
    let valid = serde_json::to_vec(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "everything.echo", "arguments": { "message": "x" }, "_meta": meta } }))
    .unwrap();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0x5717_c4ad);
    for _ in 0..300 {
        let mut mutant = valid.clone();
        for _ in 0..rand::Rng::random_range(&mut rng, 1..6) {
            let at = rand::Rng::random_range(&mut rng, 0..mutant.len());
            match rand::Rng::random_range(&mut rng, 0..3) {
                0 => mutant[at] = rand::Rng::random(&mut rng),
                1 => mutant.truncate(at.max(1)),
                _ => {
                    let piece = mutant[at..].to_vec();
                    mutant.extend_from_slice(&piece);
                }
            }
        }
        let r = server
            .anon
            .post(&endpoint)
            .header("authorization", &bearer)
            .header("mcp-protocol-version", "2026-07-28")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(mutant.clone())
            .send()
            .await
            .unwrap();
        assert!(
            !r.status().is_server_error(),
            "{} → {}",
            String::from_utf8_lossy(&mutant),
            r.status()
        );
    }
    // Still serving.
    let list =
        json!({ "jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": { "_meta": meta } });
    let r = rpc(
        &server.anon,
        &endpoint,
        &[
            ("authorization", bearer.as_str()),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
        ],
        &list,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    server.stop().await;
}

/// A stdio upstream over its memory limit is killed (its whole process tree) while the call
/// runs: the caller gets a clean error, the upstream's status says why, the next call starts
/// a new child, and no child is left behind.
#[tokio::test]
async fn a_stdio_upstream_over_its_memory_limit_is_killed_and_restarted() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let t = common::default_tenant(&server).await;
    let marker = format!("mcp-limits-{}", uuid::Uuid::new_v4().simple());
    let fixture = fixture_server().to_str().unwrap().to_owned();
    let body = json!({
        "name": "hungry",
        "call_timeout_ms": 20_000,
        "connection": { "transport": "stdio", "command": python(),
            "args": [fixture, "stdio", marker], "memory_mb": 150 },
    });
    let r = post(
        &server.client,
        server.url(&format!("/api/v1/tenants/{t}/upstreams")),
        body,
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let rule = json!({ "name": "hungry-all", "effect": "allow", "tool_pattern": "hungry.*" });
    let r = post(
        &server.client,
        server.url(&format!("/api/v1/tenants/{t}/policies")),
        rule,
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let client = connect(
        &server.url("/mcp/default"),
        &server.admin_token,
        Era::Stateless,
        Watcher::default(),
    )
    .await;
    // Within the limit: fine.
    let small = client
        .call_tool(call("hungry.hog", json!({ "mb": 10, "seconds": 0 })))
        .await
        .unwrap();
    assert_ne!(small.is_error, Some(true), "{small:?}");
    let first = wait_for_pids(&marker, 1).await;
    assert_eq!(first.len(), 1);

    let started = Instant::now();
    let refused = client
        .call_tool(call("hungry.hog", json!({ "mb": 400, "seconds": 15 })))
        .await;
    assert!(
        matches!(&refused, Err(rmcp::ServiceError::McpError(e)) if e.code.0 == -32603),
        "{refused:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "killed within seconds"
    );
    // The killed tree is gone (the gateway may already have started the next child).
    let gone = |pid: u32| {
        !std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || !pids_with(&marker).contains(&pid)
    };
    assert!(gone(first[0]), "{refused:?}");
    assert!(pids_with(&marker).len() <= 1);
    // Why it went is in the tenant's trail, after the restart too.
    let mut killed = Value::Null;
    for _ in 0..50 {
        let page: Value = server
            .get(&format!("/api/v1/tenants/{t}/audit?action=upstream.killed"))
            .await
            .json()
            .await
            .unwrap();
        killed = page["items"][0].clone();
        if !killed.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(killed["outcome"], "failure", "{killed}");
    let reason = killed["detail"]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("memory limit"), "{killed}");

    // The next call (after the reconnect backoff) runs on a new child.
    let mut answered = None;
    for _ in 0..50 {
        match client
            .call_tool(call("hungry.add", json!({ "a": 1, "b": 2 })))
            .await
        {
            Ok(result) => {
                answered = Some(result);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let answered = answered.expect("the upstream restarts");
    assert!(
        serde_json::to_string(&answered.content)
            .unwrap()
            .contains('3')
    );
    assert_eq!(wait_for_pids(&marker, 1).await.len(), 1);
    client.cancel().await.unwrap();
    server.stop().await;
    assert!(
        wait_for_pids(&marker, 0).await.is_empty(),
        "no child left behind"
    );
}
