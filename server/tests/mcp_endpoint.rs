//! The MCP endpoint `/mcp/{tenant}` with real clients: rmcp's client in both eras (an
//! `initialize` session, and 2026-07-28 stateless requests after `server/discover`) in front
//! of the reference `server-everything` over stdio. What a client may see and call follows
//! the tenant's policies; every call, read and prompt is audited; progress comes back;
//! and what no client library would send (no credentials, a foreign Origin, a forged or
//! ended session, disagreeing headers, an unknown version) is refused precisely. The stdio
//! bridge carries a desktop client's session to the endpoint.

mod common;

use common::mcp::{Era, Watcher, connect, meta_2026, post as rpc, tenant_with_everything};
use common::{TestDb, TestServer, post, settings};
use reqwest::StatusCode;
use rmcp::model::{CallToolRequestParams, GetPromptRequestParams, ReadResourceRequestParams};
use serde_json::{Value, json};

fn text_of(result: &rmcp::model::CallToolResult) -> String {
    serde_json::to_string(&result.content).unwrap()
}

async fn audit_actions(server: &TestServer, t: &str) -> Vec<(String, String, String)> {
    let page: Value = server
        .get(&format!("/api/v1/tenants/{t}/audit?limit=200"))
        .await
        .json()
        .await
        .unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (s("action"), s("target"), s("outcome"))
        })
        .collect()
}

#[tokio::test]
async fn clients_of_both_eras_use_the_governed_catalog() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let t = tenant_with_everything(&server.base, &server.client).await;
    let endpoint = server.url("/mcp/default");

    for era in [Era::Session, Era::Stateless] {
        let watcher = Watcher::default();
        let stateless = matches!(era, Era::Stateless);
        let client = connect(&endpoint, &server.admin_token, era, watcher.clone()).await;
        let version = client.peer_info().unwrap().protocol_version.to_string();
        assert_eq!(
            version,
            if stateless {
                "2026-07-28"
            } else {
                "2025-11-25"
            }
        );

        let tools = client.list_all_tools().await.unwrap();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert!(names.contains(&"everything.echo"), "{names:?}");
        assert!(names.contains(&"everything.get-sum"), "{names:?}");
        assert!(!names.contains(&"everything.get-env"), "denied tool listed");

        let echo = CallToolRequestParams::new("everything.echo").with_arguments(
            json!({ "message": "through the gateway" })
                .as_object()
                .unwrap()
                .clone(),
        );
        let result = client.call_tool(echo).await.unwrap();
        assert!(
            text_of(&result).contains("through the gateway"),
            "{result:?}"
        );

        // A denied tool is an unknown tool: -32602 (MCP 2025-11-25 server/tools §Errors).
        let env = CallToolRequestParams::new("everything.get-env");
        let refused = client.call_tool(env).await.unwrap_err();
        let rmcp::ServiceError::McpError(error) = refused else {
            panic!("expected a JSON-RPC error, got {refused:?}");
        };
        assert_eq!(error.code.0, -32602);
        assert!(error.message.contains("Unknown tool"), "{error:?}");

        // Resources in gateway URIs, read back through the gateway.
        let resources = client.list_all_resources().await.unwrap();
        let first = resources.first().expect("server-everything has resources");
        assert!(
            first.uri.starts_with("switchyard://everything/"),
            "{}",
            first.uri
        );
        let read = client
            .read_resource(ReadResourceRequestParams::new(first.uri.clone()))
            .await
            .unwrap();
        let contents = serde_json::to_value(&read.contents).unwrap();
        assert_eq!(contents[0]["uri"], first.uri.as_str(), "{contents}");
        let templates = client.list_all_resource_templates().await.unwrap();
        assert!(
            templates
                .iter()
                .all(|t| t.uri_template.starts_with("switchyard://everything/"))
        );
        let unknown = client
            .read_resource(ReadResourceRequestParams::new("switchyard://nobody/x"))
            .await
            .unwrap_err();
        // Resource not found: -32002 until 2025-11-25, -32602 from 2026-07-28 on.
        let code = if stateless { -32602 } else { -32002 };
        assert!(
            matches!(&unknown, rmcp::ServiceError::McpError(e) if e.code.0 == code),
            "{unknown:?}"
        );

        // Prompts: one that needs no arguments.
        let prompts = client.list_all_prompts().await.unwrap();
        let simple = prompts
            .iter()
            .find(|p| {
                p.arguments
                    .as_ref()
                    .is_none_or(|a| a.iter().all(|a| a.required != Some(true)))
            })
            .expect("a prompt without required arguments");
        assert!(simple.name.starts_with("everything."), "{}", simple.name);
        let got = client
            .get_prompt(GetPromptRequestParams::new(simple.name.clone()))
            .await
            .unwrap();
        assert!(!got.messages.is_empty());

        // Progress from the upstream comes back under the client's own token.
        let long = CallToolRequestParams::new("everything.trigger-long-running-operation")
            .with_arguments(
                json!({ "duration": 1, "steps": 3 })
                    .as_object()
                    .unwrap()
                    .clone(),
            );
        client.call_tool(long).await.unwrap();
        let progress = watcher.progress.lock().unwrap().clone();
        assert_eq!(progress, vec![1.0, 2.0, 3.0], "progress relayed");

        if !stateless {
            // A policy change reaches the open session as tools/list_changed, and the next
            // list follows it.
            let t = common::default_tenant(&server).await;
            let rule = json!({ "name": format!("no-echo"), "effect": "deny", "tool_pattern": "everything.echo" });
            let url = server.url(&format!("/api/v1/tenants/{t}/policies"));
            let r = post(&server.client, url, rule).await;
            assert_eq!(r.status(), StatusCode::CREATED);
            let told = watcher.tools_changed.notified();
            tokio::time::timeout(std::time::Duration::from_secs(10), told)
                .await
                .expect("notifications/tools/list_changed within 10 s");
            let tools = client.list_all_tools().await.unwrap();
            assert!(tools.iter().all(|t| t.name != "everything.echo"));
            let id = server
                .get(&format!("/api/v1/tenants/{t}/policies"))
                .await
                .json::<Value>()
                .await
                .unwrap()["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == "no-echo")
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let url = server.url(&format!("/api/v1/tenants/{t}/policies/{id}"));
            assert!(
                server
                    .client
                    .delete(url)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .is_success()
            );
        }
        client.cancel().await.unwrap();
    }

    let trail = audit_actions(&server, &t).await;
    let has = |action: &str, target: &str, outcome: &str| {
        trail
            .iter()
            .any(|(a, tg, o)| a == action && tg == target && o == outcome)
    };
    assert!(
        has("tool.call", "tool:everything.echo", "success"),
        "{trail:?}"
    );
    assert!(
        has("tool.call", "tool:everything.get-env", "denied"),
        "{trail:?}"
    );
    assert!(
        trail
            .iter()
            .any(|(a, _, o)| a == "resource.read" && o == "success")
    );
    assert!(
        trail
            .iter()
            .any(|(a, _, o)| a == "prompt.get" && o == "success")
    );
    server.stop().await;
}

#[tokio::test]
async fn what_no_client_library_sends_is_refused_precisely() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    tenant_with_everything(&server.base, &server.client).await;
    let endpoint = server.url("/mcp/default");
    let bearer = format!("Bearer {}", server.admin_token);
    let auth = [("authorization", bearer.as_str())];
    let anon = &server.anon;
    let list = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": { "_meta": meta_2026() } });

    // No credentials: 401 with a Bearer challenge (RFC 6750 §3).
    let r = rpc(anon, &endpoint, &[], &list).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let challenge = r.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    let r = rpc(
        anon,
        &endpoint,
        &[("authorization", "Bearer not-a-token")],
        &list,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    // A page on another origin may not drive the user's tools (DNS rebinding).
    let evil = [
        ("authorization", bearer.as_str()),
        ("origin", "http://evil.example"),
    ];
    let r = rpc(anon, &endpoint, &evil, &list).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"]["message"], "Origin not allowed");

    // No such tenant.
    let r = rpc(anon, &server.url("/mcp/nobody"), &auth, &list).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // 2026-07-28: a self-contained request works with the version header...
    let v2026 = [
        ("authorization", bearer.as_str()),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/list"),
    ];
    let r = rpc(anon, &endpoint, &v2026, &list).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body["result"]["tools"].as_array().unwrap().len() > 3,
        "{}",
        r.body
    );
    assert!(r.session.is_none(), "no session in the stateless era");
    // ...is refused when header and body disagree (-32020, HTTP 400)...
    let lying = [
        ("authorization", bearer.as_str()),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
    ];
    let r = rpc(anon, &endpoint, &lying, &list).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["error"]["code"], -32020, "{}", r.body);
    // ...and names the versions it supports for one it does not (-32022).
    let mut future = meta_2026();
    future["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let discover = json!({ "jsonrpc": "2.0", "id": 2, "method": "server/discover", "params": { "_meta": future } });
    let future_headers = [
        ("authorization", bearer.as_str()),
        ("mcp-protocol-version", "2099-01-01"),
        ("mcp-method", "server/discover"),
    ];
    let r = rpc(anon, &endpoint, &future_headers, &discover).await;
    assert_eq!(r.body["error"]["code"], -32022, "{}", r.body);

    // A session-era client: initialize opens a session...
    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "raw", "version": "1" } } });
    let r = rpc(anon, &endpoint, &auth, &init).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["result"]["protocolVersion"], "2025-11-25");
    let session = r.session.expect("Mcp-Session-Id");
    let in_session = [
        ("authorization", bearer.as_str()),
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let r = rpc(anon, &endpoint, &in_session, &initialized).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let legacy_list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" });
    let r = rpc(anon, &endpoint, &in_session, &legacy_list).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // ...that nobody else may use: a forged id, or another user's token, is a 404.
    let forged = [
        ("authorization", bearer.as_str()),
        ("mcp-session-id", "forged"),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    assert_eq!(
        rpc(anon, &endpoint, &forged, &legacy_list).await.status,
        StatusCode::NOT_FOUND
    );
    let t = common::default_tenant(&server).await;
    common::make_user(&server, &t, "mallory@example.com", &["member"]).await;
    let (_, tokens) = server
        .sign_in_as("default", "mallory@example.com", common::PASSWORD)
        .await;
    let mallory = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let stolen = [
        ("authorization", mallory.as_str()),
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    assert_eq!(
        rpc(anon, &endpoint, &stolen, &legacy_list).await.status,
        StatusCode::NOT_FOUND
    );

    // DELETE ends it; it is then unknown.
    let r = anon
        .delete(&endpoint)
        .header("authorization", &bearer)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        rpc(anon, &endpoint, &in_session, &legacy_list).await.status,
        StatusCode::NOT_FOUND
    );

    // Malformed JSON is a JSON-RPC parse error, not a crash.
    let r = anon
        .post(&endpoint)
        .header("authorization", &bearer)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    server.stop().await;
}

#[tokio::test]
async fn a_desktop_client_connects_over_the_stdio_bridge() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let t = tenant_with_everything(&server.base, &server.client).await;
    let r = post(
        &server.client,
        server.url("/api/v1/auth/api-keys"),
        json!({ "name": "claude-desktop" }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let key = r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();

    // What Claude Desktop does with the README's snippet: start the command, speak stdio.
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"));
    command
        .args(["connect", &server.url("/mcp/default")])
        .env("SWITCHYARD_API_KEY", &key);
    let transport = rmcp::transport::TokioChildProcess::new(command).unwrap();
    let watcher = Watcher::default();
    let desktop = rmcp::ServiceExt::serve(watcher.clone(), transport)
        .await
        .unwrap();
    let info = desktop.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().unwrap().name, "switchyard");
    let tools = desktop.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "everything.echo"));
    assert!(tools.iter().all(|t| t.name != "everything.get-env"));
    let echo = CallToolRequestParams::new("everything.echo").with_arguments(
        json!({ "message": "from the desktop" })
            .as_object()
            .unwrap()
            .clone(),
    );
    let result = desktop.call_tool(echo).await.unwrap();
    assert!(text_of(&result).contains("from the desktop"));
    let long = CallToolRequestParams::new("everything.trigger-long-running-operation")
        .with_arguments(
            json!({ "duration": 1, "steps": 2 })
                .as_object()
                .unwrap()
                .clone(),
        );
    desktop.call_tool(long).await.unwrap();
    // The client hands notifications to its handler apart from answers: the last progress
    // may be handled just after the answer is. (Seen once in CI under load.)
    for _ in 0..100 {
        if watcher.progress.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        *watcher.progress.lock().unwrap(),
        vec![1.0, 2.0],
        "progress through the bridge"
    );
    let denied = desktop
        .call_tool(CallToolRequestParams::new("everything.get-env"))
        .await
        .unwrap_err();
    assert!(matches!(denied, rmcp::ServiceError::McpError(e) if e.code.0 == -32602));
    desktop.cancel().await.unwrap();

    // The calls were made, and audited, as the key's owner.
    let trail = audit_actions(&server, &t).await;
    assert!(
        trail
            .iter()
            .any(|(a, tg, o)| a == "tool.call" && tg == "tool:everything.echo" && o == "success")
    );

    // Without a key the bridge says what is missing and exits 2.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["connect", &server.url("/mcp/default")])
        .env_remove("SWITCHYARD_API_KEY")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SWITCHYARD_API_KEY"));
    server.stop().await;
}

/// Sends `head` (and `body`, if given) on `stream` and reads the answer's head.
async fn exchange(stream: &mut tokio::net::TcpStream, head: &str, body: Option<&str>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(head.as_bytes()).await.unwrap();
    if let Some(body) = body {
        stream.write_all(body.as_bytes()).await.unwrap();
    }
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "closed mid-head");
        answer.push(byte[0]);
    }
    String::from_utf8(answer).unwrap().to_ascii_lowercase()
}

/// The first request of every OAuth client's flow is refused (401) before its body is read.
/// Such an answer says `Connection: close` (RFC 9112 §9.6), so that the client does not
/// send its next request on a connection the server is closing (the MCP Python SDK's OAuth
/// client failed that way). An answer to a request whose body was read keeps the connection.
#[tokio::test]
async fn a_refusal_before_the_body_is_read_closes_the_connection() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;

    // The body is still on its way when the 401 is given.
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /mcp/default HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let answer = exchange(&mut stream, &head, None).await;
    assert!(answer.starts_with("http/1.1 401"), "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");

    // A body the handler reads: the connection stays open for the next request.
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let revoke = r#"{"refresh_token":"nothing"}"#;
    let head = format!(
        "POST /api/v1/auth/revoke HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        revoke.len()
    );
    let answer = exchange(&mut stream, &head, Some(revoke)).await;
    assert!(!answer.contains("connection: close"), "{answer}");
    let length: usize = answer
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |n| n.trim().parse().unwrap());
    let mut rest = vec![0u8; length];
    tokio::io::AsyncReadExt::read_exact(&mut stream, &mut rest)
        .await
        .unwrap();
    let again = format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\n\r\n");
    let answer = exchange(&mut stream, &again, None).await;
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    server.stop().await;
}
