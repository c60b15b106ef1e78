//! Switchyard's own MCP servers (issue #6), starting with `math`: registered in the first
//! tenant and in every new one with a policy for everyone, spoken to over MCP through the
//! gateway like any upstream (governed by policies, audited), added from the API once and
//! refused twice, and served on their own by `switchyard serve-tool` to the official Python
//! SDK client over stdio and Streamable HTTP.

mod common;

use app::api::BuiltinServer;
use common::mcp::{Era, Watcher, connect};
use common::{Backend, TestDb, TestServer, backends, get_json, make_user, post, settings};
use reqwest::StatusCode;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

fn call(name: &str, arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_owned())
        .with_arguments(arguments.as_object().unwrap().clone())
}

/// Settings that register `math`, as a fresh install does (vectors_story covers `vectors`).
async fn with_builtins(backend: &Backend) -> (TestDb, TestServer) {
    let db = TestDb::create(backend).await;
    let mut settings = settings(&db);
    settings.tools.builtin_for_new_tenants = vec![BuiltinServer::Math];
    let server = TestServer::start(settings).await;
    (db, server)
}

fn text_of(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

#[tokio::test]
async fn a_fresh_install_offers_math_to_everyone_through_the_gateway() {
    for backend in backends() {
        let (db, server) = with_builtins(&backend).await;
        let tenant = common::default_tenant(&server).await;

        // Registered on first run, with its rule, and both in the audit trail.
        let upstreams = get_json(
            &server.client,
            &server.url(&format!("/api/v1/tenants/{tenant}/upstreams")),
        )
        .await;
        let math = &upstreams["items"][0];
        assert_eq!(math["name"], "math", "{upstreams}");
        assert_eq!(
            math["connection"],
            json!({ "transport": "builtin", "server": "math" })
        );
        let policies = get_json(
            &server.client,
            &server.url(&format!("/api/v1/tenants/{tenant}/policies")),
        )
        .await;
        let rule = policies["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "builtin-math");
        assert_eq!(rule.expect("builtin-math rule")["tool_pattern"], "math.*");
        let trail = get_json(
            &server.client,
            &server.url(&format!(
                "/api/v1/tenants/{tenant}/audit?action=upstream.create"
            )),
        )
        .await;
        assert_eq!(trail["items"][0]["actor"], "system:first-run", "{trail}");

        // "Test connection" lists the four tools.
        let id = math["id"].as_str().unwrap();
        let probe = post(
            &server.client,
            server.url(&format!("/api/v1/tenants/{tenant}/upstreams/{id}/test")),
            json!({}),
        )
        .await;
        let probe: Value = probe.json().await.unwrap();
        assert_eq!(probe["ok"], true, "{probe}");
        assert_eq!(probe["server_name"], "switchyard-math");
        let probed: Vec<&str> = probe["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            probed,
            ["evaluate", "statistics", "convert_units", "list_units"]
        );

        // A plain member sees and calls them over MCP, in both protocol eras.
        make_user(&server, &tenant, "member@example.com", &["member"]).await;
        let (_, tokens) = server
            .sign_in_as("default", "member@example.com", common::PASSWORD)
            .await;
        let token = tokens["access_token"].as_str().unwrap();
        for era in [Era::Session, Era::Stateless] {
            let client = connect(&server.url("/mcp/default"), token, era, Watcher::default()).await;
            let tools = client.list_all_tools().await.unwrap();
            let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
            names.sort_unstable();
            assert_eq!(
                names,
                [
                    "math.convert_units",
                    "math.evaluate",
                    "math.list_units",
                    "math.statistics"
                ]
            );
            for tool in &tools {
                let hints = tool.annotations.as_ref().expect("annotations");
                assert_eq!(
                    (hints.read_only_hint, hints.destructive_hint),
                    (Some(true), Some(false)),
                    "{}",
                    tool.name
                );
                assert!(tool.output_schema.is_some(), "{}", tool.name);
                assert!(
                    tool.description.as_ref().is_some_and(|d| d.len() > 40),
                    "{}",
                    tool.name
                );
            }

            let result = client
                .call_tool(call(
                    "math.evaluate",
                    json!({ "expression": "2^64 + x * 3!", "variables": { "x": 2 } }),
                ))
                .await
                .unwrap();
            assert_eq!(result.is_error, Some(false));
            assert_eq!(
                result.structured_content,
                Some(
                    json!({ "result": 18_446_744_073_709_551_628_f64, "text": "18446744073709551628" })
                )
            );

            let stats = client
                .call_tool(call(
                    "math.statistics",
                    json!({ "values": [2, 4, 4, 4, 5, 5, 7, 9], "percentiles": [90] }),
                ))
                .await
                .unwrap();
            let summary = stats.structured_content.unwrap();
            assert_eq!(
                (summary["mean"].as_f64(), summary["std_dev"].as_f64()),
                (Some(5.0), Some(2.0))
            );
            assert_eq!(summary["mode"], json!([4.0]));

            let converted = client
                .call_tool(call(
                    "math.convert_units",
                    json!({ "value": 26.2, "from": "miles", "to": "km" }),
                ))
                .await
                .unwrap();
            assert_eq!(
                converted.structured_content.unwrap()["text"],
                "42.1648128 km"
            );

            // Mistakes a model can correct are tool errors that say what to change.
            for (tool, arguments, expected) in [
                (
                    "math.evaluate",
                    json!({ "expression": "2 (3)" }),
                    "at column 3: expected an operator before `(`",
                ),
                (
                    "math.evaluate",
                    json!({ "expression": "1/0" }),
                    "at column 2: division by zero",
                ),
                (
                    "math.evaluate",
                    json!({ "expression": 42 }),
                    "invalid argument `expression`",
                ),
                (
                    "math.evaluate",
                    json!({ "expr": "1" }),
                    "unknown field `expr`",
                ),
                (
                    "math.statistics",
                    json!({ "values": [] }),
                    "`values` is empty",
                ),
                (
                    "math.convert_units",
                    json!({ "value": 1, "from": "kg", "to": "m" }),
                    "cannot convert kg (mass) to m (length)",
                ),
                (
                    "math.convert_units",
                    json!({ "value": 1, "from": "parsecs", "to": "furlongs" }),
                    "unknown unit `furlongs`",
                ),
                (
                    "math.list_units",
                    json!({ "dimension": "smell" }),
                    "unknown dimension `smell`",
                ),
            ] {
                let refused = client.call_tool(call(tool, arguments)).await.unwrap();
                assert_eq!(refused.is_error, Some(true), "{tool}");
                assert!(
                    text_of(&refused).contains(expected),
                    "{tool}: {}",
                    text_of(&refused)
                );
            }
            let unknown = client
                .call_tool(call("math.nope", json!({})))
                .await
                .unwrap_err();
            assert!(matches!(unknown, rmcp::ServiceError::McpError(e) if e.code.0 == -32602));
            client.cancel().await.unwrap();
        }

        // Governed like any upstream: a deny rule takes a tool away from members.
        let deny = json!({ "name": "no-stats", "effect": "deny", "tool_pattern": "math.statistics", "role": "member" });
        let r = post(
            &server.client,
            server.url(&format!("/api/v1/tenants/{tenant}/policies")),
            deny,
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let client = connect(
            &server.url("/mcp/default"),
            token,
            Era::Stateless,
            Watcher::default(),
        )
        .await;
        let names: Vec<String> = client
            .list_all_tools()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        assert!(!names.contains(&"math.statistics".to_string()), "{names:?}");
        let refused = client
            .call_tool(call("math.statistics", json!({ "values": [1] })))
            .await
            .unwrap_err();
        assert!(matches!(refused, rmcp::ServiceError::McpError(e) if e.code.0 == -32602));
        client.cancel().await.unwrap();

        // And audited under the gateway's name, with the upstream and the rule that allowed it.
        let calls = server.tool_calls(&tenant).await;
        let evaluated = calls
            .iter()
            .find(|c| c["target"] == "tool:math.evaluate")
            .expect("an audited evaluate");
        assert_eq!(evaluated["rule"], "builtin-math", "{evaluated}");
        assert_eq!(evaluated["detail"]["upstream"], "math", "{evaluated}");

        server.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test]
async fn new_tenants_get_the_builtins_and_the_api_adds_them_once() {
    let (db, server) = with_builtins(&Backend::Sqlite).await;
    let created = post(
        &server.client,
        server.url("/api/v1/tenants"),
        json!({ "slug": "acme", "name": "Acme" }),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let acme: Value = created.json().await.unwrap();
    let acme = acme["id"].as_str().unwrap();
    let upstreams = server.url(&format!("/api/v1/tenants/{acme}/upstreams"));
    let listed = get_json(&server.client, &upstreams).await;
    assert_eq!(listed["items"][0]["name"], "math", "{listed}");

    // Once is enough: the name is taken.
    let again = post(
        &server.client,
        format!("{upstreams}/builtin"),
        json!({ "server": "math" }),
    )
    .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    // Not a built-in server, or not the shape: precise 4xx, nothing written.
    let nope = post(
        &server.client,
        format!("{upstreams}/builtin"),
        json!({ "server": "shell" }),
    )
    .await;
    assert_eq!(nope.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = nope.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("unknown variant `shell`"),
        "{problem}"
    );
    let secrets = json!({ "name": "math2", "connection": { "transport": "builtin", "server": "math" },
        "secrets": { "TOKEN": "x" } });
    let refused = post(&server.client, upstreams.clone(), secrets).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(common::fields(&refused.json().await.unwrap()), ["secrets"]);
    assert_eq!(
        get_json(&server.client, &upstreams).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Removed, it can be added back from the API, policy and all.
    let id = listed["items"][0]["id"].as_str().unwrap();
    let policies = server.url(&format!("/api/v1/tenants/{acme}/policies"));
    let rules = get_json(&server.client, &policies).await;
    let rule = rules["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "builtin-math")
        .unwrap();
    let rule = rule["id"].as_str().unwrap();
    for path in [format!("{upstreams}/{id}"), format!("{policies}/{rule}")] {
        let r = server.client.delete(path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    let added = post(
        &server.client,
        format!("{upstreams}/builtin"),
        json!({ "server": "math" }),
    )
    .await;
    assert_eq!(added.status(), StatusCode::CREATED);
    let rules = get_json(&server.client, &policies).await;
    assert!(
        rules["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "builtin-math"),
        "{rules}"
    );

    // A member may not add servers.
    make_user(&server, acme, "m@acme.example", &["member"]).await;
    let (member, _) = server
        .sign_in_as("acme", "m@acme.example", common::PASSWORD)
        .await;
    let r = post(
        &member,
        format!("{upstreams}/builtin"),
        json!({ "server": "math" }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    server.stop().await;
    db.drop_db().await;
}

/// Runs the Python SDK's client script against the standalone server; its JSON report.
async fn python_report(mode: &str, transport: &str, target: &str) -> Value {
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/math_client.py");
    let output = tokio::process::Command::new(common::peers::python())
        .arg(script)
        .args([mode, transport, target])
        .output()
        .await
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("one JSON line")
}

fn check_report(seen: &Value) {
    let tools = seen["tools"].as_object().unwrap();
    assert_eq!(tools.len(), 4, "{seen}");
    assert_eq!(
        tools["evaluate"],
        json!({ "read_only": true, "destructive": false, "has_output_schema": true })
    );
    assert_eq!(seen["evaluate"]["text"], "18446744073709551617", "{seen}");
    assert_eq!(seen["convert"]["result"], 212.0, "{seen}");
    assert_eq!(seen["bad"]["is_error"], true);
    assert!(
        seen["bad"]["text"][0]
            .as_str()
            .unwrap()
            .contains("expected `)` to close the `(` at column 1"),
        "{seen}"
    );
    assert!(
        seen["unknown"]
            .as_str()
            .unwrap()
            .contains("unknown tool `nope`"),
        "{seen}"
    );
}

#[tokio::test]
async fn serve_tool_speaks_to_the_python_sdk_over_stdio_and_http() {
    let binary = env!("CARGO_BIN_EXE_switchyard");
    for mode in ["legacy", "auto"] {
        let seen = python_report(mode, "stdio", binary).await;
        check_report(&seen);
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(binary)
        .args(["serve-tool", "math", "--http", &format!("127.0.0.1:{port}")])
        .env_clear()
        .kill_on_drop(true)
        .spawn()
        .expect("start serve-tool");
    let url = format!("http://127.0.0.1:{port}/mcp");
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    for mode in ["legacy", "auto"] {
        check_report(&python_report(mode, "http", &url).await);
    }
    // A browser page elsewhere may not drive it (DNS rebinding): its Origin is refused.
    let refused = reqwest::Client::new()
        .post(&url)
        .header("Origin", "https://evil.example")
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    child.kill().await.unwrap();

    // Not a built-in server: a usage error, exit code 2.
    let wrong = tokio::process::Command::new(binary)
        .args(["serve-tool", "shell"])
        .output()
        .await
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("name a built-in server: math"));
}

/// SQLite rebuilds the upstreams table to let it hold built-in servers (migration 0021): an
/// upgraded database keeps every upstream, its OAuth grant, and the triggers that version a
/// tenant's configuration.
#[tokio::test]
async fn the_sqlite_upgrade_keeps_upstreams_and_their_grants() {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    let db = TestDb::create(&Backend::Sqlite).await;
    let options: SqliteConnectOptions = db.url.parse().unwrap();
    let pool = SqlitePoolOptions::new()
        .connect_with(options.create_if_missing(true))
        .await
        .unwrap();
    let mut before = sqlx::migrate!("../migrations/sqlite");
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < 21)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before.run(&pool).await.unwrap();
    let (tenant, upstream) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let now = "2026-12-01T00:00:00Z";
    sqlx::query("INSERT INTO tenants (id, slug, name, created_at, updated_at) VALUES ($1, 'old', 'Old', $2, $2)")
        .bind(tenant).bind(now).execute(&pool).await.unwrap();
    sqlx::query("INSERT INTO upstreams (id, tenant_id, name, transport, config, created_at, updated_at, description, secret_names) \
                 VALUES ($1, $2, 'remote', 'streamable_http', '{\"transport\":\"streamable_http\",\"url\":\"https://x.example/mcp\"}', $3, $3, 'kept', '[\"Authorization\"]')")
        .bind(upstream).bind(tenant).bind(now).execute(&pool).await.unwrap();
    sqlx::query("INSERT INTO upstream_oauth (upstream_id, tenant_id, scope, updated_at) VALUES ($1, $2, 'files:read', $3)")
        .bind(upstream).bind(tenant).bind(now).execute(&pool).await.unwrap();
    pool.close().await;

    let store = switchyard::store::Store::open(&switchyard::config::Secret::new(db.url.clone()), 2)
        .await
        .unwrap();
    drop(store);
    let pool = SqlitePoolOptions::new().connect(&db.url).await.unwrap();
    let (name, description, secrets): (String, String, String) =
        sqlx::query_as("SELECT name, description, secret_names FROM upstreams WHERE id = $1")
            .bind(upstream)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (name.as_str(), description.as_str(), secrets.as_str()),
        ("remote", "kept", "[\"Authorization\"]")
    );
    let (scope,): (String,) =
        sqlx::query_as("SELECT scope FROM upstream_oauth WHERE upstream_id = $1")
            .bind(upstream)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(scope, "files:read");
    let version = || {
        sqlx::query_as::<_, (i64,)>("SELECT config_version FROM tenants WHERE id = $1").bind(tenant)
    };
    let (v0,) = version().fetch_one(&pool).await.unwrap();
    sqlx::query("INSERT INTO upstreams (id, tenant_id, name, transport, created_at, updated_at) VALUES ($1, $2, 'math', 'builtin', $3, $3)")
        .bind(uuid::Uuid::now_v7()).bind(tenant).bind(now).execute(&pool).await.unwrap();
    let (v1,) = version().fetch_one(&pool).await.unwrap();
    assert_eq!(v1, v0 + 1, "the insert trigger was made again");
    let bad = sqlx::query("INSERT INTO upstreams (id, tenant_id, name, transport, created_at, updated_at) VALUES ($1, $2, 'x', 'carrier-pigeon', $3, $3)")
        .bind(uuid::Uuid::now_v7()).bind(tenant).bind(now).execute(&pool).await;
    assert!(bad.is_err(), "the transport check still holds");
    sqlx::query("DELETE FROM upstreams WHERE id = $1")
        .bind(upstream)
        .execute(&pool)
        .await
        .unwrap();
    let (grants,): (i64,) = sqlx::query_as("SELECT count(*) FROM upstream_oauth")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(grants, 0, "the grant still goes with its upstream");
    pool.close().await;
}
