//! Run events (issue #5 point 3): a run's node, tool call, state and status events, streamed
//! over SSE while it runs, stored for replay, resumed after `Last-Event-ID`, and heard on a
//! replica other than the one executing the run (PostgreSQL with Redis).

mod common;

use common::replica::Replica;
use common::workflows::{SseEvent, create, decide, events, settle, start};
use common::{TestDb, TestServer, post};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A parallel step of an approval and a tool call, then one more node.
fn review() -> Value {
    json!({
        "state": {
            "decision": { "type": "object" },
            "greeting": { "type": "any" },
            "outcome": { "type": "string" }
        },
        "start": "begin",
        "nodes": {
            "begin": { "kind": "transform", "set": { "outcome": "'pending'" }, "next": ["ask", "greet"] },
            "ask": { "kind": "approval", "prompt": "Ship it?", "output": "decision", "next": "yes" },
            "greet": { "kind": "tool", "tool": "fx.test_simple_text", "output": "greeting" },
            "yes": { "kind": "transform", "set": { "outcome": "'shipped'" } }
        }
    })
}

/// `type` and `node` (or `status`) of each event.
fn outline(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            assert_eq!(e.event, e.data["type"], "the SSE name is the type: {e:?}");
            if e.event != "tokens" {
                assert_eq!(
                    e.id.as_deref(),
                    Some(e.data["seq"].to_string().as_str()),
                    "the SSE id is the seq: {e:?}"
                );
            }
            let what = match e.event.as_str() {
                "run_status" => e.data["status"].as_str().unwrap().to_owned(),
                "step" => e.data["step"].to_string(),
                _ => e.data["node"].as_str().unwrap().to_owned(),
            };
            let outcome = e.data["outcome"]
                .as_str()
                .map(|o| format!(" {o}"))
                .unwrap_or_default();
            format!("{} {what}{outcome}", e.event)
        })
        .collect()
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

#[tokio::test]
async fn a_run_streams_its_events_live_stores_them_and_resumes_after_the_last_id() {
    for backend in common::backends() {
        let db = TestDb::create(&backend).await;
        let server = TestServer::start(common::settings(&db)).await;
        let t = common::mcp::tenant_with_fixture(&server).await;
        let wf = create(&server, &t, "review", review()).await;
        let run = start(&server, &t, &wf, json!({})).await;
        assert_eq!(settle(&server, &t, &run).await["status"], "waiting");

        // Replayed from the store: the run up to its pause, then the stream waits.
        let mut stream = events(&server.client, &server.base, &t, &run, None).await;
        let mut before = Vec::new();
        while let Some(event) = stream.next().await {
            let waiting = event.data["status"] == "waiting";
            before.push(event);
            if waiting {
                break;
            }
        }
        let outline_before = outline(&before);
        assert_eq!(
            outline_before[..4],
            [
                "run_status running",
                "node_started begin",
                "node_finished begin ok",
                "step 1"
            ]
        );
        // The parallel step's events, in whichever order its two nodes went.
        assert_eq!(
            sorted(outline_before[4..9].to_vec()),
            sorted(
                [
                    "node_started ask",
                    "node_finished ask paused",
                    "node_started greet",
                    "tool_call greet",
                    "node_finished greet ok"
                ]
                .map(String::from)
                .to_vec()
            ),
            "{outline_before:?}"
        );
        assert_eq!(outline_before[9..], ["run_status waiting"]);
        let step = &before[3].data;
        assert_eq!(step["ran"], json!(["begin"]));
        assert_eq!(step["next"], json!(["ask", "greet"]));
        assert_eq!(step["delta"], json!({ "outcome": "pending" }));
        let call = before.iter().find(|e| e.event == "tool_call").unwrap();
        assert_eq!(call.data["tool"], "fx.test_simple_text");
        assert_eq!(call.data["ok"], true);
        assert_eq!(before[9].data["waiting_on"], json!(["ask"]));

        // Live: the decision, then the rest of the run; the stream ends with it.
        let approved = decide(&server.client, &server.base, &t, &run, "ask", true).await;
        assert_eq!(approved, StatusCode::OK);
        let after = stream.rest().await;
        assert_eq!(
            outline(&after),
            [
                "node_finished ask approved",
                "run_status running",
                "step 2",
                "node_started yes",
                "node_finished yes ok",
                "step 3",
                "run_status succeeded"
            ]
        );
        assert_eq!(after[2].data["ran"], json!(["ask", "greet"]));
        assert_eq!(
            after[2].data["delta"]["greeting"]["result"],
            "This is a simple text response for testing."
        );
        assert_eq!(after[5].data["delta"], json!({ "outcome": "shipped" }));
        let all: Vec<&SseEvent> = before.iter().chain(&after).collect();
        let mut ids: Vec<i64> = all
            .iter()
            .map(|e| e.data["seq"].as_i64().unwrap())
            .collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "each event once");

        // The same events, stored: as JSON, and as a stream of a finished run.
        let stored: Value = server
            .get(&format!("/api/v1/tenants/{t}/runs/{run}/events"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(stored["more"], false);
        let stored_ids: Vec<i64> = stored["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(stored_ids, ids, "stored in order, as streamed");
        let replay = events(&server.client, &server.base, &t, &run, None)
            .await
            .rest()
            .await;
        assert_eq!(replay.len(), count);

        // Resumed after the pause: only what followed it.
        let last = before[9].id.as_deref();
        let resumed = events(&server.client, &server.base, &t, &run, last)
            .await
            .rest()
            .await;
        assert_eq!(outline(&resumed), outline(&after));
        let after_query: Value = server
            .get(&format!(
                "/api/v1/tenants/{t}/runs/{run}/events?after={}",
                last.unwrap()
            ))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(after_query["items"].as_array().unwrap().len(), after.len());

        // Refused: an id that is not one, a run that does not exist, no rights.
        let r = server
            .client
            .get(server.url(&format!("/api/v1/tenants/{t}/runs/{run}/events")))
            .header("accept", "text/event-stream")
            .header("last-event-id", "tomorrow")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let problem: Value = r.json().await.unwrap();
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("Last-Event-ID"),
            "{problem}"
        );
        // (and a page of checkpoints bigger than the largest)
        let r = server
            .get(&format!(
                "/api/v1/tenants/{t}/runs/{run}/checkpoints?limit=5000"
            ))
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let page: Value = server
            .get(&format!(
                "/api/v1/tenants/{t}/runs/{run}/checkpoints?after=0&limit=2"
            ))
            .await
            .json()
            .await
            .unwrap();
        let steps: Vec<&Value> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["step"])
            .collect();
        assert_eq!(
            (steps, &page["more"]),
            (vec![&json!(1), &json!(2)], &json!(true))
        );
        let missing = uuid::Uuid::new_v4();
        let r = server
            .get(&format!("/api/v1/tenants/{t}/runs/{missing}/events"))
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = server
            .anon
            .get(server.url(&format!("/api/v1/tenants/{t}/runs/{run}/events")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        server.stop().await;
    }
}

/// Two processes on one PostgreSQL and Redis: a stream opened on the replica that does not
/// execute the run hears the run live through Redis. Its store polling is set to ten
/// minutes, so only the live path can end the stream within the reader's 60 s.
#[tokio::test]
async fn a_stream_on_another_replica_hears_the_run_live_through_redis() {
    let (Some(common::Backend::Postgres(database)), Some(redis)) =
        (common::backends().pop(), common::redis_url())
    else {
        eprintln!("skipped: DATABASE_URL and REDIS_URL are not both set");
        return;
    };
    let db = TestDb::create(&common::Backend::Postgres(database)).await;
    let prefix = format!("switchyard-test:{}:", uuid::Uuid::new_v4().simple());
    let env = [("SWITCHYARD_ENGINE__EVENTS_POLL_SECS", "600")];
    let a = Replica::start(&db.url, &redis, &prefix, db._dir.path(), &env).await;
    let b = Replica::start(&db.url, &redis, &prefix, db._dir.path(), &env).await;
    let (client, t, _) = a.admin().await;
    let definition = json!({
        "state": { "n": { "type": "integer", "reducer": "sum" } },
        "start": "ask",
        "nodes": {
            "ask": { "kind": "approval", "prompt": "Go?", "next": "one" },
            "one": { "kind": "transform", "set": { "n": "1" }, "next": "two" },
            "two": { "kind": "transform", "set": { "n": "2" } }
        }
    });
    let created: Value = post(
        &client,
        format!("{}/api/v1/tenants/{t}/workflows", a.base),
        json!({ "name": "relay", "definition": definition }),
    )
    .await
    .json()
    .await
    .unwrap();
    let wf = created["id"].as_str().unwrap();
    let run: Value = post(
        &client,
        format!("{}/api/v1/tenants/{t}/workflows/{wf}/runs", a.base),
        json!({}),
    )
    .await
    .json()
    .await
    .unwrap();
    let run = run["id"].as_str().unwrap().to_owned();
    let mut stream = events(&client, &b.base, &t, &run, None).await;
    // The stream opened on B as the run started on A: it may have been replayed or heard.
    loop {
        let event = stream.next().await.expect("the run pauses");
        if event.data["status"] == "waiting" {
            break;
        }
    }
    let approved = decide(&client, &a.base, &t, &run, "ask", true).await;
    assert_eq!(approved, StatusCode::OK);
    let heard = stream.rest().await;
    assert_eq!(
        outline(&heard),
        [
            "node_finished ask approved",
            "run_status running",
            "step 1",
            "node_started one",
            "node_finished one ok",
            "step 2",
            "node_started two",
            "node_finished two ok",
            "step 3",
            "run_status succeeded"
        ]
    );
    assert_eq!(heard[8].data["delta"], json!({ "n": 3 }));
}
