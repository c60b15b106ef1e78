//! MCP sessions without sticky load balancing: two `switchyard` processes on one database
//! and one Redis, and one session-era client whose requests alternate between them —
//! initialized on one, listed and called on both, a call running on one cancelled through the
//! other, ended on one and then unknown on the other.

mod common;

use common::TestDb;
use common::mcp::{post as rpc, tenant_with_everything};
use common::replica::Replica;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Two replicas on one new database and one Redis prefix, with server-everything registered
/// and the administrator's bearer credential.
struct Pair {
    db: TestDb,
    a: Replica,
    b: Replica,
    bearer: String,
}

impl Pair {
    async fn start(redis: &str, env: &[(&str, &str)]) -> Self {
        let backend = common::backends().pop().unwrap();
        let db = TestDb::create(&backend).await;
        let prefix = format!("switchyard-test:{}:", uuid::Uuid::new_v4().simple());
        let a = Replica::start(&db.url, redis, &prefix, db._dir.path(), env).await;
        let b = Replica::start(&db.url, redis, &prefix, db._dir.path(), env).await;
        let tokens = common::sign_in(
            &reqwest::Client::new(),
            &a.base,
            "default",
            "admin@localhost",
            common::ADMIN_PASSWORD,
        )
        .await
        .unwrap();
        let token = tokens["access_token"].as_str().unwrap();
        tenant_with_everything(&a.base, &common::bearer_client(token)).await;
        let bearer = format!("Bearer {token}");
        Self { db, a, b, bearer }
    }
}

/// `request` with the session's headers.
fn with(mut request: reqwest::RequestBuilder, headers: &[(&str, &str)]) -> reqwest::RequestBuilder {
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
}

#[tokio::test]
async fn a_session_alternates_between_two_server_processes() {
    let Some(redis) = common::redis_url() else {
        eprintln!("skipped: sessions across replicas need REDIS_URL");
        return;
    };
    let Pair {
        db: _db,
        a,
        b,
        bearer,
    } = Pair::start(&redis, &[]).await;
    let anon = reqwest::Client::new();
    let auth = [("authorization", bearer.as_str())];
    let replicas = [
        format!("{}/mcp/default", a.base),
        format!("{}/mcp/default", b.base),
    ];
    let anon = &anon;
    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "raw", "version": "1" } } });
    let r = rpc(anon, &replicas[0], &auth, &init).await;
    let session = r.session.expect("Mcp-Session-Id");
    let headers = [
        ("authorization", bearer.as_str()),
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    assert_eq!(
        rpc(anon, &replicas[1], &headers, &initialized).await.status,
        StatusCode::ACCEPTED
    );
    for (i, id) in (2..8).enumerate() {
        let replica = &replicas[i % 2];
        let request = if i % 3 == 0 {
            json!({ "jsonrpc": "2.0", "id": id, "method": "tools/list" })
        } else {
            json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": { "name": "everything.get-sum", "arguments": { "a": id, "b": 1 } } })
        };
        let r = rpc(anon, replica, &headers, &request).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "request {id} on replica {}: {}",
            i % 2,
            r.body
        );
        assert_eq!(r.body["id"], id, "{}", r.body);
        assert!(r.body.get("result").is_some(), "{}", r.body);
    }
    // Withdrawn on the other replica: a 30 s call on A stops soon after B is told
    // (`notifications/cancelled`, MCP 2025-11-25 basic/utilities/cancellation).
    let long = json!({ "jsonrpc": "2.0", "id": 50, "method": "tools/call", "params": {
        "name": "everything.trigger-long-running-operation",
        "arguments": { "duration": 30, "steps": 30 } } });
    let started = std::time::Instant::now();
    let call = rpc(anon, &replicas[0], &headers, &long);
    let withdraw = async {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let note = json!({ "jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": { "requestId": 50, "reason": "not needed any more" } });
        rpc(anon, &replicas[1], &headers, &note).await.status
    };
    let (answered, withdrawn) = tokio::join!(
        tokio::time::timeout(std::time::Duration::from_secs(20), call),
        withdraw
    );
    assert_eq!(withdrawn, StatusCode::ACCEPTED);
    let answered = answered.expect("the call stops once withdrawn, long before its 30 s");
    assert_eq!(
        answered.body["error"]["code"], -32800,
        "a withdrawn call has no result: {}",
        answered.body
    );
    eprintln!(
        "withdrawn across replicas after {:?}: {} {}",
        started.elapsed(),
        answered.status,
        answered.body
    );
    // An upstream's sampling request during a call on A, answered by a POST to B (the
    // client's load balancer picked it): the answer reaches the call, which completes.
    let sampled = sample_across(anon, &replicas, &bearer).await;
    assert!(
        sampled.contains("a model on the other replica"),
        "the tool saw the answer: {sampled}"
    );
    // The same question for a 2026-07-28 caller (SEP-2322): the call is parked on A, the
    // caller repeats it on B with the answer, and B answers with the tool's result.
    let parked = parked_across(anon, &replicas, &bearer).await;
    assert!(
        parked.contains("a model answering on B"),
        "the parked call saw the answer: {parked}"
    );
    // Ended on one replica, unknown on the other.
    let r = anon
        .delete(&replicas[1])
        .header("authorization", &bearer)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let list = json!({ "jsonrpc": "2.0", "id": 99, "method": "tools/list" });
    assert_eq!(
        rpc(anon, &replicas[0], &headers, &list).await.status,
        StatusCode::NOT_FOUND
    );
    drop((a, b));
}

/// The SSE events of a stream until it ends (at most 20 s): `(id, data)`.
async fn events(response: reqwest::Response) -> Vec<(String, Value)> {
    let text = tokio::time::timeout(std::time::Duration::from_secs(20), response.text())
        .await
        .expect("the stream ends within 20 s")
        .unwrap();
    text.split("\n\n")
        .filter_map(|event| {
            let id = event.lines().find_map(|l| l.strip_prefix("id:"))?.trim();
            let data = event
                .lines()
                .find_map(|l| l.strip_prefix("data:"))
                .map(str::trim)
                .unwrap_or_default();
            Some((
                id.to_owned(),
                serde_json::from_str(data).unwrap_or(Value::Null),
            ))
        })
        .collect()
}

/// SEP-1699 polling across replicas: A closes a long call's SSE answer after 300 ms; the
/// client resumes it with `Last-Event-ID` on B, which replays what it missed from Redis and
/// then the answer A produced.
#[tokio::test]
async fn a_call_closed_mid_stream_resumes_on_the_other_replica() {
    let Some(redis) = common::redis_url() else {
        eprintln!("skipped: resuming across replicas needs REDIS_URL");
        return;
    };
    let poll = [("SWITCHYARD_GATEWAY__SSE_POLL_MS", "300")];
    let Pair {
        db: _db,
        a,
        b,
        bearer,
    } = Pair::start(&redis, &poll).await;
    let anon = reqwest::Client::new();
    let [on_a, on_b] = [&a.base, &b.base].map(|base| format!("{base}/mcp/default"));
    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "raw", "version": "1" } } });
    let session = rpc(&anon, &on_a, &[("authorization", bearer.as_str())], &init)
        .await
        .session
        .unwrap();
    let headers = [
        ("authorization", bearer.as_str()),
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    rpc(&anon, &on_a, &headers, &initialized).await;
    // 2 s in 4 steps, with progress every 0.5 s: the first after A closed the stream.
    let long = json!({ "jsonrpc": "2.0", "id": 60, "method": "tools/call", "params": {
        "name": "everything.trigger-long-running-operation",
        "arguments": { "duration": 2, "steps": 4 }, "_meta": { "progressToken": "p" } } });
    let post = with(
        anon.post(&on_a)
            .header("accept", "application/json, text/event-stream")
            .json(&long),
        &headers,
    );
    let closed = events(post.send().await.unwrap()).await;
    let (primed, data) = closed.first().expect("a priming event").clone();
    assert_eq!(
        data,
        Value::Null,
        "the priming event has no data: {closed:?}"
    );
    assert!(
        closed.iter().all(|(_, m)| m["id"] != 60),
        "A closed the stream before the answer: {closed:?}"
    );
    let last = closed.last().unwrap().0.clone();
    // Resumed on B, from the last event the client saw.
    let get = with(
        anon.get(&on_b)
            .header("accept", "text/event-stream")
            .header("last-event-id", &last),
        &headers,
    );
    let resumed = events(get.send().await.unwrap()).await;
    let answer = resumed.last().expect("the answer").1.clone();
    assert_eq!(answer["id"], 60, "{resumed:?}");
    assert!(answer["result"]["content"].is_array(), "{answer}");
    let progress = resumed
        .iter()
        .filter(|(_, m)| m["method"] == "notifications/progress")
        .count();
    assert!(
        progress >= 3,
        "the progress A sent while no stream was open is replayed: {resumed:?}"
    );
    assert!(
        resumed.iter().all(|(id, _)| id != &primed && id != &last),
        "nothing twice"
    );
    // Another session's standalone stream is not this client's to resume.
    let foreign = with(
        anon.get(&on_b)
            .header("accept", "text/event-stream")
            .header("last-event-id", "someone-else:common.1"),
        &headers,
    );
    let refused = foreign.send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("Last-Event-ID"));
    drop((a, b));
}

/// A 2026-07-28 caller's call of server-everything's sampling tool on the first replica (a
/// session-era upstream asking mid-call: the call is parked there), repeated with the
/// answer on the second; returns the tool's text.
async fn parked_across(anon: &reqwest::Client, replicas: &[String; 2], bearer: &str) -> String {
    let mut meta = common::mcp::meta_2026();
    meta["io.modelcontextprotocol/clientCapabilities"] = json!({ "sampling": {} });
    let headers = [
        ("authorization", bearer),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "everything.trigger-sampling-request"),
    ];
    let call = |extra: Value| {
        let mut params = json!({ "name": "everything.trigger-sampling-request",
            "arguments": { "prompt": "hi" }, "_meta": meta });
        if let Value::Object(extra) = extra {
            params.as_object_mut().unwrap().extend(extra);
        }
        json!({ "jsonrpc": "2.0", "id": 80, "method": "tools/call", "params": params })
    };
    let first = rpc(anon, &replicas[0], &headers, &call(json!({}))).await;
    let asked = &first.body["result"];
    assert_eq!(asked["resultType"], "input_required", "{}", first.body);
    let (key, question) = asked["inputRequests"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    assert_eq!(question["method"], "sampling/createMessage", "{asked}");
    let answer = json!({ "role": "assistant", "model": "m",
        "content": { "type": "text", "text": "a model answering on B" } });
    let repeat =
        json!({ "inputResponses": { key: answer }, "requestState": asked["requestState"] });
    let done = rpc(anon, &replicas[1], &headers, &call(repeat)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    done.body["result"]["content"].to_string()
}

/// Opens a session that takes sampling, calls server-everything's sampling tool on the first
/// replica, answers its `sampling/createMessage` on the second, and returns the tool's text.
async fn sample_across(anon: &reqwest::Client, replicas: &[String; 2], bearer: &str) -> String {
    use futures::StreamExt;
    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": { "sampling": {} },
        "clientInfo": { "name": "raw", "version": "1" } } });
    let auth = [("authorization", bearer)];
    let session = rpc(anon, &replicas[0], &auth, &init).await.session.unwrap();
    let headers = [
        ("authorization", bearer),
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    rpc(anon, &replicas[1], &headers, &initialized).await;
    let call = json!({ "jsonrpc": "2.0", "id": 70, "method": "tools/call", "params": {
        "name": "everything.trigger-sampling-request", "arguments": { "prompt": "hi" } } });
    let request = with(
        anon.post(&replicas[0])
            .header("accept", "application/json, text/event-stream")
            .json(&call),
        &headers,
    );
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut events = response.bytes_stream();
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let chunk = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("the call answers within 20 s")
            .expect("the stream stays open until the answer")
            .unwrap();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let Some(data) = event.lines().find_map(|l| l.strip_prefix("data:")) else {
                continue;
            };
            let Ok(message) = serde_json::from_str::<Value>(data.trim()) else {
                continue;
            };
            if message["method"] == "sampling/createMessage" {
                let answer = json!({ "jsonrpc": "2.0", "id": message["id"], "result": {
                    "role": "assistant", "model": "m",
                    "content": { "type": "text", "text": "a model on the other replica" } } });
                let r = rpc(anon, &replicas[1], &headers, &answer).await;
                assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
            } else if message["id"] == 70 {
                assert!(message["result"].is_object(), "{message}");
                return message["result"]["content"][0]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
            }
        }
    }
}
