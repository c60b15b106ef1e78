//! OpenTelemetry traces (issue #5 point 3): a `switchyard` process exporting to a real OTLP
//! receiver (oteltap, PEERS.md) sends a workflow run's spans — run → node → tool call — in
//! one trace whose id is the run's id, and the tool call carries that trace to its Streamable
//! HTTP upstream (the Python SDK) as `traceparent`, in `_meta` and as an HTTP header, naming
//! the tool call's span as parent. A caller's own trace continues through the gateway: a
//! `traceparent` header on the REST API, `_meta.traceparent` on the MCP endpoint (tool calls,
//! resource reads and prompts alike).

mod common;

use std::time::Duration;

use common::replica::Replica;
use common::{TestDb, post};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

/// oteltap on a free port; each span it receives is sent on the returned channel.
async fn sink() -> (
    tokio::process::Child,
    u16,
    tokio::sync::mpsc::UnboundedReceiver<Value>,
) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/otlp_sink.py");
    let mut child = tokio::process::Command::new(common::peers::python())
        .arg(script)
        .arg(port.to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start oteltap");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("oteltap listens within 30 s")
        .unwrap();
    assert_eq!(ready.as_deref(), Some("ready"));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(span) = serde_json::from_str::<Value>(&line) {
                let _ = tx.send(span);
            }
        }
    });
    (child, port, rx)
}

#[tokio::test]
async fn a_run_is_one_trace_carried_to_its_http_upstream() {
    let (_sink, port, mut spans) = sink().await;
    let (_upstream, upstream_url) = common::peers::http_server("trace_server.py", &["http"]).await;
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let endpoint = format!("http://127.0.0.1:{port}");
    let env = [
        ("SWITCHYARD_TRACE__OTLP_ENDPOINT", endpoint.as_str()),
        // The SDK's batch delay (OpenTelemetry environment variable specification).
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
    ];
    let replica = Replica::start(&db.url, "", "switchyard-test:", db._dir.path(), &env).await;
    let base = &replica.base;
    let (client, t, token) = replica.admin().await;
    let url = |p: &str| format!("{base}/api/v1/tenants/{t}{p}");
    for (path, body) in [
        (
            "/upstreams",
            json!({ "name": "tr", "connection": { "transport": "streamable_http", "url": upstream_url } }),
        ),
        (
            "/policies",
            json!({ "name": "tr-all", "effect": "allow", "tool_pattern": "tr.*" }),
        ),
        (
            "/workflows",
            json!({ "name": "traced", "definition": {
                "state": { "seen": { "type": "any" } },
                "start": "look",
                "nodes": { "look": { "kind": "tool", "tool": "tr.trace_context", "output": "seen" } }
            } }),
        ),
    ] {
        let r = post(&client, url(path), body).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{path}");
    }
    let workflows = common::get_json(&client, &url("/workflows")).await;
    let wf = workflows["items"][0]["id"].as_str().unwrap();
    let run: Value = post(&client, url(&format!("/workflows/{wf}/runs")), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let run_id = run["id"].as_str().unwrap().to_owned();
    let mut done = Value::Null;
    for _ in 0..600 {
        done = common::get_json(&client, &url(&format!("/runs/{run_id}"))).await;
        if done["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(done["status"], "succeeded", "{done}");
    let trace_id = run_id.replace('-', "");

    // What the upstream received: the same traceparent in _meta and in the header.
    let seen = match &done["state"]["seen"] {
        Value::String(text) => serde_json::from_str::<Value>(text).unwrap(),
        Value::Object(o) if o.contains_key("result") => o["result"].clone(),
        other => other.clone(),
    };
    let traceparent = seen["meta_traceparent"]
        .as_str()
        .expect("traceparent in _meta");
    assert_eq!(seen["header_traceparent"], traceparent, "{seen}");
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[0], "00");
    assert_eq!(parts[1], trace_id, "the run's trace");
    assert_eq!(parts[3], "01", "sampled");

    // What the receiver got: run → node → tool call, in the run's trace.
    let mut named = std::collections::HashMap::<String, Value>::new();
    let wanted = ["workflow.run", "workflow.node", "gateway.tool_call"];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !wanted.iter().all(|w| named.contains_key(*w)) {
        let span = tokio::time::timeout_at(deadline, spans.recv())
            .await
            .unwrap_or_else(|_| panic!("spans not all received in 30 s: {named:?}"))
            .expect("oteltap runs");
        let name = span["name"].as_str().unwrap_or_default().to_owned();
        if wanted.contains(&name.as_str()) && span["trace_id"] == trace_id {
            named.insert(name, span);
        }
    }
    let (run, node, call) = (
        &named["workflow.run"],
        &named["workflow.node"],
        &named["gateway.tool_call"],
    );
    assert_eq!(run["attributes"]["run_id"], run_id.as_str(), "{run}");
    assert_eq!(node["parent_span_id"], run["span_id"], "{node}");
    assert_eq!(node["attributes"]["node"], "look", "{node}");
    assert_eq!(node["attributes"]["outcome"], "ok", "{node}");
    assert_eq!(call["parent_span_id"], node["span_id"], "{call}");
    assert_eq!(call["attributes"]["tool"], "tr.trace_context", "{call}");
    assert_eq!(
        parts[2], call["span_id"],
        "the upstream's parent is the tool call's span"
    );

    // A REST caller's trace (its header) continues through the call to the upstream.
    let theirs = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = client
        .post(url("/tools/call"))
        .header("traceparent", format!("00-{theirs}-00f067aa0ba902b7-01"))
        .json(&json!({ "tool": "tr.trace_context", "arguments": {} }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let called: Value = r.json().await.unwrap();
    let seen = reported(&called["result"]);
    let upstream_parent = seen["header_traceparent"].as_str().unwrap();
    assert!(
        upstream_parent.starts_with(&format!("00-{theirs}-")),
        "{seen}"
    );
    // An MCP client's trace (`_meta.traceparent`, SEP-414) likewise.
    let other = "5cf92f3577b34da6a3ce929d0e0e4737";
    let mut meta = common::mcp::meta_2026();
    meta["traceparent"] = json!(format!("00-{other}-10f067aa0ba902b7-01"));
    let bearer = format!("Bearer {token}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "tr.trace_context"),
    ];
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "tr.trace_context", "arguments": {}, "_meta": meta } });
    let endpoint = format!("{base}/mcp/default");
    let r = common::mcp::post(&reqwest::Client::new(), &endpoint, &headers, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let seen = reported(&r.body["result"]);
    let upstream_parent = seen["meta_traceparent"].as_str().unwrap();
    assert!(
        upstream_parent.starts_with(&format!("00-{other}-")),
        "{seen}"
    );
    // A resource read and a prompt get continue the client's trace the same way.
    let read_trace = "6df92f3577b34da6a3ce929d0e0e4738";
    let get_trace = "7ef92f3577b34da6a3ce929d0e0e4739";
    let uri = "switchyard://tr/trace://context/here";
    for (trace, method, name, params) in [
        (read_trace, "resources/read", uri, json!({ "uri": uri })),
        (
            get_trace,
            "prompts/get",
            "tr.trace_prompt",
            json!({ "name": "tr.trace_prompt" }),
        ),
    ] {
        let mut meta = common::mcp::meta_2026();
        meta["traceparent"] = json!(format!("00-{trace}-20f067aa0ba902b7-01"));
        let mut params = params;
        params["_meta"] = meta;
        let headers = [
            ("authorization", bearer.as_str()),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", method),
            ("mcp-name", name),
        ];
        let body = json!({ "jsonrpc": "2.0", "id": 2, "method": method, "params": params });
        let r = common::mcp::post(&reqwest::Client::new(), &endpoint, &headers, &body).await;
        assert_eq!(r.status, StatusCode::OK, "{method}: {}", r.body);
        let text = match method {
            "resources/read" => &r.body["result"]["contents"][0]["text"],
            _ => &r.body["result"]["messages"][0]["content"]["text"],
        };
        let seen: Value = serde_json::from_str(text.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{method}: {e}: {}", r.body));
        for (place, parent) in [
            ("_meta", &seen["meta_traceparent"]),
            ("header", &seen["header_traceparent"]),
        ] {
            let parent = parent.as_str().unwrap_or_default();
            assert!(
                parent.starts_with(&format!("00-{trace}-")),
                "{method}: the upstream's {place} names the client's trace: {seen}"
            );
        }
    }
    // The receiver has the gateway's spans in each caller's trace, under its span.
    let mut continued = std::collections::HashMap::<&str, Value>::new();
    while continued.len() < 4 {
        let span = tokio::time::timeout(Duration::from_secs(30), spans.recv())
            .await
            .unwrap_or_else(|_| panic!("continued spans not received in 30 s: {continued:?}"))
            .expect("oteltap runs");
        match (span["name"].as_str(), span["trace_id"].as_str()) {
            (Some("request"), Some(t)) if t == theirs => {
                continued.insert("rest", span);
            }
            (Some("mcp.tools_call"), Some(t)) if t == other => {
                continued.insert("mcp", span);
            }
            (Some("mcp.resources_read"), Some(t)) if t == read_trace => {
                continued.insert("read", span);
            }
            (Some("mcp.prompts_get"), Some(t)) if t == get_trace => {
                continued.insert("get", span);
            }
            _ => {}
        }
    }
    assert_eq!(continued["rest"]["parent_span_id"], "00f067aa0ba902b7");
    assert_eq!(continued["mcp"]["parent_span_id"], "10f067aa0ba902b7");
    assert_eq!(continued["read"]["parent_span_id"], "20f067aa0ba902b7");
    assert_eq!(continued["get"]["parent_span_id"], "20f067aa0ba902b7");
}

/// What `trace_context` reported, from an MCP tool result (its text is JSON).
fn reported(result: &Value) -> Value {
    let text = result["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text: {result}"));
    serde_json::from_str(text).unwrap()
}
