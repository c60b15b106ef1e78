//! Workflow graphs run by the engine, on SQLite and (with `DATABASE_URL`) PostgreSQL: the
//! state at every checkpoint of conditional routing, a parallel fan-out and fan-in through
//! reducers, an approval paused and resumed, a retried tool then its error edge, time travel,
//! and the refusals of bad definitions, inputs and decisions.

mod common;

use std::time::Duration;

use common::workflows::{checkpoints, create, settle, start};
use common::{TestDb, TestServer, post};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Each checkpoint's `ran` and the value of state key `key`.
fn trace(items: &[Value], key: &str) -> Vec<(Vec<String>, Value)> {
    items
        .iter()
        .map(|c| {
            let ran = c["ran"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_owned())
                .collect();
            (ran, c["state"][key].clone())
        })
        .collect()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn counting_loop() -> Value {
    json!({
        "state": {
            "count": { "type": "integer", "reducer": "sum", "default": 0 },
            "log": { "type": "array", "reducer": "append" },
            "limit": { "type": "integer", "default": 3 },
            "summary": { "type": "string" }
        },
        "start": "inc",
        "nodes": {
            "inc": { "kind": "transform", "set": { "count": "1", "log": "'inc ' + string(state.count)" }, "next": "check" },
            "check": { "kind": "condition", "routes": [{ "when": "state.count >= state.limit", "to": "done" }], "otherwise": "inc" },
            "done": { "kind": "transform", "set": { "summary": "'counted to ' + string(state.count)" } }
        }
    })
}

#[tokio::test]
async fn graphs_route_fan_out_pause_retry_and_fork() {
    for backend in common::backends() {
        let db = TestDb::create(&backend).await;
        let server = TestServer::start(common::settings(&db)).await;
        let t = common::mcp::tenant_with_fixture(&server).await;
        conditional_routing_and_fork(&server, &t).await;
        fan_out_and_in(&server, &t).await;
        approval(&server, &t).await;
        retry_then_error_edge(&server, &t).await;
        cancel_in_flight(&server, &t).await;
        cancel_running_ahead(&server, &t).await;
        refusals(&server, &t).await;
        // A platform administrator's run in another tenant acts as that administrator.
        let other = post(
            &server.client,
            server.url("/api/v1/tenants"),
            json!({ "slug": "other", "name": "Other" }),
        )
        .await;
        let other: Value = other.json().await.unwrap();
        let other = other["id"].as_str().unwrap();
        let wf = create(&server, other, "counter", counting_loop()).await;
        let run = start(&server, other, &wf, json!({})).await;
        let done = settle(&server, other, &run).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        server.stop().await;
        db.drop_db().await;
    }
}

async fn conditional_routing_and_fork(server: &TestServer, t: &str) {
    let wf = create(server, t, "counter", counting_loop()).await;
    let run = start(server, t, &wf, json!({})).await;
    let done = settle(server, t, &run).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["state"]["summary"], "counted to 3");
    // A transform reads the state before its own update.
    assert_eq!(done["state"]["log"], json!(["inc 0", "inc 1", "inc 2"]));
    let items = checkpoints(server, t, &run).await;
    let expected: Vec<(Vec<String>, Value)> = [
        (vec![], 0),
        (vec!["inc"], 1),
        (vec!["check"], 1),
        (vec!["inc"], 2),
        (vec!["check"], 2),
        (vec!["inc"], 3),
        (vec!["check"], 3),
        (vec!["done"], 3),
    ]
    .into_iter()
    .map(|(ran, count)| (names(&ran), json!(count)))
    .collect();
    assert_eq!(trace(&items, "count"), expected);
    assert_eq!(items[2]["outputs"]["check"]["route"], "inc");
    assert_eq!(items[6]["outputs"]["check"]["route"], "done");
    assert!(items.last().unwrap()["next"].as_array().unwrap().is_empty());

    // Time travel: from step 2 (after the first check), with the limit raised to 5.
    let url = server.url(&format!("/api/v1/tenants/{t}/runs/{run}/fork"));
    let r = post(
        &server.client,
        url.clone(),
        json!({ "step": 2, "state": { "limit": 5 } }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let forked: Value = r.json().await.unwrap();
    assert_eq!(forked["forked_from"], run.as_str());
    let forked = settle(server, t, forked["id"].as_str().unwrap()).await;
    assert_eq!(forked["state"]["summary"], "counted to 5", "{forked}");
    assert_eq!(
        forked["state"]["log"],
        json!(["inc 0", "inc 1", "inc 2", "inc 3", "inc 4"])
    );
    for (body, why) in [
        (json!({ "step": 99 }), "no checkpoint at step 99"),
        (
            json!({ "step": 2, "state": { "limit": "five" } }),
            "`limit` is of type integer",
        ),
        (
            json!({ "step": 2, "state": { "nope": 1 } }),
            "no key `nope`",
        ),
        (json!({ "step": 7 }), "nothing runs after step 7"),
    ] {
        let r = post(&server.client, url.clone(), body).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem: Value = r.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(why),
            "{problem}"
        );
    }
}

async fn fan_out_and_in(server: &TestServer, t: &str) {
    let definition = json!({
        "state": {
            "items": { "type": "array", "reducer": "append" },
            "total": { "type": "number", "reducer": "sum" },
            "seen": { "type": "object", "reducer": "merge", "default": {} },
            "best": { "type": "integer", "reducer": { "custom": "max(coalesce(current, 0), update)" } },
            "joined": { "type": "integer", "reducer": "sum", "default": 0 }
        },
        "start": "split",
        "nodes": {
            "split": { "kind": "transform", "set": { "total": "0" }, "next": ["c", "a", "b"] },
            "a": { "kind": "transform", "set": { "items": "'a'", "total": "1", "seen": "{a: true}", "best": "7" }, "next": "join" },
            "b": { "kind": "transform", "set": { "items": "['b1', 'b2']", "total": "2.5", "seen": "{b: true}", "best": "3" }, "next": "join" },
            "c": { "kind": "transform", "set": { "items": "'c'", "total": "3", "seen": "{c: len(state.items)}", "best": "5" }, "next": "join" },
            "join": { "kind": "transform", "set": { "joined": "1" } }
        }
    });
    let wf = create(server, t, "fan", definition).await;
    let run = start(server, t, &wf, json!({})).await;
    let done = settle(server, t, &run).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let items = checkpoints(server, t, &run).await;
    assert_eq!(items.len(), 4, "split, the parallel step, join");
    assert_eq!(items[1]["next"], json!(["c", "a", "b"]));
    // The parallel step: every branch read the state before the step; updates reduced in
    // the order of `next`.
    assert_eq!(items[2]["ran"], json!(["c", "a", "b"]));
    assert_eq!(items[2]["state"]["items"], json!(["c", "a", "b1", "b2"]));
    assert_eq!(items[2]["state"]["total"], json!(6.5));
    assert_eq!(
        items[2]["state"]["seen"],
        json!({ "a": true, "b": true, "c": 0 })
    );
    assert_eq!(items[2]["state"]["best"], json!(7));
    // Three branches lead to `join`; it runs once, in the next step.
    assert_eq!(items[2]["next"], json!(["join"]));
    assert_eq!(items[3]["ran"], json!(["join"]));
    assert_eq!(done["state"]["joined"], json!(1));
}

async fn approval(server: &TestServer, t: &str) {
    let definition = json!({
        "state": {
            "decision": { "type": "object" },
            "greeting": { "type": "any" },
            "outcome": { "type": "string" }
        },
        "start": "begin",
        "nodes": {
            "begin": { "kind": "transform", "set": { "outcome": "'pending'" }, "next": ["ask", "greet"] },
            "ask": {
                "kind": "approval", "prompt": "Ship it? ({{ state.outcome }})",
                "form": [{ "name": "reason", "type": "string", "required": true }],
                "output": "decision", "next": "yes", "rejected": "no"
            },
            "greet": { "kind": "tool", "tool": "fx.test_simple_text", "output": "greeting" },
            "yes": { "kind": "transform", "set": { "outcome": "'shipped: ' + state.decision.form.reason" } },
            "no": { "kind": "transform", "set": { "outcome": "'held'" } }
        }
    });
    let wf = create(server, t, "ship", definition).await;
    let decide = |run: &str| server.url(&format!("/api/v1/tenants/{t}/runs/{run}/decisions"));

    let run = start(server, t, &wf, json!({})).await;
    let waiting = settle(server, t, &run).await;
    assert_eq!(waiting["status"], "waiting", "{waiting}");
    assert_eq!(waiting["waiting_on"], json!(["ask"]));
    assert_eq!(waiting["step"], 1);
    for (body, status, why) in [
        (
            json!({ "node": "greet", "approve": true }),
            StatusCode::CONFLICT,
            "not waiting for a decision on `greet`",
        ),
        (
            json!({ "node": "ask", "approve": true }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "`reason` is required",
        ),
        (
            json!({ "node": "ask", "approve": true, "form": { "reason": 5 } }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "is string, not a number",
        ),
        (
            json!({ "node": "ask", "approve": true, "form": { "other": "x" } }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no field `other`",
        ),
    ] {
        let r = post(&server.client, decide(&run), body).await;
        assert_eq!(r.status(), status);
        let problem: Value = r.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(why),
            "{problem}"
        );
    }
    let r = post(
        &server.client,
        decide(&run),
        json!({ "node": "ask", "approve": true, "form": { "reason": "tested" } }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let done = settle(server, t, &run).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["state"]["outcome"], "shipped: tested");
    assert_eq!(done["state"]["decision"]["approved"], true);
    // The tool beside the approval ran once, though its step was taken up twice.
    // The SDK gives a `str` result structured content too: `{"result": …}`.
    assert_eq!(
        done["state"]["greeting"]["result"],
        "This is a simple text response for testing."
    );
    let audit = server.tool_calls(t).await;
    let calls = audit
        .iter()
        .filter(|r| r["request_id"].as_str().is_some_and(|id| id.contains(&run)))
        .count();
    assert_eq!(calls, 1, "{audit:?}");
    let items = checkpoints(server, t, &run).await;
    assert_eq!(items[2]["ran"], json!(["ask", "greet"]));
    assert_eq!(items[2]["outputs"]["ask"]["form"]["reason"], "tested");
    let r = post(
        &server.client,
        decide(&run),
        json!({ "node": "ask", "approve": true }),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "a finished run takes no decision"
    );

    // Rejected: the `rejected` edge.
    let run = start(server, t, &wf, json!({})).await;
    settle(server, t, &run).await;
    let r = post(
        &server.client,
        decide(&run),
        json!({ "node": "ask", "approve": false }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let done = settle(server, t, &run).await;
    assert_eq!(done["state"]["outcome"], "held", "{done}");

    // Cancelled while waiting; a second cancel is a conflict.
    let run = start(server, t, &wf, json!({})).await;
    settle(server, t, &run).await;
    let cancel = server.url(&format!("/api/v1/tenants/{t}/runs/{run}/cancel"));
    let r = post(&server.client, cancel.clone(), json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "cancelled");
    assert_eq!(
        post(&server.client, cancel, json!({})).await.status(),
        StatusCode::CONFLICT
    );
    let waiting: Value = server
        .get(&format!(
            "/api/v1/tenants/{t}/runs?status=waiting&workflow_id={wf}"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert!(waiting["items"].as_array().unwrap().is_empty(), "{waiting}");
}

async fn retry_then_error_edge(server: &TestServer, t: &str) {
    let definition = json!({
        "state": {
            "failure": { "type": "object" },
            "handled": { "type": "boolean", "default": false }
        },
        "start": "flaky",
        "nodes": {
            "flaky": {
                "kind": "tool", "tool": "fx.test_error_handling",
                "retry": { "attempts": 3, "backoff_ms": 10, "on": ["tool_error"] },
                "on_error": "handler", "error_output": "failure"
            },
            "handler": { "kind": "transform", "set": { "handled": "state.failure.attempts == 3" } }
        }
    });
    let wf = create(server, t, "flaky", definition).await;
    let run = start(server, t, &wf, json!({})).await;
    let done = settle(server, t, &run).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["state"]["handled"], true, "{done}");
    assert_eq!(done["state"]["failure"]["kind"], "tool_error");
    assert_eq!(done["state"]["failure"]["node"], "flaky");
    let items = checkpoints(server, t, &run).await;
    assert_eq!(items[1]["next"], json!(["handler"]));
    // Three attempts, each a governed, audited call.
    let audit = server.tool_calls(t).await;
    let calls = audit
        .iter()
        .filter(|r| r["request_id"].as_str().is_some_and(|id| id.contains(&run)))
        .count();
    assert_eq!(calls, 3, "{audit:?}");

    // Without an error edge the run fails, naming the node and why.
    let definition = json!({
        "start": "denied",
        "nodes": { "denied": { "kind": "tool", "tool": "nope.missing" } }
    });
    let wf = create(server, t, "unknown-tool", definition).await;
    let run = start(server, t, &wf, json!({})).await;
    let done = settle(server, t, &run).await;
    assert_eq!(done["status"], "failed");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains("node `denied` failed (refused)") && error.contains("unknown tool"),
        "{error}"
    );
}

/// A run cancelled while its tool call is in flight: the call is withdrawn at the upstream
/// (its audit record is a failure, not the success it would be 1.5 s later) and nothing
/// after it runs.
async fn cancel_in_flight(server: &TestServer, t: &str) {
    let definition = json!({
        "state": { "done": { "type": "boolean", "default": false } },
        "start": "slow",
        "nodes": {
            "slow": { "kind": "tool", "tool": "fx.test_reconnection", "next": "after" },
            "after": { "kind": "transform", "set": { "done": "true" } }
        }
    });
    let wf = create(server, t, "slow", definition).await;
    let run = start(server, t, &wf, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cancel = server.url(&format!("/api/v1/tenants/{t}/runs/{run}/cancel"));
    let r = post(&server.client, cancel, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let body: Value = server
        .get(&format!("/api/v1/tenants/{t}/runs/{run}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&body["status"], &body["state"]["done"], &body["step"]),
        (&json!("cancelled"), &json!(false), &json!(0)),
        "{body}"
    );
    let audit = server.tool_calls(t).await;
    let calls: Vec<&Value> = audit
        .iter()
        .filter(|r| r["request_id"].as_str().is_some_and(|id| id.contains(&run)))
        .collect();
    assert_eq!(calls.len(), 1, "{audit:?}");
    assert_eq!(
        calls[0]["outcome"], "failure",
        "withdrawn, not completed: {}",
        calls[0]
    );
}

/// A long loop of pure nodes, whose steps the executor computes while the ones before are
/// still committing (`engine::ahead`), cancelled mid-way: no step lands after the cancel, and
/// every checkpoint holds the state of exactly its step, none lost or applied twice.
async fn cancel_running_ahead(server: &TestServer, t: &str) {
    let definition = json!({
        "state": { "count": { "type": "integer", "reducer": "sum" } },
        "start": "inc",
        "max_steps": 1_000_000,
        "nodes": {
            "inc": { "kind": "transform", "set": { "count": "1" }, "next": "check" },
            "check": { "kind": "condition", "routes": [{ "when": "state.count < 400000", "to": "inc" }] }
        }
    });
    let wf = create(server, t, "long-loop", definition).await;
    let run = start(server, t, &wf, json!({})).await;
    let path = format!("/api/v1/tenants/{t}/runs/{run}");
    let mut step = 0;
    for _ in 0..600 {
        let body: Value = server.get(&path).await.json().await.unwrap();
        assert_eq!(
            body["status"], "running",
            "it ended before the cancel: {body}"
        );
        step = body["step"].as_i64().unwrap();
        if step >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(step >= 300, "the run did not get going: step {step}");
    let cancel = server.url(&format!("/api/v1/tenants/{t}/runs/{run}/cancel"));
    let r = post(&server.client, cancel, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cancelled: Value = server.get(&path).await.json().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later: Value = server.get(&path).await.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(
        (&later["status"], &later["step"], &later["state"]),
        (
            &cancelled["status"],
            &cancelled["step"],
            &cancelled["state"]
        ),
        "a step landed after the cancel"
    );
    // Odd steps count, even ones check: step n holds count (n + 1) / 2.
    let all = checkpoints(server, t, &run).await;
    let last = later["step"].as_i64().unwrap();
    assert_eq!(all.len() as i64, last + 1, "one checkpoint per step");
    for (i, checkpoint) in all.iter().enumerate() {
        let n = i as i64;
        assert_eq!(
            (&checkpoint["step"], &checkpoint["state"]["count"]),
            (&json!(n), &json!((n + 1) / 2)),
            "{checkpoint}"
        );
    }
    assert_eq!(later["state"]["count"], json!((last + 1) / 2), "{later}");
}

async fn refusals(server: &TestServer, t: &str) {
    let url = server.url(&format!("/api/v1/tenants/{t}/workflows"));
    let bad = json!({
        "name": "bad",
        "definition": {
            "state": { "n": { "type": "integer", "reducer": "append" } },
            "start": "missing",
            "nodes": {
                "a": { "kind": "condition", "routes": [{ "when": "state.n >", "to": "b" }] },
                "b": { "kind": "transform", "set": { "m": "state.zz + 1" }, "next": "nowhere" },
                "c": { "kind": "subgraph" },
                "d": { "kind": "tool", "tool": "x.y", "set": { "n": "1" } }
            }
        }
    });
    let r = post(&server.client, url.clone(), bad).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = r.json().await.unwrap();
    let errors: Vec<(String, String)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (field, part) in [
        (
            "definition.state.n.reducer",
            "does not suit a key of type integer",
        ),
        ("definition.start", "there is no node `missing`"),
        (
            "definition.nodes.a.routes[0].when",
            "at character 10: expected a value, found the end",
        ),
        ("definition.nodes.b.set.m", "the state has no key `m`"),
        ("definition.nodes.b.set.m", "the state has no key `zz`"),
        ("definition.nodes.b.next[0]", "there is no node `nowhere`"),
        (
            "definition.nodes.c.workflow",
            "a subgraph node names the workflow it runs",
        ),
        ("definition.nodes.d.set", "a tool node takes no `set`"),
    ] {
        assert!(
            errors.iter().any(|(f, m)| f == field && m.contains(part)),
            "{field}: {part} in {errors:?}"
        );
    }
    // A malformed body is refused before any check, with the field serde found.
    let r = post(&server.client, url.clone(), json!({ "name": "x1", "definition": { "start": "a", "nodes": { "a": { "kind": "transform", "sett": {} } } } })).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("sett"),
        "{problem}"
    );
    let listed: Value = server
        .get(&format!("/api/v1/tenants/{t}/workflows"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["name"] != "bad" && w["name"] != "x1"),
        "nothing half-written"
    );

    // Versions: a new version does not change what a started run executes.
    let wf = create(server, t, "versioned", counting_loop()).await;
    let mut next = counting_loop();
    next["nodes"]["done"]["set"]["summary"] = json!("'v2 ' + string(state.count)");
    let r = server
        .client
        .put(server.url(&format!("/api/v1/tenants/{t}/workflows/{wf}")))
        .json(&json!({ "name": "versioned", "definition": next }))
        .send()
        .await
        .unwrap();
    let saved: Value = r.json().await.unwrap();
    assert_eq!(saved["version"], 2);
    let url = server.url(&format!("/api/v1/tenants/{t}/workflows/{wf}/runs"));
    let r = post(&server.client, url.clone(), json!({ "version": 1 })).await;
    let v1: Value = r.json().await.unwrap();
    let v1 = settle(server, t, v1["id"].as_str().unwrap()).await;
    assert_eq!(v1["state"]["summary"], "counted to 3");
    let v2 = start(server, t, &wf, json!({ "limit": 1 })).await;
    assert_eq!(settle(server, t, &v2).await["state"]["summary"], "v2 1");

    // Input that does not fit the state.
    for (input, why) in [
        (
            json!({ "limit": "three" }),
            "the input's `limit` is a string, not integer",
        ),
        (json!({ "other": 1 }), "does not declare"),
    ] {
        let r = post(&server.client, url.clone(), json!({ "input": input })).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem: Value = r.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(why),
            "{problem}"
        );
    }
    let r = post(&server.client, url, json!({ "version": 9 })).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = server
        .get(&format!("/api/v1/tenants/{t}/runs?status=bogus"))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
