//! What an upstream asks of the gateway's caller mid-call — sampling, elicitation — and the
//! log messages it sends, relayed to the caller whose call it is (MCP 2025-11-25
//! client/sampling, client/elicitation, server/utilities/logging). The upstream is the
//! conformance fixture on the official Python SDK over stdio, one session shared by every
//! caller. Checked here:
//! - a caller that declared sampling and elicitation gets the upstream's requests and its
//!   answers reach the tool; a caller that did not, or a 2026-07-28 caller, gets an error
//!   saying so;
//! - log messages reach the caller above the level its session set, on either replica's
//!   say-so (the level lives in `kv`);
//! - two callers at once never get each other's asks: an ask the gateway cannot tie to one
//!   call is refused, never guessed;
//! - every relayed ask is audited against the call, without its content;
//! - the `switchyard connect` bridge passes asks and logs on to a desktop client.
#![allow(deprecated)] // sampling and logging are the session-era mechanisms under test.

mod common;

use std::sync::{Arc, Mutex};

use common::mcp::{Era, Watcher, connect, tenant_with_fixture};
use common::{TestDb, TestServer, post, settings};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig,
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult,
    ElicitationAction, LoggingLevel, LoggingMessageNotificationParam, ProtocolVersion, Role,
    SamplingMessage, SetLevelRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ErrorData as McpError, RoleClient, ServiceExt};
use serde_json::{Value, json};

/// A client with a "model" and a "user" of its own, that keeps the log messages it hears.
#[derive(Clone)]
struct Capable {
    name: &'static str,
    logs: Arc<Mutex<Vec<String>>>,
    /// The gateway's own questions (a rule that wants the user's confirmation).
    questions: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for Capable {
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.protocol_version = ProtocolVersion::V_2025_11_25;
        info.capabilities = ClientCapabilities::builder()
            .enable_sampling()
            .enable_elicitation()
            .build();
        info
    }

    async fn create_message(
        &self,
        _params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, McpError> {
        // Slow enough that two callers' calls overlap.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let reply = SamplingMessage::new(Role::Assistant, format!("{}'s model", self.name));
        Ok(CreateMessageResult::new(reply, "test-model".into()))
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        // The gateway asks to confirm a call: `nora` says no, everyone else yes.
        if let ElicitRequestParams::FormElicitationParams { message, .. } = &request
            && message.starts_with("Allow the call of")
        {
            self.questions.lock().unwrap().push(message.clone());
            let mut result = ElicitResult::new(ElicitationAction::Accept);
            result.content = Some(json!({ "confirm": self.name != "nora" }));
            return Ok(result);
        }
        let content = json!({ "username": self.name, "email": "a@example.test" });
        let mut result = ElicitResult::new(ElicitationAction::Accept);
        result.content = Some(content);
        Ok(result)
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.logs.lock().unwrap().push(params.data.to_string());
    }
}

async fn capable(
    url: &str,
    token: &str,
    name: &'static str,
) -> RunningService<RoleClient, Capable> {
    let config = StreamableHttpClientTransportConfig::with_uri(url).auth_header(token);
    let transport = StreamableHttpClientTransport::from_config(config);
    handler(name).serve(transport).await.expect("initialize")
}

fn handler(name: &'static str) -> Capable {
    Capable {
        name,
        logs: Arc::default(),
        questions: Arc::default(),
    }
}

fn call(name: &str, arguments: Value) -> CallToolRequestParams {
    let arguments = arguments.as_object().cloned().unwrap_or_default();
    CallToolRequestParams::new(name.to_owned()).with_arguments(arguments)
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

/// Why a call failed: its JSON-RPC error, or its tool error.
fn failure(result: Result<CallToolResult, rmcp::ServiceError>) -> String {
    match result {
        Err(rmcp::ServiceError::McpError(e)) => e.message.to_string(),
        Ok(r) if r.is_error == Some(true) => text(&r),
        other => panic!("expected a failure: {other:?}"),
    }
}

async fn logs_after(client: &RunningService<RoleClient, Capable>, level: LoggingLevel) -> usize {
    client
        .set_level(SetLevelRequestParams::new(level))
        .await
        .unwrap();
    client.service().logs.lock().unwrap().clear();
    let done = client
        .call_tool(call("fx.test_tool_with_logging", json!({})))
        .await
        .unwrap();
    assert!(text(&done).contains("successfully"), "{done:?}");
    // Logs ride the session's standalone stream, so they may trail the answer: wait until
    // the fixture's three have come (up to 10 s on a loaded machine), or half a second when
    // the level should hold them all back.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    loop {
        let seen = client.service().logs.lock().unwrap().len();
        if seen >= 3 || seen == 0 || std::time::Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn upstream_asks_reach_the_caller_whose_call_it_is() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let t = tenant_with_fixture(&server).await;
    let endpoint = server.url("/mcp/default");
    let alice = capable(&endpoint, &server.admin_token, "alice").await;

    // Sampling and elicitation: the upstream's requests reach Alice's client, and her
    // client's answers reach the tool.
    let sampled = alice
        .call_tool(call("fx.test_sampling", json!({ "prompt": "Say hi" })))
        .await
        .unwrap();
    assert_eq!(text(&sampled), "LLM response: alice's model", "{sampled:?}");
    let elicited = alice
        .call_tool(call("fx.test_elicitation", json!({ "message": "Who?" })))
        .await
        .unwrap();
    let answer = text(&elicited);
    assert!(
        answer.contains("action=accept") && answer.contains("alice"),
        "{answer}"
    );

    // Log messages: the fixture logs three at `info`.
    assert_eq!(logs_after(&alice, LoggingLevel::Debug).await, 3);
    assert_eq!(logs_after(&alice, LoggingLevel::Warning).await, 0);
    assert_eq!(logs_after(&alice, LoggingLevel::Info).await, 3);

    // A client that declared no sampling: the upstream hears so, and the call fails.
    let plain = connect(
        &endpoint,
        &server.admin_token,
        Era::Session,
        Watcher::default(),
    )
    .await;
    let refused = plain
        .call_tool(call("fx.test_sampling", json!({ "prompt": "Say hi" })))
        .await;
    assert!(
        failure(refused).contains("does not support sampling"),
        "the caller is told why"
    );

    // A 2026-07-28 client has no channel for server requests mid-call (that revision asks
    // with an input-required result instead): its call fails promptly, with the reason.
    let stateless = connect(
        &endpoint,
        &server.admin_token,
        Era::Stateless,
        Watcher::default(),
    )
    .await;
    let refused = stateless
        .call_tool(call("fx.test_sampling", json!({ "prompt": "Say hi" })))
        .await;
    let why = failure(refused);
    assert!(why.contains("sampling"), "{why}");

    // Two callers at once on the one stdio session: each gets its own model's answer or a
    // refusal, never the other's.
    let bob = capable(&endpoint, &server.admin_token, "bob").await;
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            alice.call_tool(call("fx.test_sampling", json!({ "prompt": "A" }))),
            bob.call_tool(call("fx.test_sampling", json!({ "prompt": "B" }))),
        );
        for (result, own, other) in [(a, "alice", "bob"), (b, "bob", "alice")] {
            match result {
                Ok(result) if result.is_error != Some(true) => {
                    assert_eq!(text(&result), format!("LLM response: {own}'s model"));
                }
                refused => {
                    let why = failure(refused);
                    assert!(why.contains("cannot relay"), "{own}: {why}");
                    assert!(!why.contains(other), "{own} heard {other}'s model: {why}");
                }
            }
        }
    }

    // The trail: each relayed ask against its call, outcome and upstream, no content.
    let trail = server
        .text(&format!(
            "/api/v1/tenants/{t}/audit/export?format=json&action=mcp.sampling"
        ))
        .await;
    let records: Vec<Value> = serde_json::from_str(&trail).unwrap();
    assert!(
        records
            .iter()
            .any(|r| r["outcome"] == "success" && r["target"] == "tool:fx.test_sampling"),
        "{trail}"
    );
    assert!(records.iter().any(|r| r["outcome"] == "failure"), "{trail}");
    assert!(records.iter().all(|r| r["detail"]["upstream"].is_string()));
    assert!(!trail.contains("alice's model") && !trail.contains("Say hi"));
    let elicitations = server
        .text(&format!(
            "/api/v1/tenants/{t}/audit/export?format=json&action=mcp.elicitation"
        ))
        .await;
    assert!(elicitations.contains("tool:fx.test_elicitation"));

    for client in [alice.cancel().await, bob.cancel().await] {
        client.unwrap();
    }
    let _ = plain.cancel().await;
    let _ = stateless.cancel().await;
    server.stop().await;
    db.drop_db().await;
}

/// A desktop client behind `switchyard connect`: the upstream's sampling request reaches its
/// model through the bridge, and the level it sets governs the logs it hears.
#[tokio::test]
async fn the_stdio_bridge_passes_asks_and_logs_to_the_desktop_client() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    tenant_with_fixture(&server).await;
    let r = post(
        &server.client,
        server.url("/api/v1/auth/api-keys"),
        json!({ "name": "desktop" }),
    )
    .await;
    let key = r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"));
    command
        .args(["connect", &server.url("/mcp/default")])
        .env("SWITCHYARD_API_KEY", &key);
    let transport = rmcp::transport::TokioChildProcess::new(command).unwrap();
    let desktop = handler("desk").serve(transport).await.unwrap();
    let sampled = desktop
        .call_tool(call("fx.test_sampling", json!({ "prompt": "Say hi" })))
        .await
        .unwrap();
    assert_eq!(text(&sampled), "LLM response: desk's model", "{sampled:?}");
    assert_eq!(logs_after(&desktop, LoggingLevel::Error).await, 0);
    assert_eq!(logs_after(&desktop, LoggingLevel::Debug).await, 3);
    desktop.cancel().await.unwrap();
    server.stop().await;
    db.drop_db().await;
}

/// A rule that allows a tool only once the user confirms it: a session-era client that
/// takes elicitation is asked before the call (the question names the tool, its arguments
/// and the rule), and the call runs on a yes. A no, a client without elicitation and a
/// 2026-07-28 client are refused, naming the rule, and each refusal is audited.
#[tokio::test]
async fn a_rule_that_wants_confirmation_asks_the_callers_user() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let t = tenant_with_fixture(&server).await;
    let rule = json!({ "name": "confirm-text", "effect": "allow", "confirm": true,
                       "tool_pattern": "fx.test_simple_text", "priority": 10 });
    let policies = server.url(&format!("/api/v1/tenants/{t}/policies"));
    let r = post(&server.client, policies, rule).await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let endpoint = server.url("/mcp/default");
    let confirmed = call("fx.test_simple_text", json!({}));

    let alice = capable(&endpoint, &server.admin_token, "alice").await;
    let done = alice.call_tool(confirmed.clone()).await.unwrap();
    assert!(text(&done).contains("simple text response"), "{done:?}");
    let asked = alice.service().questions.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(
        asked[0].contains("`fx.test_simple_text` with {}") && asked[0].contains("confirm-text")
    );
    // A tool no rule asks about is called without a question.
    alice
        .call_tool(call("fx.test_tool_with_logging", json!({})))
        .await
        .unwrap();
    assert_eq!(alice.service().questions.lock().unwrap().len(), 1);

    let nora = capable(&endpoint, &server.admin_token, "nora").await;
    let refused = failure(nora.call_tool(confirmed.clone()).await);
    assert!(refused.contains("rule `confirm-text`"), "{refused}");
    assert_eq!(nora.service().questions.lock().unwrap().len(), 1);
    for era in [Era::Session, Era::Stateless] {
        let plain = connect(&endpoint, &server.admin_token, era, Watcher::default()).await;
        let refused = failure(plain.call_tool(confirmed.clone()).await);
        assert!(refused.contains("rule `confirm-text`"), "{refused}");
    }

    let outcomes: Vec<String> = server
        .tool_calls(&t)
        .await
        .iter()
        .filter(|c| c["target"] == "tool:fx.test_simple_text")
        .map(|c| c["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        outcomes,
        ["denied", "denied", "denied", "success"],
        "{outcomes:?}"
    );
}
