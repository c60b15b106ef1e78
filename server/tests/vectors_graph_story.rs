//! The vectors server's embedded index past its size threshold (issue #6 point 2), through
//! the gateway on SQLite and PostgreSQL: the HNSW graph linked in the background answers like
//! exact search, filters hold on the graph path, an idle copy is dropped and reloaded, and a
//! second replica's copy follows the first replica's writes.

mod common;

use common::vectors::{ids, member, ok, settings_with_vectors};
use common::{Backend, TestDb, TestServer, backends};
use serde_json::{Value, json};

/// Deterministic pseudo-random vectors in [-1, 1).
fn random_vectors(count: usize, dimension: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            (0..dimension)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn a_large_index_is_searched_through_the_graph_and_replicas_stay_current() {
    for backend in backends() {
        graph_and_replicas(&backend).await;
    }
}

async fn graph_and_replicas(backend: &Backend) {
    let db = TestDb::create(backend).await;
    let mut config = settings_with_vectors(&db);
    config.tools.vectors.ann_threshold = 500;
    config.tools.vectors.idle_unload_secs = 2;
    // The test makes many quick queries as one member.
    config.http.tool_rate_limit_per_second = 0;
    let first = TestServer::start(config.clone()).await;
    let tenant = common::default_tenant(&first).await;
    let client = member(&first, &tenant, "default", "m@example.com").await;
    ok(
        &client,
        "create_index",
        json!({"name": "big", "dimension": 16, "metric": "euclidean"}),
    )
    .await;
    let vectors = random_vectors(2_000, 16, 11);
    for (batch, chunk) in vectors.chunks(1_000).enumerate() {
        let records: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| json!({"id": format!("v{}", batch * 1_000 + i), "values": v, "metadata": {"odd": i % 2 == 1}}))
            .collect();
        ok(
            &client,
            "upsert",
            json!({"index": "big", "vectors": records}),
        )
        .await;
    }
    // The first query loads the index; the graph is then linked in the background.
    let queries = random_vectors(20, 16, 5);
    ok(
        &client,
        "query",
        json!({"index": "big", "vector": queries[0]}),
    )
    .await;
    let mut linked = 0;
    for _ in 0..600 {
        linked = ok(&client, "describe_index", json!({"name": "big"})).await["ann_linked"]
            .as_i64()
            .unwrap();
        if linked == 2_000 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(linked, 2_000);
    let (mut agree, mut total) = (0, 0);
    for q in &queries {
        let exact = ok(
            &client,
            "query",
            json!({"index": "big", "vector": q, "exact": true}),
        )
        .await;
        let graph = ok(&client, "query", json!({"index": "big", "vector": q})).await;
        assert_eq!(
            (
                exact["approximate"].as_bool(),
                graph["approximate"].as_bool()
            ),
            (Some(false), Some(true))
        );
        let truth = ids(&exact);
        agree += ids(&graph).iter().filter(|id| truth.contains(id)).count();
        total += truth.len();
        // A filter is honoured on the graph path too.
        let odd = ok(
            &client,
            "query",
            json!({"index": "big", "vector": q, "filter": {"odd": true}}),
        )
        .await;
        assert!(
            odd["matches"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["metadata"]["odd"] == true)
        );
    }
    assert!(agree * 100 >= total * 95, "recall@10 {agree}/{total}");

    // A copy nobody used for `idle_unload_secs` is dropped when another index is loaded, and
    // the next search loads it again.
    ok(
        &client,
        "create_index",
        json!({"name": "small", "dimension": 2}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    ok(
        &client,
        "query",
        json!({"index": "small", "vector": [1, 0]}),
    )
    .await;
    let dropped = ok(&client, "describe_index", json!({"name": "big"})).await;
    assert_eq!(dropped["ann_linked"], 0, "{dropped}");
    let again = ok(
        &client,
        "query",
        json!({"index": "big", "vector": queries[0], "exact": true}),
    )
    .await;
    assert_eq!(again["matches"].as_array().unwrap().len(), 10);

    // A second replica on the same database answers from its own copy, and reloads it when
    // the first replica writes.
    let second = TestServer::start(config).await;
    let other = member(&second, &tenant, "default", "m2@example.com").await;
    let target = vec![9.0f32; 16];
    let before = ok(
        &other,
        "query",
        json!({"index": "big", "vector": target, "top_k": 1}),
    )
    .await;
    assert_ne!(ids(&before), ["far"]);
    ok(
        &client,
        "upsert",
        json!({"index": "big", "vectors": [{"id": "far", "values": target}]}),
    )
    .await;
    let after = ok(
        &other,
        "query",
        json!({"index": "big", "vector": target, "top_k": 1}),
    )
    .await;
    assert_eq!(ids(&after), ["far"]);
    assert_eq!(after["matches"][0]["score"], 0.0);

    let metrics = first.text("/metrics").await;
    for line in [
        "vector_queries_total{backend=\"embedded\",path=\"graph\"}",
        "vector_queries_total{backend=\"embedded\",path=\"exact\"}",
        "vector_index_loads_total",
        "vector_indexes_in_memory",
    ] {
        assert!(metrics.contains(line), "{line} missing");
    }

    client.cancel().await.unwrap();
    other.cancel().await.unwrap();
    second.stop().await;
    first.stop().await;
    db.drop_db().await;
}
