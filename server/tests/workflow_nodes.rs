//! The node kinds that fan out or nest, on SQLite and (with `DATABASE_URL`) PostgreSQL: a
//! map over a list (order, audit per item, the first failure stopping the rest), a subgraph
//! run as a run of its own (an approval inside it holding its parent, a missing workflow,
//! endless nesting), definitions written in YAML, and a run's deadline stopping the step in
//! flight.

mod common;

use std::time::Duration;

use common::workflows::{checkpoints, create, decide, finished, settle, start};
use common::{TestDb, TestServer, post};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn maps_subgraphs_and_yaml() {
    for backend in common::backends() {
        let db = TestDb::create(&backend).await;
        let server = TestServer::start(common::settings(&db)).await;
        let t = common::mcp::tenant_with_fixture(&server).await;
        map_fan_out(&server, &t).await;
        map_retry(&server, &t).await;
        subgraphs(&server, &t, &db.url).await;
        yaml(&server, &t).await;
        deadline(&server, &t).await;
        server.stop().await;
        db.drop_db().await;
    }
}

/// The run's audited tool calls (its request ids name it).
async fn audited(server: &TestServer, t: &str, run: &str) -> Vec<Value> {
    let audit: Value = server
        .get(&format!(
            "/api/v1/tenants/{t}/audit?action=tool.call&limit=200"
        ))
        .await
        .json()
        .await
        .unwrap();
    audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["request_id"].as_str().is_some_and(|id| id.contains(run)))
        .cloned()
        .collect()
}

/// The ids of the run's audited tool calls, sorted.
async fn audited_calls(server: &TestServer, t: &str, run: &str) -> Vec<String> {
    let mut ids: Vec<String> = (audited(server, t, run).await.iter())
        .filter_map(|r| r["request_id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// A map over a list: each item's call governed and audited as its own, results in the
/// list's order through the output's reducer; the first failure stops the rest.
async fn map_fan_out(server: &TestServer, t: &str) {
    let definition = json!({
        "state": {
            "names": { "type": "array" },
            "echoes": { "type": "array", "reducer": "append", "default": ["before"] }
        },
        "start": "each",
        "nodes": {
            "each": { "kind": "map", "over": "state.names", "concurrency": 2, "output": "echoes",
                      "do": { "kind": "tool", "tool": "fx.json_schema_2020_12_tool",
                              "arguments": { "name": "{{ upper(item) }}-{{ index }}" } } }
        }
    });
    let wf = create(server, t, "echo-each", definition).await;
    let run = start(server, t, &wf, json!({ "names": ["ada", "bo", "cy"] })).await;
    let done = settle(server, t, &run).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let echoes: Vec<&str> = done["state"]["echoes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().or_else(|| e["result"].as_str()).unwrap())
        .collect();
    assert_eq!(
        echoes,
        [
            "before",
            "name=ADA-0, address=None",
            "name=BO-1, address=None",
            "name=CY-2, address=None"
        ]
    );
    let items = checkpoints(server, t, &run).await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["outputs"]["each"]["items"], 3);
    let ids = audited_calls(server, t, &run).await;
    let expected: Vec<String> = (0..3)
        .map(|i| format!("workflow-run:{run}:each[{i}]"))
        .collect();
    assert_eq!(ids, expected);

    // One at a time, the first failure stops the rest: one audited call, the item named.
    let definition = json!({
        "start": "each",
        "nodes": {
            "each": { "kind": "map", "over": "[1, 2, 3]", "concurrency": 1,
                      "do": { "kind": "tool", "tool": "fx.test_error_handling" } }
        }
    });
    let wf = create(server, t, "fail-each", definition).await;
    let run = start(server, t, &wf, json!({})).await;
    let done = settle(server, t, &run).await;
    assert_eq!(done["status"], "failed", "{done}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains("item 0: `fx.test_error_handling` answered with an error"),
        "{error}"
    );
    assert_eq!(audited_calls(server, t, &run).await.len(), 1);

    // Not a list.
    let definition = json!({
        "start": "each",
        "nodes": { "each": { "kind": "map", "over": "'abc'",
                             "do": { "kind": "tool", "tool": "fx.test_simple_text" } } }
    });
    let wf = create(server, t, "not-a-list", definition).await;
    let done = settle(server, t, &start(server, t, &wf, json!({})).await).await;
    let error = done["error"].as_str().unwrap();
    assert!(error.contains("gave \"abc\", not a list"), "{error}");
}

/// Once `run`'s child waits for its approval and `run` waits with it: (child, parent).
async fn paused_with_child(server: &TestServer, t: &str, run: &str) -> (Value, Value) {
    let mut child_run = Value::Null;
    for _ in 0..400 {
        let runs: Value = server
            .get(&format!("/api/v1/tenants/{t}/runs?status=waiting"))
            .await
            .json()
            .await
            .unwrap();
        if let Some(found) = runs["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["parent_run_id"] == run)
        {
            child_run = found.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(child_run.is_object(), "the child of {run} never waited");
    let mut parent_now = Value::Null;
    for _ in 0..100 {
        parent_now = server
            .get(&format!("/api/v1/tenants/{t}/runs/{run}"))
            .await
            .json()
            .await
            .unwrap();
        if parent_now["status"] == "waiting" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child_run, parent_now)
}

/// Marks run `id` succeeded straight in the database, as if its end's wake-up was lost.
async fn end_behind_the_engine(db_url: &str, id: &str) {
    let id = uuid::Uuid::parse_str(id).unwrap();
    let sql =
        "UPDATE workflow_runs SET status = 'succeeded', finished_at = updated_at WHERE id = $1";
    if db_url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(db_url).await.unwrap();
        sqlx::query(sql).bind(id).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(db_url).await.unwrap();
        sqlx::query(sql).bind(id).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

/// A subgraph runs as a run of its own, acting for the same user: its state comes back, an
/// approval inside it holds its parent, a missing workflow and endless nesting fail.
async fn subgraphs(server: &TestServer, t: &str, db_url: &str) {
    let child = json!({
        "state": { "n": { "type": "integer" }, "doubled": { "type": "integer" },
                   "decision": { "type": "object" } },
        "start": "double",
        "nodes": {
            "double": { "kind": "transform", "set": { "doubled": "state.n * 2" }, "next": "ask" },
            "ask": { "kind": "approval", "prompt": "Double {{ state.n }}?", "output": "decision" }
        }
    });
    create(server, t, "doubler", child).await;
    let parent = json!({
        "state": { "n": { "type": "integer" }, "result": { "type": "object" }, "after": { "type": "integer" } },
        "start": "sub",
        "nodes": {
            "sub": { "kind": "subgraph", "workflow": "doubler", "input": { "n": "{{ state.n + 1 }}" },
                     "output": "result", "next": "after" },
            "after": { "kind": "transform", "set": { "after": "state.result.doubled + 1" } }
        }
    });
    let wf = create(server, t, "parent", parent).await;
    let run = start(server, t, &wf, json!({ "n": 20 })).await;
    // The child pauses for its approval; the parent's node waits with it.
    let (child_run, parent_now) = paused_with_child(server, t, &run).await;
    assert_eq!(child_run["state"]["doubled"], 42, "{child_run}");
    assert_eq!(child_run["started_by"], parent_now["started_by"]);
    // The parent pauses with its child, on the subgraph node: its executor is freed.
    assert_eq!(
        (&parent_now["status"], &parent_now["waiting_on"]),
        (&json!("waiting"), &json!(["sub"])),
        "the parent waits: {parent_now}"
    );
    // Its node is not an approval: a decision on it is refused.
    let (client, base) = (&server.client, &server.base);
    let refused = decide(client, base, t, &run, "sub", true).await;
    assert_eq!(refused, StatusCode::UNPROCESSABLE_ENTITY);
    let child_id = child_run["id"].as_str().unwrap();
    let approved = decide(client, base, t, child_id, "ask", true).await;
    assert_eq!(approved, StatusCode::OK);
    // The child's end wakes the parent, whose node finds the child finished.
    let done = finished(server, t, &run).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["state"]["result"]["doubled"], 42);
    assert_eq!(done["state"]["result"]["decision"]["approved"], true);
    assert_eq!(done["state"]["after"], 43);
    let items = checkpoints(server, t, &run).await;
    assert_eq!(items[1]["outputs"]["sub"]["run"], child_id);
    assert_eq!(items[1]["outputs"]["sub"]["status"], "succeeded");

    // A child that ends without waking its parent (it ended while the parent was still
    // pausing, or the wake-up failed: here it is ended behind the engine's back) is found by
    // the sweeper, which wakes the parent.
    let run = start(server, t, &wf, json!({ "n": 1 })).await;
    let (child_run, _) = paused_with_child(server, t, &run).await;
    end_behind_the_engine(db_url, child_run["id"].as_str().unwrap()).await;
    let done = finished(server, t, &run).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["state"]["after"], 5, "{done}");

    // A missing workflow, and a workflow that runs itself, each fail with the reason.
    let definition = json!({ "start": "sub", "nodes": { "sub": { "kind": "subgraph", "workflow": "nowhere" } } });
    let wf = create(server, t, "missing-child", definition).await;
    let done = settle(server, t, &start(server, t, &wf, json!({})).await).await;
    let error = done["error"].as_str().unwrap();
    assert!(error.contains("there is no workflow `nowhere`"), "{error}");
    let definition =
        json!({ "start": "sub", "nodes": { "sub": { "kind": "subgraph", "workflow": "itself" } } });
    let wf = create(server, t, "itself", definition).await;
    let done = settle(server, t, &start(server, t, &wf, json!({})).await).await;
    assert_eq!(done["status"], "failed", "{done}");
    let error = done["error"].as_str().unwrap();
    assert!(error.contains("subgraphs nest at most 8 deep"), "{error}");
    let runs: Value = server
        .get(&format!(
            "/api/v1/tenants/{t}/runs?workflow_id={wf}&limit=50"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        runs["items"].as_array().unwrap().len(),
        9,
        "the run and 8 nested"
    );
}

/// Definitions written in YAML are taken as JSON ones are, with the same strictness.
async fn yaml(server: &TestServer, t: &str) {
    let url = server.url(&format!("/api/v1/tenants/{t}/workflows"));
    let send = |body: &'static str| {
        server
            .client
            .post(url.clone())
            .header("content-type", "application/yaml")
            .body(body)
            .send()
    };
    let r = send(
        "name: greet\n\
         definition:\n  \
           state:\n    who: { type: string }\n    greeting: { type: string }\n  \
           start: hello\n  \
           nodes:\n    hello:\n      kind: transform\n      set:\n        greeting: \"'hello ' + state.who\"\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let wf: Value = r.json().await.unwrap();
    let run = start(
        server,
        t,
        wf["id"].as_str().unwrap(),
        json!({ "who": "yaml" }),
    )
    .await;
    let done = settle(server, t, &run).await;
    assert_eq!(done["state"]["greeting"], "hello yaml", "{done}");
    for (body, why) in [
        ("name: x\ndefinition: [unclosed\n", "line 2"),
        (
            "name: x\ndefinition: { start: a, nodes: {}, extra: 1 }\n",
            "unknown field `extra`",
        ),
    ] {
        let r = send(body).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let problem: Value = r.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(why),
            "{problem}"
        );
    }
}

/// A deadline that passes while a tool call is in flight stops the step: the call is
/// withdrawn (audited as a failure), nothing of the step commits, and the run fails naming
/// its deadline, before the 1.5 s call would have answered.
async fn deadline(server: &TestServer, t: &str) {
    let definition = json!({
        "state": { "done": { "type": "boolean", "default": false } },
        "start": "slow",
        "deadline_secs": 1,
        "nodes": {
            "slow": { "kind": "tool", "tool": "fx.test_reconnection", "next": "after" },
            "after": { "kind": "transform", "set": { "done": "true" } }
        }
    });
    let wf = create(server, t, "hurried", definition).await;
    let run = start(server, t, &wf, json!({})).await;
    let failed = settle(server, t, &run).await;
    assert_eq!(
        (&failed["status"], &failed["step"], &failed["state"]["done"]),
        (&json!("failed"), &json!(0), &json!(false)),
        "{failed}"
    );
    assert_eq!(
        failed["error"], "its deadline passed during step 1",
        "{failed}"
    );
    let calls = audited(server, t, &run).await;
    let call = calls.first().expect("the call is audited");
    assert_eq!(call["outcome"], "failure", "withdrawn: {call}");
}

/// A map records each item as it finishes: retried after a timeout, it runs again only the
/// item that had not finished (audited twice), not the two that had (audited once each).
async fn map_retry(server: &TestServer, t: &str) {
    for (path, body) in [
        (
            "/upstreams",
            json!({ "name": "fz", "connection": { "transport": "stdio",
                "command": common::peers::python(), "args": [common::peers::fixture_server(), "stdio"] } }),
        ),
        (
            "/policies",
            json!({ "name": "fz-all", "effect": "allow", "tool_pattern": "fz.*" }),
        ),
    ] {
        let url = server.url(&format!("/api/v1/tenants/{t}{path}"));
        let r = post(&server.client, url, body).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{path}");
    }
    let definition = json!({
        "state": { "waits": { "type": "array" }, "failure": { "type": "object" },
                   "handled": { "type": "boolean", "default": false } },
        "start": "each",
        "nodes": {
            "each": {
                "kind": "map", "over": "state.waits", "concurrency": 1,
                "do": { "kind": "tool", "tool": "fz.slow_write", "arguments": { "seconds": "{{ item }}" } },
                "timeout_secs": 3,
                "retry": { "attempts": 2, "backoff_ms": 10, "on": ["timeout"] },
                "on_error": "handled", "error_output": "failure"
            },
            "handled": { "kind": "transform", "set": { "handled": "true" } }
        }
    });
    let wf = create(server, t, "writes", definition).await;
    let run = start(server, t, &wf, json!({ "waits": [0, 0, 30] })).await;
    let done = settle(server, t, &run).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["state"]["failure"]["attempts"], 2, "{done}");
    assert_eq!(done["state"]["handled"], true, "{done}");
    let calls = audited_calls(server, t, &run).await;
    let count = |item: &str| calls.iter().filter(|c| c.ends_with(item)).count();
    assert_eq!(
        (count("each[0]"), count("each[1]"), count("each[2]")),
        (1, 1, 2),
        "{calls:?}"
    );
}
