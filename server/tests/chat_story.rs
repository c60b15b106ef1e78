//! The end-user chat (issue #5 point 5) against a real model server (llama.cpp with
//! SmolLM2-135M) and real MCP upstreams (the Python SDK's conformance and fixture servers),
//! on SQLite and PostgreSQL: streamed answers, tool calls shown as cards and audited as the
//! user's, approvals for a rule that asks for confirmation and for a `destructiveHint` tool,
//! only the user's own tools offered, history, and every refusal precise.

mod common;

use common::workflows::SseReader;
use common::{TestDb, TestServer, get_json, post};
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEY: &str = "sk-chat-41c9";

#[tokio::test]
async fn users_chat_with_their_tools_and_approve_what_needs_it() {
    let (_llama, base_url) = common::peers::llama_server(KEY).await;
    for backend in common::backends() {
        let db = TestDb::create(&backend).await;
        let server = TestServer::start(common::settings(&db)).await;
        let t = setup(&server, &base_url).await;
        let c = conversations(&server, &t).await;
        tool_cards(&server, &t, &c).await;
        approvals(&server, &t, &c).await;
        stopping(&server, &t, &c).await;
        history(&server, &t, &c).await;
        workflow_answers(&server, &t).await;
        another_user(&server, &t, &c).await;
        let metrics = server.text("/metrics").await;
        assert!(metrics.contains("llm_requests_total{kind=\"stream\",outcome=\"ok\"}"));
        for turns in [
            "chat_turns_total{by=\"agent\",outcome=\"answered\"}",
            "chat_turns_total{by=\"agent\",outcome=\"waiting\"}",
            "chat_turns_total{by=\"agent\",outcome=\"stopped\"}",
            "chat_turns_total{by=\"workflow\",outcome=\"answered\"}",
        ] {
            assert!(metrics.contains(turns), "{turns} missing");
        }
        server.stop().await;
        db.drop_db().await;
    }
}

/// The conformance fixture as `fx` (allowed), the SDK fixture as `fz` (allowed; its
/// `slow_write` says it is destructive), and the model server as the only provider.
async fn setup(server: &TestServer, base_url: &str) -> String {
    let t = common::mcp::tenant_with_fixture(server).await;
    let url = |p: &str| server.url(&format!("/api/v1/tenants/{t}{p}"));
    for (path, body) in [
        (
            "/upstreams",
            json!({ "name": "fz", "connection": { "transport": "stdio",
                "command": common::peers::python(),
                "args": [common::peers::fixture_server(), "stdio"] } }),
        ),
        (
            "/policies",
            json!({ "name": "fz-all", "effect": "allow", "tool_pattern": "fz.*" }),
        ),
        (
            "/llm-providers",
            json!({ "name": "local", "base_url": base_url, "model": "smollm2",
                    "api_key": KEY, "timeout_secs": 60 }),
        ),
    ] {
        let r = post(&server.client, url(path), body).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{path}");
    }
    t
}

fn chat_url(server: &TestServer, t: &str, rest: &str) -> String {
    server.url(&format!("/api/v1/tenants/{t}/conversations{rest}"))
}

/// Sends `body` to the conversation and reads the turn's stream to its end.
async fn turn(
    client: &reqwest::Client,
    url: String,
    body: Value,
) -> Vec<common::workflows::SseEvent> {
    let response = client
        .post(url)
        .header("accept", "text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    if response.status() != StatusCode::OK {
        let status = response.status();
        panic!(
            "the turn did not start: {status} {}",
            response.text().await.unwrap()
        );
    }
    SseReader::new(response).rest().await
}

fn kinds(events: &[common::workflows::SseEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

/// The stored messages of events, last version of each, in order of seq.
fn messages(events: &[common::workflows::SseEvent]) -> Vec<Value> {
    let mut by_id: Vec<Value> = Vec::new();
    for event in events.iter().filter(|e| e.event == "message") {
        let message = event.data["message"].clone();
        match by_id.iter_mut().find(|m| m["id"] == message["id"]) {
            Some(kept) => *kept = message,
            None => by_id.push(message),
        }
    }
    by_id
}

/// Creating one, with every bad field refused at once; an answer streamed piece by piece.
async fn conversations(server: &TestServer, t: &str) -> String {
    let bad = json!({ "title": " ", "provider": "nope", "instructions": "x".repeat(8_001) });
    let r = post(&server.client, chat_url(server, t, ""), bad).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = r.json().await.unwrap();
    let fields = common::fields(&problem);
    assert_eq!(fields, ["title", "provider", "instructions"], "{problem}");
    let unknown = json!({ "title": "x", "surprise": 1 });
    let r = post(&server.client, chat_url(server, t, ""), unknown).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = json!({ "title": "Tools", "instructions": "Answer in one short sentence." });
    let r = post(&server.client, chat_url(server, t, ""), body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["status"], "idle");
    let c = created["id"].as_str().unwrap().to_owned();
    let list = get_json(&server.client, &chat_url(server, t, "")).await;
    assert_eq!(list["items"][0]["id"], c.as_str());

    // Bad messages: nothing stored.
    let url = chat_url(server, t, &format!("/{c}/messages"));
    for (body, field) in [
        (json!({ "content": "  " }), "content"),
        (
            json!({ "content": "hi", "tool": "fx.nothing_like_it" }),
            "tool",
        ),
    ] {
        let r = post(&server.client, url.clone(), body).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let stored = get_json(&server.client, &url).await;
    assert_eq!(stored["items"], json!([]));
    let nobody = chat_url(server, t, &format!("/{}/messages", uuid::Uuid::now_v7()));
    let r = post(&server.client, nobody, json!({ "content": "hi" })).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    c
}

/// A tool the user asked for is called first: its card shows the arguments, the result and
/// the time it took, and the call is audited as the user's, naming the conversation.
async fn tool_cards(server: &TestServer, t: &str, c: &str) {
    let url = chat_url(server, t, &format!("/{c}/messages"));
    let body = json!({ "content": "Get the test text, then say what it was.",
                       "tool": "fx.test_simple_text" });
    let events = turn(&server.client, url, body).await;
    let seen = kinds(&events);
    assert_eq!(seen.first(), Some(&"status"), "{seen:?}");
    assert_eq!(events.last().unwrap().data["status"], "idle", "{seen:?}");
    let stored = messages(&events);
    let roles: Vec<&str> = stored.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        ["user", "assistant", "tool", "assistant"],
        "{stored:?}"
    );
    assert_eq!(stored[0]["tool"], "fx.test_simple_text");
    let card = &stored[2]["card"];
    assert_eq!(card["tool"], "fx.test_simple_text", "{card}");
    assert_eq!(card["status"], "done", "{card}");
    assert_eq!(card["arguments"], json!({}), "{card}");
    assert!(
        card["result"]
            .as_str()
            .unwrap()
            .contains("simple text response")
    );
    assert!(card["ms"].is_u64(), "{card}");
    // The answer was streamed: its pieces make up the stored text.
    let streamed: String = events
        .iter()
        .filter(|e| e.event == "text")
        .map(|e| e.data["text"].as_str().unwrap())
        .collect();
    assert!(!streamed.is_empty(), "{seen:?}");
    assert!(streamed.ends_with(stored[3]["content"].as_str().unwrap()));
    let audit = server.tool_calls(t).await;
    let ours: Vec<&Value> = audit
        .iter()
        .filter(|r| r["request_id"] == format!("chat:{c}").as_str())
        .collect();
    assert_eq!(ours.len(), 1, "{audit:?}");
    assert_eq!(ours[0]["outcome"], "success");
}

/// A rule that asks for confirmation, and a tool that says it is destructive: each call
/// waits for the user; the gateway refuses the confirmed-only tool to anyone who cannot ask.
async fn approvals(server: &TestServer, t: &str, c: &str) {
    let rule = json!({ "name": "confirm-text", "effect": "allow", "confirm": true,
                       "tool_pattern": "fx.test_simple_text", "priority": 10 });
    let policies = server.url(&format!("/api/v1/tenants/{t}/policies"));
    let bad =
        json!({ "name": "bad-confirm", "effect": "deny", "confirm": true, "tool_pattern": "x.*" });
    let r = post(&server.client, policies.clone(), bad).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post(&server.client, policies, rule).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // A REST caller cannot confirm for the user.
    let call = server.url(&format!("/api/v1/tenants/{t}/tools/call"));
    let r = post(
        &server.client,
        call,
        json!({ "tool": "fx.test_simple_text" }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("confirm-text"),
        "{problem}"
    );

    let url = chat_url(server, t, &format!("/{c}/messages"));
    let body = json!({ "content": "Get the test text again.", "tool": "fx.test_simple_text" });
    let events = turn(&server.client, url.clone(), body).await;
    assert_eq!(events.last().unwrap().data["status"], "waiting");
    let stored = messages(&events);
    let card = stored.last().unwrap();
    assert_eq!(card["card"]["status"], "pending_approval", "{card}");
    let reason = card["card"]["approval_reason"].as_str().unwrap();
    assert!(reason.contains("confirm-text"), "{reason}");
    // While it waits, a new message is refused and nothing is stored.
    let r = post(&server.client, url.clone(), json!({ "content": "and?" })).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let approvals = chat_url(server, t, &format!("/{c}/approvals"));
    let stranger = json!({ "message_id": uuid::Uuid::now_v7(), "approve": true });
    let r = post(&server.client, approvals.clone(), stranger).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let yes = json!({ "message_id": card["id"], "approve": true });
    let events = turn(&server.client, approvals.clone(), yes.clone()).await;
    assert_eq!(
        events.last().unwrap().data["status"],
        "idle",
        "{:?}",
        kinds(&events)
    );
    let after = messages(&events);
    let done = after.iter().find(|m| m["id"] == card["id"]).unwrap();
    assert_eq!(done["card"]["status"], "done", "{after:?}");
    assert_eq!(after.last().unwrap()["role"], "assistant", "{after:?}");
    let r = post(&server.client, approvals.clone(), yes).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // Declined: the destructive call never runs, and the model is told so.
    let body = json!({ "content": "Write something.", "tool": "fz.slow_write" });
    let events = turn(&server.client, url, body).await;
    assert_eq!(events.last().unwrap().data["status"], "waiting");
    let card = messages(&events).pop().unwrap();
    let reason = card["card"]["approval_reason"].as_str().unwrap();
    assert!(reason.contains("destructiveHint"), "{reason}");
    let no = json!({ "message_id": card["id"], "approve": false });
    let events = turn(&server.client, approvals, no).await;
    assert_eq!(events.last().unwrap().data["status"], "idle");
    let after = messages(&events);
    assert_eq!(after[0]["card"]["status"], "declined", "{after:?}");
    let audit = server.tool_calls(t).await;
    let writes = audit
        .iter()
        .filter(|r| r["target"] == "tool:fz.slow_write")
        .count();
    assert_eq!(writes, 0, "{audit:?}");
}

/// Stopping an answer: the tool call in flight is withdrawn, the turn ends saying it was
/// stopped, and what was stored stays. A conversation that is not answering has nothing
/// to stop.
async fn stopping(server: &TestServer, t: &str, c: &str) {
    let stop = chat_url(server, t, &format!("/{c}/stop"));
    let r = server.client.post(stop.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let follow = server
        .client
        .get(chat_url(server, t, &format!("/{c}/events")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut events = SseReader::new(follow);
    assert_eq!(events.next().await.unwrap().data["status"], "idle");
    // A tool that answers after 1.5 s, asked for first: the stop comes while the model
    // writes the call or while the call runs, well before the turn could end.
    let body = json!({ "content": "Check the connection.", "tool": "fx.test_reconnection" });
    let r = post(
        &server.client,
        chat_url(server, t, &format!("/{c}/messages")),
        body,
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = server.client.post(stop).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mut heard = Vec::new();
    while let Some(event) = events.next().await {
        let idle = event.event == "status" && event.data["status"] == "idle";
        heard.push(event);
        if idle {
            break;
        }
    }
    let stored = messages(&heard);
    let last = stored.last().unwrap();
    assert_eq!(last["role"], "assistant", "{stored:?}");
    let error = last["error"].as_str().unwrap();
    assert!(error.starts_with("you stopped the answer"), "{error}");
    // A call that had begun was withdrawn, not left running.
    for card in stored.iter().filter_map(|m| m.get("card")) {
        assert_eq!(card["status"], "error", "{card}");
    }
}

/// The conversation's whole history, in order, as a client reloads it.
async fn history(server: &TestServer, t: &str, c: &str) {
    let url = chat_url(server, t, &format!("/{c}/messages?limit=500"));
    let all = get_json(&server.client, &url).await;
    let items = all["items"].as_array().unwrap();
    let seqs: Vec<i64> = items.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    let users = items.iter().filter(|m| m["role"] == "user").count();
    assert_eq!(users, 4);
    let cards: Vec<&str> = items
        .iter()
        .filter_map(|m| m["card"]["status"].as_str())
        .collect();
    // The stopped turn's call, if the model had asked for it before the stop, failed.
    assert_eq!(cards[..3], ["done", "done", "declined"], "{cards:?}");
    assert!(cards[3..].iter().all(|c| *c == "error"), "{cards:?}");
    let page = get_json(
        &server.client,
        &chat_url(server, t, &format!("/{c}/messages?after=2&limit=2")),
    )
    .await;
    assert_eq!(page["items"][0]["seq"], 3);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    // Reading back from the end: the newest page, then the one before it.
    let last = seqs.len() as i64;
    let newest = get_json(
        &server.client,
        &chat_url(server, t, &format!("/{c}/messages?latest=true&limit=3")),
    )
    .await;
    let newest: Vec<i64> = newest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(newest, [last - 2, last - 1, last]);
    let before = get_json(
        &server.client,
        &chat_url(
            server,
            t,
            &format!("/{c}/messages?before={}&limit=2", last - 2),
        ),
    )
    .await;
    let before: Vec<i64> = before["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(before, [last - 4, last - 3]);
    for query in ["after=2&before=5", "after=2&latest=true"] {
        let r = server
            .client
            .get(chat_url(server, t, &format!("/{c}/messages?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    let r = server
        .client
        .get(chat_url(server, t, &format!("/{c}/messages?limit=0")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

/// Another user sees none of it, and a user whose tools are all denied chats without any:
/// the model is offered none, so it answers in words.
async fn another_user(server: &TestServer, t: &str, c: &str) {
    common::make_user(server, t, "quiet@example.com", &["member"]).await;
    let deny = json!({ "name": "members-no-tools", "effect": "deny", "tool_pattern": "*",
                       "role": "member" });
    let r = post(
        &server.client,
        server.url(&format!("/api/v1/tenants/{t}/policies")),
        deny,
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let (client, _) = server
        .sign_in_as("default", "quiet@example.com", common::PASSWORD)
        .await;
    assert_eq!(
        common::status(&client, chat_url(server, t, &format!("/{c}"))).await,
        StatusCode::NOT_FOUND
    );
    let list = get_json(&client, &chat_url(server, t, "")).await;
    assert_eq!(list["items"], json!([]));
    let r = post(&client, chat_url(server, t, ""), json!({})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let mine: Value = r.json().await.unwrap();
    assert_eq!(mine["title"], "New conversation");
    let id = mine["id"].as_str().unwrap();
    let body = json!({ "content": "Say hello." });
    let events = turn(
        &client,
        chat_url(server, t, &format!("/{id}/messages")),
        body,
    )
    .await;
    let stored = messages(&events);
    let roles: Vec<&str> = stored.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant"], "{stored:?}");
    // Untitled, it is named by its first message.
    let named = get_json(&client, &chat_url(server, t, &format!("/{id}"))).await;
    assert_eq!(named["title"], "Say hello.");
    // Following the conversation starts with its status.
    let response = client
        .get(chat_url(server, t, &format!("/{id}/events")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut reader = SseReader::new(response);
    let first = reader.next().await.unwrap();
    assert_eq!(
        (first.event.as_str(), &first.data["status"]),
        ("status", &json!("idle"))
    );
    let r = client
        .delete(chat_url(server, t, &format!("/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = client
        .delete(chat_url(server, t, &format!("/{c}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// A conversation answered by an agent workflow: each message is a run acting for the
/// user, given the message and the history; its tool calls become cards and its `answer`
/// the reply. A workflow that cannot answer a chat is refused with the reason.
async fn workflow_answers(server: &TestServer, t: &str) {
    let agent = json!({
        "state": {
            "message": { "type": "string" },
            "history": { "type": "array" },
            "answer": { "type": "string" },
            "got": {}
        },
        "start": "fetch",
        "nodes": {
            "fetch": { "kind": "tool", "tool": "fx.test_tool_with_logging", "output": "got", "next": "reply" },
            "reply": { "kind": "transform", "set": {
                "answer": "'You said: ' + state.message + ' (' + string(len(state.history)) + ' before)'" } }
        }
    });
    let wf = common::workflows::create(server, t, "echo-agent", agent).await;
    let mute = json!({ "state": { "message": { "type": "string" } }, "start": "noop",
                       "nodes": { "noop": { "kind": "transform", "set": { "message": "'x'" } } } });
    let mute = common::workflows::create(server, t, "mute-agent", mute).await;
    for (body, says) in [
        (json!({ "workflow_id": mute }), "declares no `answer` key"),
        (
            json!({ "workflow_id": uuid::Uuid::now_v7() }),
            "no workflow with this id",
        ),
        (
            json!({ "workflow_id": wf, "instructions": "Be brief." }),
            "built-in agent's",
        ),
    ] {
        let r = post(&server.client, chat_url(server, t, ""), body).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "workflow_id", "{problem}");
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }
    let r = post(
        &server.client,
        chat_url(server, t, ""),
        json!({ "workflow_id": wf }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["workflow_id"], wf.as_str());
    let c = created["id"].as_str().unwrap();
    let url = chat_url(server, t, &format!("/{c}/messages"));

    let events = turn(&server.client, url.clone(), json!({ "content": "hello" })).await;
    assert_eq!(events.last().unwrap().data["status"], "idle");
    let stored = messages(&events);
    let roles: Vec<&str> = stored.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "tool", "assistant"], "{stored:?}");
    assert_eq!(stored[1]["card"]["tool"], "fx.test_tool_with_logging");
    // (fx.test_simple_text would be refused: its rule asks for confirmation, which a run cannot give.)
    assert_eq!(stored[1]["card"]["status"], "done");
    assert_eq!(stored[2]["content"], "You said: hello (0 before)");
    // The history given to the next run holds the message and the answer before it.
    let events = turn(&server.client, url, json!({ "content": "again" })).await;
    let stored = messages(&events);
    assert_eq!(
        stored.last().unwrap()["content"],
        "You said: again (2 before)"
    );
    // Each message was a run of the workflow.
    let runs = get_json(
        &server.client,
        &server.url(&format!("/api/v1/tenants/{t}/runs?workflow_id={wf}")),
    )
    .await;
    assert_eq!(runs["items"].as_array().unwrap().len(), 2, "{runs}");

    // The nil id gives the conversation back to the built-in agent.
    let nil = json!({ "workflow_id": uuid::Uuid::nil() });
    let r = server
        .client
        .patch(chat_url(server, t, &format!("/{c}")))
        .json(&nil)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let patched: Value = r.json().await.unwrap();
    assert!(patched.get("workflow_id").is_none(), "{patched}");
}
