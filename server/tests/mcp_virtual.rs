//! Virtual servers and upstream tool filters, with a real client in front of the reference
//! `server-everything`: a bundle served at `/mcp/{tenant}/{name}` under the upstream's own
//! names, still governed by the tenant's policies and audited under the gateway's names; an
//! unknown or disabled bundle, a session taken to another endpoint, and bad definitions
//! refused precisely; a tool filter that takes effect on the very next request.

mod common;

use common::mcp::{Era, Watcher, connect, meta_2026, post as rpc, tenant_with_everything};
use common::{TestDb, TestServer, post, settings};
use reqwest::StatusCode;
use rmcp::model::{CallToolRequestParams, GetPromptRequestParams, ReadResourceRequestParams};
use serde_json::{Value, json};

fn call(name: &str, arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_owned())
        .with_arguments(arguments.as_object().unwrap().clone())
}

/// The JSON-RPC error code of a refused request.
fn code(error: rmcp::ServiceError) -> i32 {
    match error {
        rmcp::ServiceError::McpError(e) => e.code.0,
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

async fn put(server: &TestServer, path: &str, body: Value) -> reqwest::Response {
    let url = server.url(path);
    server.client.put(url).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn a_virtual_server_offers_its_bundle_under_the_upstreams_own_names() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let t = tenant_with_everything(&server.base, &server.client).await;
    let servers = server.url(&format!("/api/v1/tenants/{t}/virtual-servers"));
    let kit = json!({
        "name": "kit",
        "description": "echo and the getters",
        "tools": ["everything.echo", "everything.get-*"],
        "prompts": ["everything.*"],
        "resources": ["everything.*"],
        "bare_names": true,
    });
    let r = post(&server.client, servers.clone(), kit.clone()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();

    let client = connect(
        &server.url("/mcp/default/kit"),
        &server.admin_token,
        Era::Session,
        Watcher::default(),
    )
    .await;
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert!(
        names.contains(&"echo") && names.contains(&"get-sum"),
        "{names:?}"
    );
    // Selected by `get-*`, but the tenant's policy denies it: a bundle grants nothing.
    assert!(!names.contains(&"get-env"), "{names:?}");
    assert!(
        names.iter().all(|n| *n == "echo" || n.starts_with("get-")),
        "only the selection: {names:?}"
    );

    let result = client
        .call_tool(call("echo", json!({ "message": "bundled" })))
        .await
        .unwrap();
    assert!(
        serde_json::to_string(&result.content)
            .unwrap()
            .contains("bundled")
    );
    // Neither the gateway's name, nor a tool outside the bundle, nor a denied one exists here.
    for name in [
        "everything.echo",
        "trigger-long-running-operation",
        "get-env",
    ] {
        let refused = client.call_tool(call(name, json!({}))).await.unwrap_err();
        assert_eq!(code(refused), -32602, "{name}");
    }

    let prompts = client.list_all_prompts().await.unwrap();
    let simple = prompts
        .iter()
        .find(|p| {
            p.arguments
                .as_ref()
                .is_none_or(|a| a.iter().all(|a| a.required != Some(true)))
        })
        .expect("a prompt without required arguments");
    assert!(!simple.name.contains('.'), "bare: {}", simple.name);
    let got = client
        .get_prompt(GetPromptRequestParams::new(simple.name.clone()))
        .await
        .unwrap();
    assert!(!got.messages.is_empty());

    // Completions are asked in the bundle's names; what is not offered here has none.
    client
        .complete_prompt_argument(simple.name.clone(), "anything", "a", None)
        .await
        .unwrap();
    let hidden = client
        .complete_prompt_argument("everything.no-such-prompt", "x", "a", None)
        .await
        .unwrap_err();
    assert_eq!(code(hidden), -32602);

    let resources = client.list_all_resources().await.unwrap();
    let first = resources.first().expect("server-everything has resources");
    assert!(!first.uri.starts_with("switchyard://"), "{}", first.uri);
    let read = client
        .read_resource(ReadResourceRequestParams::new(first.uri.clone()))
        .await
        .unwrap();
    let contents = serde_json::to_value(&read.contents).unwrap();
    assert_eq!(contents[0]["uri"], first.uri.as_str(), "{contents}");
    client.cancel().await.unwrap();

    // The trail names what was called as the gateway knows it, and through which bundle.
    let page = server.tool_calls(&t).await;
    let echo = page
        .iter()
        .find(|e| e["target"] == "tool:everything.echo" && e["outcome"] == "success")
        .expect("the bundled echo is audited");
    assert_eq!(echo["detail"]["virtual_server"], "kit");

    // A disabled bundle, like an unknown one, has no endpoint.
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/tenants/{t}/virtual-servers/{id}");
    let mut off = kit.clone();
    off["enabled"] = json!(false);
    assert_eq!(put(&server, &path, off).await.status(), StatusCode::OK);
    let auth = format!("Bearer {}", server.admin_token);
    let discover = json!({ "jsonrpc": "2.0", "id": 1, "method": "server/discover",
        "params": { "_meta": meta_2026() } });
    let headers = [
        ("authorization", auth.as_str()),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "server/discover"),
    ];
    for endpoint in ["/mcp/default/kit", "/mcp/default/nope"] {
        let r = rpc(&server.client, &server.url(endpoint), &headers, &discover).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{endpoint}: {:?}", r.body);
    }
    let r = rpc(
        &server.client,
        &server.url("/mcp/default"),
        &headers,
        &discover,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn a_session_belongs_to_the_endpoint_that_opened_it() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let t = tenant_with_everything(&server.base, &server.client).await;
    let servers = server.url(&format!("/api/v1/tenants/{t}/virtual-servers"));
    let body = json!({ "name": "echoes", "tools": ["everything.echo"] });
    let r = post(&server.client, servers, body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let auth = format!("Bearer {}", server.admin_token);
    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": { "name": "raw", "version": "1" } } });
    let opened = rpc(
        &server.client,
        &server.url("/mcp/default/echoes"),
        &[("authorization", auth.as_str())],
        &init,
    )
    .await;
    assert_eq!(opened.status, StatusCode::OK, "{:?}", opened.body);
    let session = opened.session.expect("a session id");
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" });
    let headers = [
        ("authorization", auth.as_str()),
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let here = rpc(
        &server.client,
        &server.url("/mcp/default/echoes"),
        &headers,
        &list,
    )
    .await;
    assert_eq!(here.status, StatusCode::OK);
    let names: Vec<&str> = here.body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["everything.echo"], "gateway names by default");
    // The same session id at the tenant's endpoint is someone else's session there.
    let there = rpc(&server.client, &server.url("/mcp/default"), &headers, &list).await;
    assert_eq!(there.status, StatusCode::NOT_FOUND, "{:?}", there.body);
    server.stop().await;
}

#[tokio::test]
async fn bad_definitions_are_refused_field_by_field() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let t = common::default_tenant(&server).await;
    let servers = server.url(&format!("/api/v1/tenants/{t}/virtual-servers"));
    let cases = [
        (json!({ "name": "Bad Name", "tools": ["a.*"] }), "name"),
        (json!({ "name": "empty" }), "tools"),
        (json!({ "name": "spaces", "tools": ["a b"] }), "tools"),
        (
            json!({ "name": "long", "tools": ["x".repeat(201)] }),
            "tools",
        ),
        (
            json!({ "name": "many", "prompts": vec!["a.*"; 201] }),
            "prompts",
        ),
    ];
    for (body, field) in cases {
        let r = post(&server.client, servers.clone(), body.clone()).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    // Unknown fields and wrong types are refused before validation.
    let r = post(
        &server.client,
        servers.clone(),
        json!({ "name": "x1", "tools": ["a.*"], "surprise": 1 }),
    )
    .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = post(
        &server.client,
        servers.clone(),
        json!({ "name": "x1", "tools": "a.*" }),
    )
    .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    // A second server of one name is a conflict; nothing was half-written before it.
    let ok = json!({ "name": "twice", "tools": ["a.*"] });
    assert_eq!(
        post(&server.client, servers.clone(), ok.clone())
            .await
            .status(),
        StatusCode::CREATED
    );
    let again = post(&server.client, servers.clone(), ok).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let list: Value = server
        .get(&format!("/api/v1/tenants/{t}/virtual-servers"))
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["twice"]);
    server.stop().await;
}

#[tokio::test]
async fn an_upstream_tool_filter_applies_from_the_next_request() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let t = tenant_with_everything(&server.base, &server.client).await;
    let client = connect(
        &server.url("/mcp/default"),
        &server.admin_token,
        Era::Stateless,
        Watcher::default(),
    )
    .await;
    let echo = || call("everything.echo", json!({ "message": "hi" }));
    client.call_tool(echo()).await.unwrap();

    let list: Value = server
        .get(&format!("/api/v1/tenants/{t}/upstreams"))
        .await
        .json()
        .await
        .unwrap();
    let mut upstream = list["items"][0].clone();
    let id = upstream["id"].as_str().unwrap().to_owned();
    let input = json!({
        "name": upstream["name"],
        "connection": upstream["connection"].take(),
        "tool_filter": { "exclude": ["echo", "trigger-*"] },
    });
    let path = format!("/api/v1/tenants/{t}/upstreams/{id}");
    let r = put(&server, &path, input.clone()).await;
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);

    // No wait: the change is seen by the next request (the configuration's version moved).
    let names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(!names.iter().any(|n| n == "everything.echo"), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("everything.trigger-")));
    assert!(names.iter().any(|n| n == "everything.get-sum"), "{names:?}");
    assert_eq!(code(client.call_tool(echo()).await.unwrap_err()), -32602);
    let rest: Value = server
        .get(&format!("/api/v1/tenants/{t}/tools"))
        .await
        .json()
        .await
        .unwrap();
    let listed = rest["items"].to_string();
    assert!(!listed.contains("everything.echo") && listed.contains("everything.get-sum"));

    // A filter pattern is checked like any other.
    let mut bad = input;
    bad["tool_filter"] = json!({ "include": ["has space"] });
    let r = put(&server, &path, bad).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "tool_filter.include");
    client.cancel().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn the_rest_catalog_lists_searches_and_narrows() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let t = tenant_with_everything(&server.base, &server.client).await;
    let catalog = |query: &str| {
        let url = server.url(&format!("/api/v1/tenants/{t}/catalog{query}"));
        server.client.get(url).send()
    };
    let all: Value = catalog("").await.unwrap().json().await.unwrap();
    let kinds: std::collections::BTreeSet<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["prompt", "resource", "template", "tool"]
    );
    assert!(!all.to_string().contains("everything.get-env"), "denied");
    let echo: Value = catalog("?q=ECHO&kind=tool")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = echo["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(items.iter().all(|e| {
        e["kind"] == "tool"
            && (e["name"].as_str().unwrap().contains("echo")
                || e["description"]
                    .as_str()
                    .unwrap()
                    .to_lowercase()
                    .contains("echo"))
    }));
    let resources: Value = catalog("?kind=resource")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(resources["items"].as_array().unwrap().iter().all(|e| {
        e["upstream"] == "everything"
            && e["name"]
                .as_str()
                .unwrap()
                .starts_with("switchyard://everything/")
    }));
    for bad in [
        "?kind=tools",
        &format!("?q={}", "x".repeat(201)),
        "?surprise=1",
    ] {
        let r = catalog(bad).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{bad}"
        );
    }
    server.stop().await;
}
