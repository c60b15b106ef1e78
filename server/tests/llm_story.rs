//! LLM providers against a real model server: llama.cpp's OpenAI-compatible server
//! (llama-cpp-python) with SmolLM2-135M-Instruct, requiring an API key. A provider's key is
//! sealed and never shown; `llm` workflow nodes answer from the model, an agent loop calls a
//! gateway tool the model chose (audited as the run's), only tools the principal may use are
//! offered, every request's tokens are counted per run and tenant, and a spent budget,
//! an unreachable or unknown provider each fail with a precise reason.

mod common;

use common::workflows::{checkpoints, create, settle, start};
use common::{TestDb, TestServer, get_json, post};
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEY: &str = "sk-local-5f1e2d";

#[tokio::test]
async fn providers_answer_workflows_within_the_budget() {
    let (_llama, base_url) = common::peers::llama_server(KEY).await;
    for backend in common::backends() {
        let db = TestDb::create(&backend).await;
        let server = TestServer::start(common::settings(&db)).await;
        let t = common::mcp::tenant_with_fixture(&server).await;
        providers(&server, &t, &base_url).await;
        answers(&server, &t).await;
        agent_loop(&server, &t).await;
        failures(&server, &t).await;
        budget(&server, &t).await;
        let metrics = server.text("/metrics").await;
        for line in [
            "llm_requests_total{kind=\"chat\",outcome=\"ok\"}",
            "llm_requests_total{kind=\"chat\",outcome=\"refused\"}",
            "llm_tokens_total{kind=\"completion\"}",
        ] {
            assert!(metrics.contains(line), "{line} missing");
        }
        server.stop().await;
        db.drop_db().await;
    }
}

/// The client's streaming against the real server: text arrives in pieces that add up to
/// the answer, and a forced tool call is assembled from its deltas (llama.cpp repeats the
/// function's name in each and sends `null`s where OpenAI leaves fields out).
#[tokio::test]
async fn streamed_answers_assemble_text_and_tool_calls() {
    use switchyard::engine::llm::Endpoint;
    use switchyard::engine::llm::wire::{
        ChatRequest, FunctionSpec, Message, Role, ToolChoice, ToolSpec,
    };
    let (_llama, base_url) = common::peers::llama_server(KEY).await;
    let endpoint = Endpoint {
        name: "local".into(),
        flavor: app::api::LlmFlavor::Openai,
        base_url,
        model: "smollm2".into(),
        embedding_model: None,
        api_version: None,
        api_key: Some(switchyard::config::Secret::new(KEY)),
        timeout: std::time::Duration::from_secs(60),
    };
    let http = reqwest::Client::new();
    let stop = tokio_util::sync::CancellationToken::new();
    let ask = |content: &str| ChatRequest {
        messages: vec![Message::new(Role::User, content)],
        temperature: Some(0.0),
        max_tokens: Some(24),
        stream: true,
        ..ChatRequest::default()
    };
    let mut pieces = Vec::new();
    let completion = endpoint
        .chat(
            &http,
            ask("Tell me about the sea."),
            &mut |t| pieces.push(t.to_owned()),
            &stop,
        )
        .await
        .unwrap();
    assert!(pieces.len() > 3, "{pieces:?}");
    assert_eq!(pieces.concat(), completion.message.content);
    assert_eq!(completion.finish_reason.as_deref(), Some("length"));

    let mut request = ask("Get the test text.");
    request.tools = vec![ToolSpec {
        kind: "function",
        function: FunctionSpec {
            name: "fx__test_simple_text".into(),
            description: "Returns a simple text.".into(),
            parameters: json!({ "type": "object", "properties": {} }),
        },
    }];
    request.tool_choice = Some(ToolChoice::Function("fx__test_simple_text".into()));
    let completion = endpoint
        .chat(&http, request, &mut |_| {}, &stop)
        .await
        .unwrap();
    let calls = &completion.message.tool_calls;
    assert_eq!(calls.len(), 1, "{completion:?}");
    assert_eq!(calls[0].function.name, "fx__test_simple_text");
    let arguments: Value = serde_json::from_str(&calls[0].function.arguments).unwrap();
    assert_eq!(arguments, json!({}));

    // A wrong key is the provider's 401, in its own words.
    let mut wrong = endpoint.clone();
    wrong.api_key = Some(switchyard::config::Secret::new("nope"));
    let error = wrong
        .chat(&http, ask("hi"), &mut |_| {}, &stop)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("answered 401"), "{error}");
}

/// Embeddings from the real server, one vector per input in order; llama.cpp answers a
/// model without a pooling layer with a vector per token, which the client mean-pools.
#[tokio::test]
async fn embeddings_come_one_per_input() {
    use switchyard::engine::llm::Endpoint;
    let (_llama, base_url) = common::peers::llama_server_with(KEY, &["--embedding", "true"]).await;
    let endpoint = Endpoint {
        name: "local".into(),
        flavor: app::api::LlmFlavor::Openai,
        base_url,
        model: "smollm2".into(),
        embedding_model: Some("smollm2".into()),
        api_version: None,
        api_key: Some(switchyard::config::Secret::new(KEY)),
        timeout: std::time::Duration::from_secs(60),
    };
    let http = reqwest::Client::new();
    let stop = tokio_util::sync::CancellationToken::new();
    let inputs = [
        "the sea".to_owned(),
        "a tax form".to_owned(),
        "the sea".to_owned(),
    ];
    let (vectors, _) = endpoint.embed(&http, &inputs, &stop).await.unwrap();
    assert_eq!(vectors.len(), 3);
    let dims = vectors[0].len();
    assert!(dims > 100, "{dims} dimensions");
    assert!(
        vectors
            .iter()
            .all(|v| v.len() == dims && v.iter().all(|x| x.is_finite()))
    );
    // The same text embeds the same; another text does not. Asked one at a time: this
    // server misaligns the token vectors of later inputs in a batch (llama-cpp-python
    // 0.3.36; seen as the same text's vector shifted by a few places).
    let mut one = Vec::new();
    for input in &inputs {
        let (vectors, _) = endpoint
            .embed(&http, std::slice::from_ref(input), &stop)
            .await
            .unwrap();
        one.push(vectors.into_iter().next().unwrap());
    }
    assert_eq!(one[0], one[2]);
    assert_ne!(one[0], one[1]);
    assert_eq!(one[0], vectors[0], "the first of a batch is the text's own");
    // A provider without an embedding model says so, without a request.
    let mut none = endpoint.clone();
    none.embedding_model = None;
    let error = none.embed(&http, &inputs, &stop).await.unwrap_err();
    assert!(
        error.to_string().contains("has no embedding model"),
        "{error}"
    );
}

fn provider(name: &str, base_url: &str, key: Option<&str>) -> Value {
    let mut body =
        json!({ "name": name, "base_url": base_url, "model": "smollm2", "timeout_secs": 60 });
    if let Some(key) = key {
        body["api_key"] = json!(key);
    }
    body
}

async fn put(server: &TestServer, url: String, body: Value) -> reqwest::Response {
    server.client.put(url).json(&body).send().await.unwrap()
}

/// Registration, the key's secrecy, and the test button against the real server.
async fn providers(server: &TestServer, t: &str, base_url: &str) {
    let url = |p: &str| server.url(&format!("/api/v1/tenants/{t}{p}"));
    // Bad input: every bad field named, nothing stored.
    let bad = json!({ "name": "Bad Name", "base_url": "ftp://x", "model": "", "timeout_secs": 0 });
    let r = post(&server.client, url("/llm-providers"), bad).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = r.json().await.unwrap();
    let fields = common::fields(&problem);
    assert_eq!(
        fields,
        ["name", "base_url", "model", "timeout_secs"],
        "{problem}"
    );
    let listed = get_json(&server.client, &url("/llm-providers")).await;
    assert_eq!(listed["items"], json!([]));

    // Without its key the server refuses, and the test says so.
    let r = post(
        &server.client,
        url("/llm-providers"),
        provider("local", base_url, None),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["has_api_key"], false);
    let id = created["id"].as_str().unwrap().to_owned();
    let r = post(
        &server.client,
        url(&format!("/llm-providers/{id}/test")),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("answered 401"),
        "{problem}"
    );

    // With it, the model answers; the key is sealed and never shown or audited.
    let r = put(
        server,
        url(&format!("/llm-providers/{id}")),
        provider("local", base_url, Some(KEY)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = post(
        &server.client,
        url(&format!("/llm-providers/{id}/test")),
        json!({}),
    )
    .await;
    let probe: Value = r.json().await.unwrap();
    assert!(
        probe["usage"]["completion_tokens"].as_u64().unwrap() > 0,
        "{probe}"
    );
    assert!(
        probe["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
        "{probe}"
    );
    // Absent keeps the key.
    let kept = put(
        server,
        url(&format!("/llm-providers/{id}")),
        provider("local", base_url, None),
    )
    .await;
    let kept: Value = kept.json().await.unwrap();
    assert_eq!(kept["has_api_key"], true);
    for path in [
        "/llm-providers",
        &format!("/llm-providers/{id}"),
        "/audit?limit=200",
    ] {
        let text = server
            .client
            .get(url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!text.contains(KEY), "{path} shows the key");
    }
    let audit = get_json(&server.client, &url("/audit?action=llm_provider.update")).await;
    let said: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["detail"]["api_key"].as_str().unwrap())
        .collect();
    assert_eq!(said, ["kept", "set"], "{audit}");
    let r = post(
        &server.client,
        url("/llm-providers"),
        provider("local", base_url, None),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
}

/// A prompt from the state, answered by the model into the state as its text streams to the
/// run's listeners, its tokens counted.
async fn answers(server: &TestServer, t: &str) {
    let definition = json!({
        "state": { "topic": { "type": "string" }, "answer": { "type": "string" } },
        "start": "go",
        "nodes": {
            "go": { "kind": "approval", "prompt": "Ask?", "next": "ask" },
            "ask": { "kind": "llm", "system": "You are terse.",
                     "prompt": "Name one word about {{ state.topic }}.",
                     "temperature": 0, "max_tokens": 12, "output": "answer" }
        }
    });
    let wf = create(server, t, "ask", definition).await;
    let run = start(server, t, &wf, json!({ "topic": "the sea" })).await;
    assert_eq!(settle(server, t, &run).await["status"], "waiting");
    // Listening before the model is asked: its text is heard as it streams.
    let mut stream = common::workflows::events(&server.client, &server.base, t, &run, None).await;
    let approved = common::workflows::decide(&server.client, &server.base, t, &run, "go", true);
    assert_eq!(approved.await, StatusCode::OK);
    let heard = stream.rest().await;
    let streamed: String = heard
        .iter()
        .filter(|e| e.event == "tokens")
        .map(|e| {
            assert_eq!(e.data["node"], "ask");
            assert_eq!(e.id, None, "tokens are live only, without an id");
            e.data["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(heard.last().unwrap().data["status"], "succeeded");
    let done = settle(server, t, &run).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let answer = done["state"]["answer"].as_str().unwrap();
    assert!(!answer.trim().is_empty(), "{done}");
    assert_eq!(streamed, answer, "the streamed pieces make the answer");
    let items = checkpoints(server, t, &run).await;
    let output = &items[2]["outputs"]["ask"];
    assert_eq!(output["provider"], "local");
    assert_eq!(output["text"], answer);
    assert_eq!(output["rounds"], 1);
    // llama.cpp reports no usage for a streamed answer: the count is ours, and says so.
    assert_eq!(output["usage_estimated"], true, "{output}");
    assert!(
        output["usage"]["completion_tokens"].as_u64().unwrap() > 0,
        "{output}"
    );
    assert!(
        output["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
        "{output}"
    );
    let url = server.url(&format!("/api/v1/tenants/{t}/llm-usage?run_id={run}"));
    let usage = get_json(&server.client, &url).await;
    assert_eq!(usage["by_model"][0]["requests"], 1, "{usage}");
    assert_eq!(
        usage["by_model"][0]["estimated_requests"], 1,
        "the usage says the count is ours: {usage}"
    );
    assert_eq!(usage["used"], output["usage"], "{usage} {output}");

    // A map asks once per item, two at a time, the answers in the list's order.
    let definition = json!({
        "state": { "topics": { "type": "array" }, "answers": { "type": "array" } },
        "start": "each",
        "nodes": {
            "each": { "kind": "map", "over": "state.topics", "concurrency": 2, "output": "answers",
                      "do": { "kind": "llm", "prompt": "Topic {{ index }}: {{ item }}. One word.",
                              "temperature": 0, "max_tokens": 6 } }
        }
    });
    let wf = create(server, t, "ask-each", definition).await;
    let run = start(server, t, &wf, json!({ "topics": ["sea", "sky", "sand"] })).await;
    let done = settle(server, t, &run).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let answers = done["state"]["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 3, "{done}");
    let items = checkpoints(server, t, &run).await;
    let traces = items[1]["outputs"]["each"]["outputs"].as_array().unwrap();
    for (answer, trace) in answers.iter().zip(traces) {
        assert_eq!(answer, &trace["text"]);
    }
    let url = server.url(&format!("/api/v1/tenants/{t}/llm-usage?run_id={run}"));
    let usage = get_json(&server.client, &url).await;
    assert_eq!(usage["by_model"][0]["requests"], 3, "{usage}");
    let ours = traces
        .iter()
        .filter(|t| t["usage_estimated"] == true)
        .count();
    assert_eq!(
        usage["by_model"][0]["estimated_requests"], ours,
        "{usage} {traces:?}"
    );
}

fn agent(tool_choice: &str) -> Value {
    json!({
        "state": { "answer": { "type": "string" } },
        "start": "agent",
        "nodes": {
            "agent": { "kind": "llm", "prompt": "Get the test text, then say what it was.",
                       "tools": ["fx.*"], "tool_choice": tool_choice, "max_rounds": 2,
                       "temperature": 0, "max_tokens": 48, "output": "answer" }
        }
    })
}

/// The model calls the tool it must; the call goes through the gateway as the run's own.
async fn agent_loop(server: &TestServer, t: &str) {
    let wf = create(server, t, "agent", agent("fx.test_simple_text")).await;
    let run = start(server, t, &wf, json!({})).await;
    let done = settle(server, t, &run).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let items = checkpoints(server, t, &run).await;
    let output = &items[1]["outputs"]["agent"];
    assert_eq!(output["rounds"], 2, "{output}");
    let call = &output["tool_calls"][0];
    assert_eq!(call["tool"], "fx.test_simple_text", "{output}");
    assert_eq!(call["error"], Value::Null, "{output}");
    assert!(
        call["result"]
            .as_str()
            .unwrap()
            .contains("simple text response"),
        "{output}"
    );
    let audit = server.tool_calls(t).await;
    let governed = audit
        .iter()
        .filter(|r| r["request_id"].as_str().is_some_and(|id| id.contains(&run)))
        .count();
    assert_eq!(governed, 1, "{audit:?}");
    let url = server.url(&format!("/api/v1/tenants/{t}/llm-usage?run_id={run}"));
    let usage = get_json(&server.client, &url).await;
    assert_eq!(usage["by_model"][0]["requests"], 2, "{usage}");

    // A tool the run's principal may not call is never offered, so it cannot be chosen.
    let deny =
        json!({ "name": "no-text", "effect": "deny", "tool_pattern": "fx.test_simple_text" });
    let r = post(
        &server.client,
        server.url(&format!("/api/v1/tenants/{t}/policies")),
        deny,
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let run = start(server, t, &wf, json!({})).await;
    let done = settle(server, t, &run).await;
    assert_eq!(done["status"], "failed", "{done}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains("unknown tool `fx.test_simple_text`"),
        "{error}"
    );
}

/// Providers that cannot answer, each failing its node with the reason.
async fn failures(server: &TestServer, t: &str) {
    let url = server.url(&format!("/api/v1/tenants/{t}/llm-providers"));
    let gone = provider("gone", "http://127.0.0.1:1/v1", None);
    assert_eq!(
        post(&server.client, url, gone).await.status(),
        StatusCode::CREATED
    );
    for (provider, retry, why) in [
        (
            "gone",
            json!({ "attempts": 2, "backoff_ms": 10 }),
            "`gone` could not be reached: could not connect",
        ),
        ("nope", Value::Null, "there is no LLM provider `nope`"),
    ] {
        let mut node = json!({ "kind": "llm", "provider": provider, "prompt": "hi" });
        if !retry.is_null() {
            node["retry"] = retry;
        }
        let definition = json!({ "start": "ask", "nodes": { "ask": node } });
        let wf = create(server, t, &format!("fail-{provider}"), definition).await;
        let run = start(server, t, &wf, json!({})).await;
        let done = settle(server, t, &run).await;
        assert_eq!(done["status"], "failed", "{done}");
        let error = done["error"].as_str().unwrap();
        assert!(error.contains(why), "{error}");
    }
    // With two providers, a node must name one.
    let definition =
        json!({ "start": "ask", "nodes": { "ask": { "kind": "llm", "prompt": "hi" } } });
    let wf = create(server, t, "unnamed", definition).await;
    let done = settle(server, t, &start(server, t, &wf, json!({})).await).await;
    let error = done["error"].as_str().unwrap();
    assert!(error.contains("name one of gone, local"), "{error}");
}

/// A spent budget refuses the next request, from a run and from the test button alike.
async fn budget(server: &TestServer, t: &str) {
    let url = |p: &str| server.url(&format!("/api/v1/tenants/{t}{p}"));
    let r = put(server, url("/llm-budget"), json!({ "monthly_tokens": 1 })).await;
    assert_eq!(r.status(), StatusCode::OK);
    let usage: Value = r.json().await.unwrap();
    assert_eq!(usage["monthly_tokens"], 1);
    let used = usage["used"]["prompt_tokens"].as_u64().unwrap()
        + usage["used"]["completion_tokens"].as_u64().unwrap();
    assert!(used > 1, "{usage}");
    let providers = get_json(&server.client, &url("/llm-providers")).await;
    let local = providers["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "local")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = post(
        &server.client,
        url(&format!("/llm-providers/{local}/test")),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("budget is spent"),
        "{problem}"
    );
    let definition = json!({ "start": "ask", "nodes": { "ask": { "kind": "llm", "provider": "local", "prompt": "hi" } } });
    let wf = create(server, t, "over-budget", definition).await;
    let done = settle(server, t, &start(server, t, &wf, json!({})).await).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(
        done["error"].as_str().unwrap().contains("budget is spent"),
        "{done}"
    );
    // Lifted, the button works again; refused requests used nothing.
    let r = put(
        server,
        url("/llm-budget"),
        json!({ "monthly_tokens": null }),
    )
    .await;
    let lifted: Value = r.json().await.unwrap();
    assert_eq!(lifted["used"], usage["used"]);
    let r = post(
        &server.client,
        url(&format!("/llm-providers/{local}/test")),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}
