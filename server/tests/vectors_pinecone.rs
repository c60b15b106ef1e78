//! The vectors server on an index at Pinecone (issue #6 point 2): an administrator connects
//! it with its host and API key, and the tools then speak Pinecone's data plane. Pinecone
//! cannot be reached from here, so a loopback double replays recorded exchanges
//! (`fixtures/pinecone_exchanges.json`, in Pinecone's wire format) and checks that every
//! request Switchyard sends matches its record: path, query, body, `Api-Key` and
//! `X-Pinecone-API-Version`.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use app::api::BuiltinServer;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode as AxumStatus, Uri};
use axum::response::IntoResponse;
use common::mcp::{Era, Watcher, connect};
use common::vectors::{ok, refused};
use common::{Backend, TestDb, TestServer, make_user, post, settings};
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEY: &str = "pcsk_test_4f1b_secret";

#[derive(Default)]
struct Double {
    exchanges: VecDeque<Value>,
    problems: Vec<String>,
}

/// A Pinecone index on loopback answering from the recording; its address and its state.
async fn pinecone_double() -> (String, Arc<Mutex<Double>>) {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pinecone_exchanges.json");
    let recorded: Value =
        serde_json::from_str(&tokio::fs::read_to_string(path).await.unwrap()).unwrap();
    let state = Arc::new(Mutex::new(Double {
        exchanges: recorded["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .cloned()
            .collect(),
        problems: Vec::new(),
    }));
    let shared = Arc::clone(&state);
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = Arc::clone(&shared);
            async move {
                let mut double = state.lock().unwrap();
                let here = format!("{method} {uri}");
                let Some(expected) = double.exchanges.pop_front() else {
                    double.problems.push(format!("unexpected request {here}"));
                    return (AxumStatus::NOT_FOUND, "{}").into_response();
                };
                let wanted = format!(
                    "{} {}",
                    expected["method"].as_str().unwrap(),
                    expected["path"].as_str().unwrap()
                );
                if here != wanted {
                    double
                        .problems
                        .push(format!("sent {here}, recorded {wanted}"));
                }
                if headers.get("api-key").and_then(|v| v.to_str().ok()) != Some(KEY) {
                    double.problems.push(format!("{here}: no Api-Key"));
                }
                if headers
                    .get("x-pinecone-api-version")
                    .and_then(|v| v.to_str().ok())
                    != Some("2025-04")
                {
                    double
                        .problems
                        .push(format!("{here}: no X-Pinecone-API-Version: 2025-04"));
                }
                let sent: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if sent != expected["request"] {
                    double.problems.push(format!(
                        "{here}: sent {sent}, recorded {}",
                        expected["request"]
                    ));
                }
                let status =
                    AxumStatus::from_u16(expected["status"].as_u64().unwrap() as u16).unwrap();
                (
                    status,
                    [("content-type", "application/json")],
                    expected["response"].to_string(),
                )
                    .into_response()
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, state)
}

#[tokio::test]
async fn a_pinecone_index_is_spoken_to_in_pinecones_wire_format() {
    let (host, double) = pinecone_double().await;
    let db = TestDb::create(&Backend::Sqlite).await;
    let mut config = settings(&db);
    config.tools.builtin_for_new_tenants = vec![BuiltinServer::Vectors];
    let server = TestServer::start(config).await;
    let tenant = common::default_tenant(&server).await;
    let indexes = server.url(&format!("/api/v1/tenants/{tenant}/vector-indexes"));

    // A host Switchyard would send the key to in the clear is refused, and so is a missing key.
    for (pinecone, field) in [
        (
            json!({"host": "http://pinecone.example", "api_key": KEY}),
            "pinecone.host",
        ),
        (
            json!({"host": "https://idx.svc.pinecone.io/query", "api_key": KEY}),
            "pinecone.host",
        ),
        (json!({"host": host, "api_key": " "}), "pinecone.api_key"),
    ] {
        let r = post(
            &server.client,
            indexes.clone(),
            json!({"name": "remote", "dimension": 3,
            "backend": "pinecone", "pinecone": pinecone}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(common::fields(&r.json().await.unwrap()), [field]);
    }
    let made = post(
        &server.client,
        indexes.clone(),
        json!({"name": "remote", "dimension": 3,
        "backend": "pinecone", "pinecone": {"host": host, "api_key": KEY}}),
    )
    .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made = made.text().await.unwrap();
    assert!(!made.contains(KEY), "{made}");
    let made: Value = serde_json::from_str(&made).unwrap();
    assert_eq!(
        (made["backend"].as_str(), made["remote_host"].as_str()),
        (Some("pinecone"), Some(host.as_str()))
    );

    make_user(&server, &tenant, "m@example.com", &["member"]).await;
    let (_, tokens) = server
        .sign_in_as("default", "m@example.com", common::PASSWORD)
        .await;
    let token = tokens["access_token"].as_str().unwrap();
    let client = connect(
        &server.url("/mcp/default"),
        token,
        Era::Stateless,
        Watcher::default(),
    )
    .await;

    // Checked here before anything is sent: these never reach Pinecone.
    let short = refused(
        &client,
        "upsert",
        json!({"index": "remote", "vectors": [{"id": "a", "values": [1, 0]}]}),
    )
    .await;
    assert!(
        short.contains("has 2 dimensions; index `remote` holds 3-dimensional vectors"),
        "{short}"
    );
    let filter = refused(
        &client,
        "query",
        json!({"index": "remote", "vector": [1, 0, 0], "filter": {"a": {"$like": 1}}}),
    )
    .await;
    assert!(filter.contains("unknown operator `$like`"), "{filter}");

    let upserted = ok(
        &client,
        "upsert",
        json!({"index": "remote", "vectors": [
        {"id": "a", "values": [1, 0, 0], "metadata": {"genre": "drama", "year": 2019}},
        {"id": "b", "values": [0, 1, 0]}]}),
    )
    .await;
    assert_eq!(upserted, json!({"upserted_count": 2, "vector_count": 2}));
    let near = ok(
        &client,
        "query",
        json!({"index": "remote", "vector": [1, 0, 0], "top_k": 2,
        "filter": {"genre": {"$eq": "drama"}}}),
    )
    .await;
    assert_eq!(near["approximate"], true);
    assert_eq!(near["matches"][0]["id"], "a");
    assert_eq!(near["matches"][0]["metadata"]["genre"], "drama");
    let fetched = ok(
        &client,
        "fetch",
        json!({"index": "remote", "ids": ["a", "zzz"]}),
    )
    .await;
    assert_eq!(fetched["vectors"][0]["values"], json!([1.0, 0.0, 0.0]));
    assert_eq!(fetched["missing"], json!(["zzz"]));
    let page = ok(
        &client,
        "list_vectors",
        json!({"index": "remote", "prefix": "a", "limit": 1}),
    )
    .await;
    assert_eq!(
        page,
        json!({"ids": ["a"], "pagination_token": "Tm90aGluZyB0byBzZWUgaGVyZQo="})
    );
    let gone = ok(
        &client,
        "delete_vectors",
        json!({"index": "remote", "ids": ["a"]}),
    )
    .await;
    assert_eq!(gone, json!({"deleted_count": null, "vector_count": 1}));

    // Pinecone's refusals become tool errors in words, never with the key.
    let denied = refused(
        &client,
        "query",
        json!({"index": "remote", "id": "b", "top_k": 1,
        "include_values": true, "include_metadata": false}),
    )
    .await;
    assert!(
        denied.contains("Pinecone refused the API key (HTTP 401)"),
        "{denied}"
    );
    let invalid = refused(
        &client,
        "delete_vectors",
        json!({"index": "remote", "delete_all": true}),
    )
    .await;
    assert_eq!(invalid, "Pinecone: Invalid request: namespace is empty");

    // The list shows what Pinecone last counted; deleting drops the connection only.
    let listed = server
        .client
        .get(&indexes)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listed.contains("\"vector_count\":1") && !listed.contains(KEY),
        "{listed}"
    );
    let dropped = ok(&client, "delete_index", json!({"name": "remote"})).await;
    assert_eq!(dropped["remote_kept"], true);

    let trail = server
        .client
        .get(server.url(&format!(
            "/api/v1/tenants/{tenant}/audit?action=vector_index.create"
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        trail.contains("remote_host") && !trail.contains(KEY),
        "{trail}"
    );

    let (problems, unsent) = {
        let double = double.lock().unwrap();
        (double.problems.clone(), double.exchanges.clone())
    };
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(unsent.is_empty(), "not sent: {unsent:#?}");
    client.cancel().await.unwrap();
    server.stop().await;
    db.drop_db().await;
}
