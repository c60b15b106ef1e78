//! The official MCP SDK clients against the gateway, as PEERS.md lists them: the Python SDK
//! (`mcp` 2.x, in the venv `.ci/setup --test` makes) in its 2026-07-28 mode (`server/discover`)
//! and its legacy mode (`initialize`), and the TypeScript SDK (npm, in end2end) which
//! negotiates 2025-11-25 with a session. Each lists, calls, reads and gets prompts through
//! the gateway in front of server-everything, and is refused the tool policy denies. And MCP
//! Inspector's CLI (2.12, on its own Node 22) lists and calls with a Bearer header.

mod common;

use std::path::PathBuf;

use common::mcp::tenant_with_everything;
use common::peers::python;
use common::{TestDb, TestServer, settings};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs a peer client (`label` names it in failures); its last stdout line is what it saw,
/// as JSON.
async fn run(mut command: tokio::process::Command, label: &str) -> Value {
    let out = command
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {label}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{label} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text =
        if stdout.trim_start().starts_with('{') && serde_json::from_str::<Value>(&stdout).is_ok() {
            stdout.to_string()
        } else {
            stdout.lines().last().unwrap_or_default().to_owned()
        };
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{label}: not JSON: {stdout}"))
}

/// A command running `program` with `args`.
fn command(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command.args(args);
    command
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

    let modern = run(
        command(python(), &[script, &url, token, "auto"]),
        "python auto",
    )
    .await;
    assert_eq!(modern["protocol"], "2026-07-28", "{modern}");
    check(&modern, "python auto");

    let legacy = run(
        command(python(), &[script, &url, token, "legacy"]),
        "python legacy",
    )
    .await;
    assert_eq!(legacy["protocol"], "2025-11-25", "{legacy}");
    check(&legacy, "python legacy");

    let ts = repo().join("end2end/interop/ts_client.mjs");
    let ts_args = [ts.to_str().unwrap(), &url, token];
    let typescript = run(command("node", &ts_args), "typescript").await;
    assert_eq!(typescript["session"], true, "{typescript}");
    check(&typescript, "typescript");
    server.stop().await;
}

/// The Python SDK's OAuth client, given no token: from the endpoint's 401 it finds the
/// tenant's authorization server, registers, gets the user's consent (a console session
/// stands in for the person at the browser), exchanges the code with PKCE and calls tools,
/// in both of its modes.
#[tokio::test]
async fn the_python_sdk_signs_in_with_oauth() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    tenant_with_everything(&server.base, &server.client).await;
    let url = server.url("/mcp/default");
    let browser = common::oauth::Browser::sign_in(&server).await;
    let script = repo().join("server/tests/peers/oauth_client.py");
    for mode in ["auto", "legacy"] {
        let label = format!("python oauth {mode}");
        let mut client = command(python(), &[script.to_str().unwrap(), &url, mode]);
        client
            .env("SWITCHYARD_COOKIE", &browser.cookie)
            .env("SWITCHYARD_CSRF", &browser.csrf);
        let seen = run(client, &label).await;
        let authorization = seen["authorization_url"].as_str().unwrap();
        assert!(
            authorization.starts_with(&server.url("/oauth/default/authorize?")),
            "{label}: {seen}"
        );
        for part in ["code_challenge_method=S256", "resource=", "state="] {
            assert!(authorization.contains(part), "{label}: {authorization}");
        }
        assert_eq!(seen["consent"]["client_name"], "Python SDK OAuth client");
        assert_eq!(seen["consent"]["resource"], url.as_str());
        assert!(seen["client_id"].as_str().unwrap().starts_with("syc_"));
        assert!(seen["has_refresh_token"].as_bool().unwrap(), "{seen}");
        let tools: Vec<&str> = seen["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(tools.contains(&"everything.echo"), "{label}: {seen}");
        assert!(!tools.contains(&"everything.get-env"), "{label}: {seen}");
        assert!(
            seen["echo"][0].as_str().unwrap().contains("oauth"),
            "{label}: {seen}"
        );
    }
    server.stop().await;
}

/// `mcp-inspector --cli URL --transport http --header … ARGS`, on the Node 22 beside it.
async fn inspector(url: &str, token: &str, args: &[&str]) -> Value {
    let bin = repo().join("end2end/inspector/node_modules/.bin");
    assert!(
        bin.join("mcp-inspector").exists(),
        "{} is missing: run `.ci/setup --test`",
        bin.display()
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let header = format!("Authorization: Bearer {token}");
    let mut inspector = command(
        bin.join("mcp-inspector"),
        &["--cli", url, "--transport", "http", "--header", &header],
    );
    inspector.args(args).env("PATH", path);
    run(inspector, &format!("inspector {args:?}")).await
}

#[tokio::test]
async fn mcp_inspector_cli_lists_and_calls_with_a_bearer_header() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    tenant_with_everything(&server.base, &server.client).await;
    let url = server.url("/mcp/default");
    let token = server.admin_token.as_str();

    let tools = inspector(&url, token, &["--method", "tools/list"]).await;
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"everything.echo"), "{names:?}");
    assert!(!names.contains(&"everything.get-env"), "{names:?}");
    let echo = inspector(
        &url,
        token,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "everything.echo",
            "--tool-arg",
            "message=inspector",
        ],
    )
    .await;
    assert_eq!(echo["content"][0]["text"], "Echo: inspector", "{echo}");
    let resources = inspector(&url, token, &["--method", "resources/list"]).await;
    let uri = resources["resources"][0]["uri"].as_str().unwrap();
    assert!(uri.starts_with("switchyard://everything/"), "{uri}");
    server.stop().await;
}

/// Upstreams on the Python SDKs over Streamable HTTP: the official SDK's `MCPServer`
/// (`peers/fixture_server.py`) and FastMCP 4 (`peers/fastmcp_server.py`). Tools, resources
/// and prompts of each work through the gateway for an rmcp client.
#[tokio::test]
async fn python_sdk_and_fastmcp_upstreams_serve_over_streamable_http() {
    use common::mcp::{Era, Watcher, connect};
    use common::peers::http_server;
    use rmcp::model::{CallToolRequestParams, GetPromptRequestParams, ReadResourceRequestParams};
    use serde_json::json;

    let (_sdk, sdk_url) = http_server("fixture_server.py", &["http"]).await;
    let (_fast, fast_url) = http_server("fastmcp_server.py", &[]).await;
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let t = common::default_tenant(&server).await;
    let url = |p: &str| server.url(&format!("/api/v1/tenants/{t}{p}"));
    let bodies = [
        (
            "/upstreams",
            json!({ "name": "pysdk", "connection": { "transport": "streamable_http", "url": sdk_url } }),
        ),
        (
            "/upstreams",
            json!({ "name": "fast", "connection": { "transport": "streamable_http", "url": fast_url } }),
        ),
        (
            "/policies",
            json!({ "name": "python-all", "effect": "allow", "tool_pattern": "*" }),
        ),
    ];
    for (path, body) in bodies {
        let r = common::post(&server.client, url(path), body).await;
        assert_eq!(r.status(), reqwest::StatusCode::CREATED, "{path}");
    }
    let client = connect(
        &server.url("/mcp/default"),
        &server.admin_token,
        Era::Stateless,
        Watcher::default(),
    )
    .await;
    let tools: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(tools.contains(&"pysdk.add".to_owned()), "{tools:?}");
    assert!(tools.contains(&"fast.shout".to_owned()), "{tools:?}");
    let call = |name: &str, arguments: Value| {
        CallToolRequestParams::new(name.to_owned())
            .with_arguments(arguments.as_object().unwrap().clone())
    };
    let sum = client
        .call_tool(call("pysdk.add", json!({ "a": 2, "b": 3 })))
        .await
        .unwrap();
    assert!(
        serde_json::to_string(&sum.content).unwrap().contains('5'),
        "{sum:?}"
    );
    let shout = client
        .call_tool(call("fast.shout", json!({ "text": "quiet" })))
        .await
        .unwrap();
    assert!(
        serde_json::to_string(&shout.content)
            .unwrap()
            .contains("QUIET"),
        "{shout:?}"
    );

    for (uri, text) in [
        (
            "switchyard://pysdk/fixture://greeting",
            "hello from the fixture",
        ),
        ("switchyard://fast/fast://motto", "fast and typed"),
    ] {
        let read = client
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
            .unwrap();
        let contents = serde_json::to_value(&read.contents).unwrap();
        assert_eq!(contents[0]["uri"], uri, "{contents}");
        assert_eq!(contents[0]["text"], text, "{contents}");
    }
    for (name, argument, expected) in [
        ("pysdk.review", "code", "Please review"),
        ("fast.summarize", "topic", "Summarize gateways"),
    ] {
        let arguments =
            json!({ argument: if argument == "code" { "fn main() {}" } else { "gateways" } });
        let got = client
            .get_prompt(
                GetPromptRequestParams::new(name)
                    .with_arguments(arguments.as_object().unwrap().clone()),
            )
            .await
            .unwrap();
        let messages = serde_json::to_string(&got.messages).unwrap();
        assert!(messages.contains(expected), "{name}: {messages}");
    }
    client.cancel().await.unwrap();
    server.stop().await;
}
