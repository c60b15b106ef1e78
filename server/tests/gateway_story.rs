//! The gateway's call path over REST, against the reference `server-everything` over stdio:
//! the catalog holds only what policy lets the caller use, calls are decided, forwarded over
//! one reused session and audited; a crashed upstream is reconnected; a dead one trips its
//! breaker; a disabled one's process ends.

mod common;

use std::time::Duration;

use common::peers::{everything, pids_with, wait_for_pids};
use common::{PASSWORD, TestDb, TestServer, default_tenant, make_user, post, settings};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn tools_are_listed_called_and_audited_through_the_gateway() {
    let everything = everything();
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let t = default_tenant(&server).await;
    let url = |p: &str| server.url(&format!("/api/v1/tenants/{t}{p}"));
    let marker = format!("gateway-marker-{}", uuid::Uuid::new_v4().simple());
    let upstream_id = register_everything(&server, &t, "everything", &marker).await;
    let call = |tool: &str, arguments: Value| {
        post(
            &server.client,
            url("/tools/call"),
            json!({ "tool": tool, "arguments": arguments }),
        )
    };

    // No rule: nothing listed, and a call is answered as an unknown tool (and audited).
    let list: Value = server
        .get(&format!("/api/v1/tenants/{t}/tools"))
        .await
        .json()
        .await
        .unwrap();
    assert!(names(&list).is_empty(), "{list}");
    let r = call("everything.echo", json!({ "message": "hi" })).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["detail"], "unknown tool `everything.echo`");

    // Everything allowed but get-env (a deny wins): listed and callable accordingly.
    for rule in [
        json!({ "name": "everything-all", "effect": "allow", "tool_pattern": "everything.*", "priority": 1 }),
        json!({ "name": "no-env", "effect": "deny", "tool_pattern": "everything.get-env" }),
    ] {
        assert_eq!(
            post(&server.client, url("/policies"), rule).await.status(),
            StatusCode::CREATED
        );
    }
    let list: Value = server
        .get(&format!("/api/v1/tenants/{t}/tools"))
        .await
        .json()
        .await
        .unwrap();
    let listed = names(&list);
    assert!(
        listed.contains(&"everything.echo".to_string()),
        "{listed:?}"
    );
    assert!(!listed.contains(&"everything.get-env".to_string()));
    let echo = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "everything.echo")
        .unwrap();
    assert_eq!(echo["input_schema"]["type"], "object");
    assert_eq!(
        call("everything.get-env", json!({})).await.status(),
        StatusCode::NOT_FOUND
    );

    let answer: Value = call("everything.echo", json!({ "message": "an-argument-value" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["is_error"], false, "{answer}");
    assert_eq!(answer["rule"], "everything-all");
    assert!(
        answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("an-argument-value")
    );
    let sum: Value = call("everything.get-sum", json!({ "a": 2, "b": 3 }))
        .await
        .json()
        .await
        .unwrap();
    assert!(sum["result"].to_string().contains('5'), "{sum}");
    // Bad arguments are the tool's error, not a broken call.
    let bad = call("everything.get-sum", json!({ "a": "two" })).await;
    assert!(
        bad.status() == StatusCode::OK || bad.status() == StatusCode::BAD_GATEWAY,
        "{}",
        bad.status()
    );

    // One session serves every call: one child process.
    let pids = wait_for_pids(&marker, 1).await;
    assert_eq!(pids.len(), 1);

    // A member (tools:call) sees the same tools; a viewer, none.
    make_user(&server, &t, "member@example.com", &["member"]).await;
    make_user(&server, &t, "viewer@example.com", &["viewer"]).await;
    let (member, _) = server
        .sign_in_as("default", "member@example.com", PASSWORD)
        .await;
    let (viewer, _) = server
        .sign_in_as("default", "viewer@example.com", PASSWORD)
        .await;
    let seen: Value = member
        .get(url("/tools"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(names(&seen).contains(&"everything.echo".to_string()));
    let seen: Value = viewer
        .get(url("/tools"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(names(&seen).is_empty());
    let r = post(
        &viewer,
        url("/tools/call"),
        json!({ "tool": "everything.echo", "arguments": { "message": "x" } }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The upstream crashes: the next call reconnects (a new child) and succeeds.
    let _ = std::process::Command::new("kill")
        .arg("-9")
        .arg(pids[0].to_string())
        .status();
    wait_for_pids(&marker, 0).await;
    let mut recovered = false;
    for _ in 0..3 {
        let r = call("everything.echo", json!({ "message": "again" })).await;
        if r.status() == StatusCode::OK {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "no recovery after the upstream crashed");
    assert_eq!(wait_for_pids(&marker, 1).await.len(), 1);
    // The upstream's status carries its recent answer times.
    let status = upstream_status(&server, &t, &upstream_id).await;
    let (p50, p95) = (
        status["latency_p50_ms"].as_f64(),
        status["latency_p95_ms"].as_f64(),
    );
    assert!(p50.is_some_and(|p| p > 0.0) && p95 >= p50, "{status}");

    // Disabling the upstream ends its process; its tools are unknown.
    let disable = json!({
        "name": "everything",
        "connection": { "transport": "stdio", "command": "node", "args": [everything, "stdio", marker] },
        "enabled": false,
    });
    let r = server
        .client
        .put(url(&format!("/upstreams/{upstream_id}")))
        .json(&disable)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        wait_for_pids(&marker, 0).await.len(),
        0,
        "the disabled upstream's child lives on"
    );
    assert_eq!(
        call("everything.echo", json!({ "message": "x" }))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // A dead upstream: failures, then the breaker opens and answers at once.
    post(&server.client, url("/upstreams"), json!({ "name": "dead", "connection": { "transport": "stdio", "command": "/nonexistent/server" } })).await;
    post(
        &server.client,
        url("/policies"),
        json!({ "name": "dead-all", "effect": "allow", "tool_pattern": "dead.*" }),
    )
    .await;
    let mut last = Value::Null;
    for _ in 0..6 {
        let r = call("dead.anything", json!({})).await;
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
        last = r.json().await.unwrap();
    }
    assert!(
        last["detail"].as_str().unwrap().contains("circuit open"),
        "{last}"
    );
    let list: Value = server
        .get(&format!("/api/v1/tenants/{t}/tools"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["unavailable"][0]["upstream"], "dead");

    // Usage per tool over the window, from the trail.
    let stats: Value = server
        .get(&format!("/api/v1/tenants/{t}/tools/stats?hours=1"))
        .await
        .json()
        .await
        .unwrap();
    let of = |tool: &str| {
        stats["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["tool"] == tool)
            .cloned()
            .unwrap()
    };
    assert_eq!(of("dead.anything")["calls"], 6);
    assert_eq!(of("dead.anything")["failures"], 6);
    assert_eq!(of("everything.get-env")["denied"], 1);
    assert!(of("everything.echo")["calls"].as_u64().unwrap() >= 3);
    assert_eq!(stats["items"][0]["tool"], "dead.anything", "busiest first");
    assert_eq!(
        server
            .get(&format!("/api/v1/tenants/{t}/tools/stats?hours=0"))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );

    // The trail: every call with its rule and outcome; arguments only as a digest.
    let trail = server
        .text(&format!(
            "/api/v1/tenants/{t}/audit/export?format=json&action=tool.call"
        ))
        .await;
    let records: Vec<Value> = serde_json::from_str(&trail).unwrap();
    let outcomes: Vec<&str> = records
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"denied")
            && outcomes.contains(&"success")
            && outcomes.contains(&"failure")
    );
    assert!(records.iter().any(|r| r["rule"] == "default-deny"));
    assert!(records.iter().any(|r| r["rule"] == "no-env"));
    assert!(records.iter().all(|r| {
        r["detail"]["argument_digest"]
            .as_str()
            .is_some_and(|d| d.len() == 64)
    }));
    assert!(!trail.contains("an-argument-value"));

    // A live session's child ends with the server.
    let last = format!("gateway-last-{}", uuid::Uuid::new_v4().simple());
    register_everything(&server, &t, "last", &last).await;
    post(
        &server.client,
        url("/policies"),
        json!({ "name": "last-all", "effect": "allow", "tool_pattern": "last.*" }),
    )
    .await;
    assert_eq!(
        call("last.echo", json!({ "message": "x" })).await.status(),
        StatusCode::OK
    );
    assert_eq!(pids_with(&last).len(), 1);
    server.stop().await;
    assert_eq!(
        wait_for_pids(&last, 0).await.len(),
        0,
        "an upstream child outlived the server"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn each_caller_has_a_rate_per_tool() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let mut s = settings(&db);
    s.http.tool_rate_limit_per_second = 1;
    let server = TestServer::start(s).await;
    let t = default_tenant(&server).await;
    let url = |p: &str| server.url(&format!("/api/v1/tenants/{t}{p}"));
    register_everything(&server, &t, "everything", "rate-story").await;
    post(
        &server.client,
        url("/policies"),
        json!({ "name": "all", "effect": "allow", "tool_pattern": "everything.*" }),
    )
    .await;
    // Three at once: the rate is checked before any is sent, so one goes through.
    let calls = (0..3).map(|_| {
        post(
            &server.client,
            url("/tools/call"),
            json!({ "tool": "everything.echo", "arguments": { "message": "x" } }),
        )
    });
    let answers = futures::future::join_all(calls).await;
    let refused: Vec<_> = answers
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(
        refused.len(),
        2,
        "{:?}",
        answers.iter().map(|r| r.status()).collect::<Vec<_>>()
    );
    assert!(refused[0].headers().contains_key("retry-after"));
    // Another tool has its own bucket.
    let other = post(
        &server.client,
        url("/tools/call"),
        json!({ "tool": "everything.get-sum", "arguments": { "a": 1, "b": 2 } }),
    )
    .await;
    assert_eq!(other.status(), StatusCode::OK);
    let trail = server
        .text(&format!(
            "/api/v1/tenants/{t}/audit/export?format=json&action=tool.call"
        ))
        .await;
    assert_eq!(trail.matches("rate-limit:tool").count(), 2);
    server.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn health_checks_notice_a_dead_upstream_before_anyone_calls() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let mut s = settings(&db);
    s.gateway.health_check_secs = 1;
    let server = TestServer::start(s).await;
    let t = default_tenant(&server).await;
    let url = |p: &str| server.url(&format!("/api/v1/tenants/{t}{p}"));
    let marker = format!("health-marker-{}", uuid::Uuid::new_v4().simple());
    let id = register_everything(&server, &t, "everything", &marker).await;
    post(
        &server.client,
        url("/policies"),
        json!({ "name": "all", "effect": "allow", "tool_pattern": "everything.*" }),
    )
    .await;
    let r = post(
        &server.client,
        url("/tools/call"),
        json!({ "tool": "everything.echo", "arguments": { "message": "x" } }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(upstream_status(&server, &t, &id).await["connected"], true);

    // The child dies; with no call in between, a health check notices within seconds.
    let pids = wait_for_pids(&marker, 1).await;
    let _ = std::process::Command::new("kill")
        .arg("-9")
        .arg(pids[0].to_string())
        .status();
    let mut seen = Value::Null;
    for _ in 0..50 {
        seen = upstream_status(&server, &t, &id).await;
        if seen["connected"] == false && seen["consecutive_failures"].as_u64() >= Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(seen["connected"], false, "{seen}");
    assert!(seen["consecutive_failures"].as_u64() >= Some(1), "{seen}");
    assert!(
        seen["last_error"].as_str().unwrap().contains("ping"),
        "{seen}"
    );
    // The next call reconnects and resets the count.
    let r = post(
        &server.client,
        url("/tools/call"),
        json!({ "tool": "everything.echo", "arguments": { "message": "y" } }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        upstream_status(&server, &t, &id).await["consecutive_failures"],
        0
    );
    server.stop().await;
    db.drop_db().await;
}

async fn upstream_status(server: &TestServer, t: &str, id: &str) -> Value {
    let path = format!("/api/v1/tenants/{t}/upstreams/{id}");
    server.get(&path).await.json::<Value>().await.unwrap()["status"].clone()
}

/// Registers `server-everything` over stdio as upstream `name`, with `marker` on its command
/// line so its processes can be found; returns the upstream's id.
async fn register_everything(server: &TestServer, t: &str, name: &str, marker: &str) -> String {
    let body = json!({
        "name": name,
        "connection": { "transport": "stdio", "command": "node", "args": [everything(), "stdio", marker] },
    });
    let r = post(
        &server.client,
        server.url(&format!("/api/v1/tenants/{t}/upstreams")),
        body,
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    created["id"].as_str().unwrap().to_string()
}

/// Arguments reach the trail only where the tenant opted in, redacted, and the setting is
/// read and changed under the policy permissions.
#[tokio::test]
async fn arguments_are_kept_only_where_the_tenant_opts_in() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let t = default_tenant(&server).await;
    let url = |p: &str| server.url(&format!("/api/v1/tenants/{t}{p}"));
    let marker = format!("gateway-arguments-{}", uuid::Uuid::new_v4().simple());
    register_everything(&server, &t, "everything", &marker).await;
    let rule = json!({ "name": "all", "effect": "allow", "tool_pattern": "everything.*" });
    assert_eq!(
        post(&server.client, url("/policies"), rule).await.status(),
        StatusCode::CREATED
    );
    let echo = |message: &str| json!({ "tool": "everything.echo", "arguments": { "message": message, "api_token": "t0p" } });
    let last_echo = || async {
        let page: Value = server
            .get(&format!(
                "/api/v1/tenants/{t}/audit?action=tool.call&limit=1"
            ))
            .await
            .json()
            .await
            .unwrap();
        page["items"][0]["detail"].clone()
    };

    let settings_url = url("/gateway-settings");
    let off: Value = server
        .get(&format!("/api/v1/tenants/{t}/gateway-settings"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(off, json!({ "store_arguments": false }));
    let r = post(&server.client, url("/tools/call"), echo("not kept")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let detail = last_echo().await;
    assert!(
        detail["argument_digest"].is_string() && detail.get("arguments").is_none(),
        "{detail}"
    );

    let on = json!({ "store_arguments": true });
    let r = server
        .client
        .put(&settings_url)
        .json(&on)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = post(&server.client, url("/tools/call"), echo("kept")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let detail = last_echo().await;
    assert_eq!(detail["arguments"]["message"], "kept", "{detail}");
    assert_eq!(detail["arguments"]["api_token"], "[redacted]", "{detail}");
    assert!(!detail.to_string().contains("t0p"));

    // Bad bodies are refused and change nothing; a member without policies:write may not.
    for bad in [
        json!({ "store_arguments": "yes" }),
        json!({ "store_arguments": true, "x": 1 }),
    ] {
        let r = server
            .client
            .put(&settings_url)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{bad}: {}", r.status());
    }
    make_user(&server, &t, "viewer@example.com", &["viewer"]).await;
    let (viewer, _) = server
        .sign_in_as("default", "viewer@example.com", PASSWORD)
        .await;
    let r = viewer
        .put(&settings_url)
        .json(&json!({ "store_arguments": false }))
        .send()
        .await
        .unwrap();
    assert!(
        r.status() == StatusCode::FORBIDDEN || r.status() == StatusCode::NOT_FOUND,
        "{}",
        r.status()
    );
    let still: Value = server
        .get(&format!("/api/v1/tenants/{t}/gateway-settings"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still, on);
    server.stop().await;
    assert!(
        wait_for_pids(&marker, 0).await.is_empty(),
        "{:?}",
        pids_with(&marker)
    );
}
