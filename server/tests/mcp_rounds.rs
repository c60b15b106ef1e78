//! Multi round-trip requests through the gateway (SEP-2322, MCP 2026-07-28): the upstream is
//! the official Python SDK's `MCPServer` over Streamable HTTP, whose `order` tool asks the
//! user to confirm (a `Resolve(...)` elicitation). The gateway speaks 2026-07-28 to it, so
//! the question comes as an `input_required` result. Checked here:
//! - the Python SDK's own client gets the question and its answer decides the order, at
//!   2026-07-28 (it repeats the call itself) and at 2025-11-25 (the gateway asks it on the
//!   call's stream and repeats the call for it);
//! - on the wire, a 2026-07-28 caller gets the upstream's questions with a `requestState` of
//!   the gateway's (`sy1.…`, not the upstream's); a changed state, or the state repeated by
//!   another credential, is refused with -32602; a caller that did not declare elicitation
//!   is refused with -32021; the REST API, which cannot ask, answers 422 naming it;
//! - every round is a governed, audited call.

mod common;

use std::path::PathBuf;

use common::mcp::{Exchange, meta_2026, post as rpc, tenant_with_fixture};
use common::peers::{http_server, python};
use common::{TestDb, TestServer, default_tenant, post, settings};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The Python SDK client (`peers/rounds_client.py`) calling `tool` with `arguments`, and
/// accepting its question with `answer`.
async fn python_calls(
    (url, token, mode): (&str, &str, &str),
    tool: &str,
    arguments: Value,
    answer: Value,
) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/rounds_client.py");
    let (arguments, answer) = (arguments.to_string(), answer.to_string());
    let out = tokio::process::Command::new(python())
        .arg(script)
        .args([url, token, mode, tool, &arguments, &answer])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python {mode}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap()
}

/// A 2026-07-28 `tools/call` of `py.order`, declaring `capabilities`, with what a repeat
/// carries in `extra` (`inputResponses`, `requestState`).
fn order(capabilities: Value, extra: Value) -> Value {
    calling("py.order", json!({ "item": "tea" }), capabilities, extra)
}

fn calling(tool: &str, arguments: Value, capabilities: Value, extra: Value) -> Value {
    let mut meta = meta_2026();
    meta["io.modelcontextprotocol/clientCapabilities"] = capabilities;
    let mut params = json!({ "name": tool, "arguments": arguments, "_meta": meta });
    if let Value::Object(extra) = extra {
        params.as_object_mut().unwrap().extend(extra);
    }
    json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params })
}

async fn send(server: &TestServer, token: &str, body: &Value) -> Exchange {
    let bearer = format!("Bearer {token}");
    let tool = body["params"]["name"].as_str().unwrap_or_default();
    let headers = [
        ("authorization", bearer.as_str()),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", tool),
    ];
    rpc(&server.anon, &server.url("/mcp/default"), &headers, body).await
}

#[tokio::test]
async fn an_upstreams_questions_reach_every_kind_of_caller() {
    let (_upstream, upstream_url) = http_server("fixture_server.py", &["http"]).await;
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let t = default_tenant(&server).await;
    let url = |p: &str| server.url(&format!("/api/v1/tenants/{t}{p}"));
    for (path, body) in [
        (
            "/upstreams",
            json!({ "name": "py", "connection": { "transport": "streamable_http", "url": upstream_url } }),
        ),
        (
            "/policies",
            json!({ "name": "py-all", "effect": "allow", "tool_pattern": "py.*" }),
        ),
    ] {
        let r = post(&server.client, url(path), body).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{path}");
    }
    let endpoint = server.url("/mcp/default");
    let token = server.admin_token.as_str();

    // The official SDK's client, in both eras: asked once, and its answer decides.
    let tea = json!({ "item": "tea" });
    let modern = python_calls(
        (&endpoint, token, "auto"),
        "py.order",
        tea.clone(),
        json!({ "ok": true }),
    )
    .await;
    assert_eq!(modern["protocol"], "2026-07-28", "{modern}");
    assert_eq!(modern["text"], json!(["ordered tea"]), "{modern}");
    assert_eq!(modern["asked"], json!(["Order tea?"]), "{modern}");
    let legacy = python_calls(
        (&endpoint, token, "legacy"),
        "py.order",
        tea,
        json!({ "ok": false }),
    )
    .await;
    assert_eq!(legacy["protocol"], "2025-11-25", "{legacy}");
    assert_eq!(legacy["text"], json!(["did not order tea"]), "{legacy}");
    assert_eq!(legacy["asked"], json!(["Order tea?"]), "{legacy}");

    // On the wire: the upstream's questions, under a state of the gateway's.
    let elicits = json!({ "elicitation": {} });
    let first = send(&server, token, &order(elicits.clone(), json!({}))).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let asked = &first.body["result"];
    assert_eq!(asked["resultType"], "input_required", "{asked}");
    let requests = asked["inputRequests"].as_object().unwrap();
    assert_eq!(requests.len(), 1, "{asked}");
    let (key, request) = requests.iter().next().unwrap();
    assert_eq!(request["method"], "elicitation/create", "{asked}");
    assert_eq!(request["params"]["message"], "Order tea?", "{asked}");
    let state = asked["requestState"].as_str().unwrap();
    assert!(
        state.starts_with("sy1."),
        "the gateway's own state: {state}"
    );

    let answers = json!({ key: { "action": "accept", "content": { "ok": true } } });
    let repeat = |state: &str| json!({ "inputResponses": answers, "requestState": state });
    let done = send(&server, token, &order(elicits.clone(), repeat(state))).await;
    assert_eq!(
        done.body["result"]["content"][0]["text"], "ordered tea",
        "{}",
        done.body
    );

    // A changed state does not open.
    let mut changed = state.to_owned();
    let last = changed.pop().unwrap();
    changed.push(if last == 'A' { 'B' } else { 'A' });
    let refused = send(&server, token, &order(elicits.clone(), repeat(&changed))).await;
    assert_eq!(refused.body["error"]["code"], -32602, "{}", refused.body);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("requestState"),
        "{}",
        refused.body
    );
    // Nor for another credential of the same user.
    let r = post(
        &server.client,
        server.url("/api/v1/auth/api-keys"),
        json!({ "name": "other" }),
    )
    .await;
    let key_token = r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let replayed = send(&server, &key_token, &order(elicits.clone(), repeat(state))).await;
    assert_eq!(replayed.body["error"]["code"], -32602, "{}", replayed.body);

    // A caller that did not declare elicitation is not given the question.
    let undeclared = send(&server, token, &order(json!({}), json!({}))).await;
    assert_eq!(
        undeclared.body["error"]["code"], -32021,
        "{}",
        undeclared.body
    );
    assert_eq!(
        undeclared.body["error"]["data"]["requiredCapabilities"]["elicitation"],
        json!({}),
        "{}",
        undeclared.body
    );

    // The REST API cannot ask anyone anything.
    let r = post(
        &server.client,
        url("/tools/call"),
        json!({ "tool": "py.order", "arguments": { "item": "tea" } }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("elicitation"),
        "{problem}"
    );

    // Every round was a governed call, and the trail says which asked.
    let trail = server
        .text(&format!(
            "/api/v1/tenants/{t}/audit/export?format=json&action=tool.call"
        ))
        .await;
    let records: Vec<Value> = serde_json::from_str(&trail).unwrap();
    let orders: Vec<&Value> = records
        .iter()
        .filter(|r| r["target"] == "tool:py.order")
        .collect();
    assert!(
        orders
            .iter()
            .any(|r| r["detail"]["input_required"] == "elicitation"),
        "{trail}"
    );
    assert!(
        orders.iter().any(|r| r["outcome"] == "failure"
            && r["detail"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("requestState"))),
        "{trail}"
    );
    assert!(orders.len() >= 8, "{} records: {trail}", orders.len());
    server.stop().await;
}

/// The other way round: a session-era upstream (the conformance fixture on the Python SDK,
/// over stdio) asks mid-call while the caller is a 2026-07-28 client. The call is parked;
/// the caller gets the question as an `input_required` result and its repeat carries the
/// answer to the waiting upstream (`mcp_replicas.rs` repeats it on another replica).
#[tokio::test]
async fn a_mid_call_question_reaches_a_2026_caller_as_input_required() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    tenant_with_fixture(&server).await;
    let token = server.admin_token.as_str();
    let elicits = json!({ "elicitation": {} });
    let who = json!({ "message": "Who?" });

    // On the wire: the question under the gateway's key and state, then the answer.
    let first = send(
        &server,
        token,
        &calling(
            "fx.test_elicitation",
            who.clone(),
            elicits.clone(),
            json!({}),
        ),
    )
    .await;
    let asked = &first.body["result"];
    assert_eq!(asked["resultType"], "input_required", "{}", first.body);
    let question = &asked["inputRequests"]["switchyard.ask.1"];
    assert_eq!(question["method"], "elicitation/create", "{asked}");
    assert_eq!(question["params"]["message"], "Who?", "{asked}");
    let state = asked["requestState"].as_str().unwrap().to_owned();
    let answer = json!({ "action": "accept", "content": { "username": "carol", "email": "c@example.test" } });
    let repeat = |state: &str, key: &str| json!({ "inputResponses": { key: answer.clone() }, "requestState": state });
    // An answer under another key, or to other arguments, is refused; the call waits on.
    let gateway = &server;
    let elicit = |arguments: &Value, extra: Value| {
        let body = calling(
            "fx.test_elicitation",
            arguments.clone(),
            elicits.clone(),
            extra,
        );
        async move { send(gateway, token, &body).await.body }
    };
    let wrong_key = elicit(&who, repeat(&state, "other")).await;
    assert_eq!(wrong_key["error"]["code"], -32602, "{wrong_key}");
    let other_args = elicit(
        &json!({ "message": "Else?" }),
        repeat(&state, "switchyard.ask.1"),
    );
    let other_args = other_args.await;
    assert_eq!(other_args["error"]["code"], -32602, "{other_args}");
    let done = elicit(&who, repeat(&state, "switchyard.ask.1")).await;
    let text = done["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.contains("action=accept") && text.contains("carol"),
        "{done}"
    );

    // The official SDK's client at 2026-07-28 drives the same rounds itself.
    let endpoint = server.url("/mcp/default");
    let seen = python_calls(
        (&endpoint, token, "auto"),
        "fx.test_elicitation",
        who,
        json!({ "username": "dave", "email": "d@example.test" }),
    )
    .await;
    assert_eq!(seen["protocol"], "2026-07-28", "{seen}");
    assert_eq!(seen["asked"], json!(["Who?"]), "{seen}");
    let text = seen["text"][0].as_str().unwrap_or_default();
    assert!(text.contains("dave"), "{seen}");

    // A caller that declared no elicitation is not asked, and the upstream hears why.
    let undeclared = send(
        &server,
        token,
        &calling(
            "fx.test_elicitation",
            json!({ "message": "Who?" }),
            json!({}),
            json!({}),
        ),
    )
    .await;
    let refused = serde_json::to_string(&undeclared.body).unwrap();
    assert!(refused.contains("elicitation"), "{refused}");
    assert_ne!(
        undeclared.body["result"]["resultType"], "input_required",
        "{refused}"
    );
    // Counted: the parked calls, their answers, and none still held.
    let metrics = server.text("/metrics").await;
    for line in [
        "mcp_input_required_total{way=\"parked\"}",
        "mcp_input_required_total{way=\"resumed\"}",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    let held = metrics
        .lines()
        .find(|l| l.starts_with("mcp_parked_calls "))
        .unwrap_or_default();
    assert_eq!(held, "mcp_parked_calls 0", "{metrics}");
    server.stop().await;
}
