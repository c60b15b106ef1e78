//! The built-in `vectors` server (issue #6 point 2) spoken to over MCP through the gateway,
//! on SQLite and PostgreSQL: index management, upserts, fetches, filtered queries, deletes;
//! every bad input a tool error that writes nothing; tenants kept apart; the HNSW graph built
//! in the background answering like exact search; and a second replica's copy in memory
//! reloaded after the first one writes.

mod common;

use app::api::BuiltinServer;
use common::mcp::{Client, Era, Watcher, connect};
use common::{Backend, TestDb, TestServer, backends, make_user, post, settings};
use reqwest::StatusCode;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use serde_json::{Value, json};

fn call(name: &str, arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(format!("vectors.{name}"))
        .with_arguments(arguments.as_object().unwrap().clone())
}

fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

/// Calls a tool that must succeed: its structured result.
async fn ok(client: &Client, name: &str, arguments: Value) -> Value {
    let result = client.call_tool(call(name, arguments)).await.unwrap();
    assert_eq!(result.is_error, Some(false), "{name}: {}", text_of(&result));
    result.structured_content.expect("structured content")
}

/// Calls a tool that must refuse: its message.
async fn refused(client: &Client, name: &str, arguments: Value) -> String {
    let result = client.call_tool(call(name, arguments)).await.unwrap();
    assert_eq!(result.is_error, Some(true), "{name}: {}", text_of(&result));
    text_of(&result)
}

fn settings_with_vectors(db: &TestDb) -> switchyard::config::Settings {
    let mut settings = settings(db);
    settings.tools.builtin_for_new_tenants = vec![BuiltinServer::Vectors];
    settings
}

/// A member of `slug`'s MCP session.
async fn member(server: &TestServer, tenant: &str, slug: &str, email: &str) -> Client {
    make_user(server, tenant, email, &["member"]).await;
    let (_, tokens) = server.sign_in_as(slug, email, common::PASSWORD).await;
    let token = tokens["access_token"].as_str().unwrap();
    let url = server.url(&format!("/mcp/{slug}"));
    connect(&url, token, Era::Stateless, Watcher::default()).await
}

fn ids(matches: &Value) -> Vec<&str> {
    matches["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn indexes_records_and_filtered_queries_over_mcp() {
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let server = TestServer::start(settings_with_vectors(&db)).await;
        let tenant = common::default_tenant(&server).await;
        let client = member(&server, &tenant, "default", "m@example.com").await;

        let tools = client.list_all_tools().await.unwrap();
        let hints = |name: &str| {
            let tool = tools.iter().find(|t| t.name == name).expect(name);
            let a = tool.annotations.clone().unwrap();
            (a.read_only_hint, a.destructive_hint)
        };
        assert_eq!(tools.len(), 9);
        assert_eq!(hints("vectors.query"), (Some(true), Some(false)));
        assert_eq!(hints("vectors.delete_index"), (Some(false), Some(true)));
        assert_eq!(hints("vectors.create_index"), (Some(false), Some(false)));

        let made = ok(
            &client,
            "create_index",
            json!({"name": "films", "dimension": 3}),
        )
        .await;
        assert_eq!(
            (made["metric"].as_str(), made["vector_count"].as_i64()),
            (Some("cosine"), Some(0))
        );
        let taken = refused(
            &client,
            "create_index",
            json!({"name": "films", "dimension": 3}),
        )
        .await;
        assert_eq!(taken, "an index named `films` exists");

        let films = json!([
            {"id": "alien", "values": [1.0, 0.0, 0.0], "metadata": {"genre": "horror", "year": 1979}},
            {"id": "aliens", "values": [0.9, 0.1, 0.0], "metadata": {"genre": "action", "year": 1986}},
            {"id": "amelie", "values": [0.0, 1.0, 0.0], "metadata": {"genre": "comedy", "year": 2001, "tags": ["paris"]}},
            {"id": "heat", "values": [0.5, 0.0, 0.5], "metadata": {"genre": "action", "year": 1995}}
        ]);
        let upserted = ok(
            &client,
            "upsert",
            json!({"index": "films", "vectors": films}),
        )
        .await;
        assert_eq!(upserted, json!({"upserted_count": 4, "vector_count": 4}));

        let near = ok(
            &client,
            "query",
            json!({"index": "films", "vector": [1.0, 0.05, 0.0], "top_k": 3}),
        )
        .await;
        assert_eq!(ids(&near), ["alien", "aliens", "heat"]);
        assert_eq!(near["approximate"], false);
        let first = near["matches"][0]["score"].as_f64().unwrap();
        assert!((first - 0.998_752).abs() < 1e-4, "{near}");
        assert_eq!(near["matches"][0]["metadata"]["year"], 1979);

        let action = ok(
            &client,
            "query",
            json!({"index": "films", "vector": [1.0, 0.0, 0.0],
            "filter": {"genre": "action", "year": {"$gt": 1990}}, "include_values": true}),
        )
        .await;
        assert_eq!(ids(&action), ["heat"]);
        assert_eq!(action["matches"][0]["values"], json!([0.5, 0.0, 0.5]));
        let by_id = ok(
            &client,
            "query",
            json!({"index": "films", "id": "amelie", "top_k": 1,
            "include_metadata": false}),
        )
        .await;
        assert_eq!(by_id["matches"][0], json!({"id": "amelie", "score": 1.0}));

        let fetched = ok(
            &client,
            "fetch",
            json!({"index": "films", "ids": ["heat", "rocky"]}),
        )
        .await;
        assert_eq!(fetched["vectors"][0]["metadata"]["genre"], "action");
        assert_eq!(fetched["missing"], json!(["rocky"]));
        let page = ok(
            &client,
            "list_vectors",
            json!({"index": "films", "prefix": "al", "limit": 1}),
        )
        .await;
        assert_eq!(page, json!({"ids": ["alien"], "pagination_token": "alien"}));
        let page = ok(
            &client,
            "list_vectors",
            json!({"index": "films", "prefix": "al",
            "pagination_token": "alien"}),
        )
        .await;
        assert_eq!(page, json!({"ids": ["aliens"], "pagination_token": null}));

        // Replacing a record moves it.
        ok(
            &client,
            "upsert",
            json!({"index": "films", "vectors": [
            {"id": "heat", "values": [0.0, 0.0, 1.0], "metadata": {"genre": "crime"}}]}),
        )
        .await;
        let crime = ok(
            &client,
            "query",
            json!({"index": "films", "vector": [0.0, 0.0, 1.0], "top_k": 1}),
        )
        .await;
        assert_eq!(crime["matches"][0]["metadata"], json!({"genre": "crime"}));

        // Bad input: a precise tool error, and nothing written (the count stays 4).
        for (tool, arguments, expected) in [
            (
                "create_index",
                json!({"name": "zero", "dimension": 0}),
                "dimension must be between 1 and 4096, not 0",
            ),
            (
                "create_index",
                json!({"name": "Bad_Name", "dimension": 2}),
                "`Bad_Name` is not an index name",
            ),
            (
                "create_index",
                json!({"name": "m", "dimension": 2, "metric": "manhattan"}),
                "unknown metric `manhattan`",
            ),
            (
                "upsert",
                json!({"index": "films", "vectors": [{"id": "ok", "values": [1, 0, 0]},
                {"id": "short", "values": [1, 0]}]}),
                "vectors[1].values has 2 dimensions; index `films` holds 3-dimensional vectors",
            ),
            (
                "upsert",
                json!({"index": "films", "vectors": [{"id": "z", "values": [0, 0, 0]}]}),
                "vectors[0].values is all zeros, which has no direction for cosine similarity",
            ),
            (
                "upsert",
                json!({"index": "films", "vectors": [{"id": "d", "values": [1, 0, 0]},
                {"id": "d", "values": [0, 1, 0]}]}),
                "vectors[1]: id `d` appears twice in this batch",
            ),
            (
                "upsert",
                json!({"index": "films", "vectors": [{"id": "n", "values": [1, 0, 0],
                "metadata": {"nested": {"a": 1}}}]}),
                "metadata `nested` is an object",
            ),
            (
                "upsert",
                json!({"index": "films", "vectors": [{"id": "x".repeat(513), "values": [1, 0, 0]}]}),
                "vectors[0].id must be 1 to 512 bytes long",
            ),
            (
                "upsert",
                json!({"index": "films", "vectors": []}),
                "`vectors` must hold between 1 and 1000 entries, not 0",
            ),
            (
                "upsert",
                json!({"index": "nope", "vectors": [{"id": "a", "values": [1]}]}),
                "there is no index named `nope`",
            ),
            (
                "query",
                json!({"index": "films", "vector": [1, 0, 0], "filter": {"year": {"$regex": "19"}}}),
                "filter.year.$regex: unknown operator `$regex`",
            ),
            (
                "query",
                json!({"index": "films", "vector": [1, 0, 0], "id": "heat"}),
                "give exactly one of `vector` or `id`",
            ),
            (
                "query",
                json!({"index": "films", "vector": [1, 0, 0], "top_k": 0}),
                "top_k must be between 1 and 1000",
            ),
            (
                "query",
                json!({"index": "films", "id": "rocky"}),
                "there is no record `rocky` in `films`",
            ),
            (
                "delete_vectors",
                json!({"index": "films"}),
                "give exactly one of `ids`, `filter` or `delete_all: true`",
            ),
            (
                "query",
                json!({"index": "films", "vector": "1,0,0"}),
                "invalid argument `vector`",
            ),
        ] {
            let message = refused(&client, tool, arguments).await;
            assert!(message.contains(expected), "{tool}: {message}");
        }
        let described = ok(&client, "describe_index", json!({"name": "films"})).await;
        assert_eq!(described["vector_count"], 4, "{described}");
        let listed = ok(&client, "list_indexes", json!({})).await;
        assert_eq!(listed["indexes"].as_array().unwrap().len(), 1, "{listed}");

        // Deletes: by filter, by id, then everything.
        let gone = ok(
            &client,
            "delete_vectors",
            json!({"index": "films", "filter": {"genre": {"$in": ["horror", "comedy"]}}}),
        )
        .await;
        assert_eq!(gone, json!({"deleted_count": 2, "vector_count": 2}));
        let gone = ok(
            &client,
            "delete_vectors",
            json!({"index": "films", "ids": ["heat", "rocky"]}),
        )
        .await;
        assert_eq!(gone, json!({"deleted_count": 1, "vector_count": 1}));
        let left = ok(
            &client,
            "query",
            json!({"index": "films", "vector": [1.0, 0.0, 0.0]}),
        )
        .await;
        assert_eq!(ids(&left), ["aliens"]);
        let gone = ok(
            &client,
            "delete_vectors",
            json!({"index": "films", "delete_all": true}),
        )
        .await;
        assert_eq!(gone, json!({"deleted_count": 1, "vector_count": 0}));
        let empty = ok(
            &client,
            "query",
            json!({"index": "films", "vector": [1.0, 0.0, 0.0]}),
        )
        .await;
        assert_eq!(empty["matches"], json!([]));

        // Tenants are apart: another tenant sees none of this one's indexes.
        let created = post(
            &server.client,
            server.url("/api/v1/tenants"),
            json!({"slug": "acme", "name": "Acme"}),
        )
        .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let acme: Value = created.json().await.unwrap();
        let other = member(
            &server,
            acme["id"].as_str().unwrap(),
            "acme",
            "m@acme.example",
        )
        .await;
        assert_eq!(
            ok(&other, "list_indexes", json!({})).await,
            json!({"indexes": []})
        );
        let hidden = refused(
            &other,
            "query",
            json!({"index": "films", "vector": [1, 0, 0]}),
        )
        .await;
        assert!(
            hidden.contains("there is no index named `films`"),
            "{hidden}"
        );
        other.cancel().await.unwrap();

        let deleted = ok(&client, "delete_index", json!({"name": "films"})).await;
        assert_eq!(deleted, json!({"deleted": "films", "vector_count": 0}));
        assert_eq!(
            ok(&client, "list_indexes", json!({})).await,
            json!({"indexes": []})
        );

        // Audited like any upstream's tools.
        let calls = server.tool_calls(&tenant).await;
        assert!(
            calls
                .iter()
                .any(|c| c["target"] == "tool:vectors.upsert" && c["rule"] == "builtin-vectors")
        );
        client.cancel().await.unwrap();
        server.stop().await;
        db.drop_db().await;
    }
}

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

    client.cancel().await.unwrap();
    other.cancel().await.unwrap();
    second.stop().await;
    first.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn administrators_list_make_and_delete_indexes_over_rest() {
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let server = TestServer::start(settings_with_vectors(&db)).await;
        let tenant = common::default_tenant(&server).await;
        let indexes = server.url(&format!("/api/v1/tenants/{tenant}/vector-indexes"));

        let made = post(
            &server.client,
            indexes.clone(),
            json!({"name": "docs", "dimension": 384}),
        )
        .await;
        assert_eq!(made.status(), StatusCode::CREATED);
        let location = made.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.ends_with("/vector-indexes/docs"), "{location}");
        let made: Value = made.json().await.unwrap();
        assert_eq!(
            (made["metric"].as_str(), made["vector_count"].as_u64()),
            (Some("cosine"), Some(0))
        );
        let again = post(
            &server.client,
            indexes.clone(),
            json!({"name": "docs", "dimension": 8}),
        )
        .await;
        assert_eq!(again.status(), StatusCode::CONFLICT);
        let bad = post(
            &server.client,
            indexes.clone(),
            json!({"name": "-Docs", "dimension": 5000, "metric": "cosine"}),
        )
        .await;
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            common::fields(&bad.json().await.unwrap()),
            ["name", "dimension"]
        );
        let unknown = post(
            &server.client,
            indexes.clone(),
            json!({"name": "x", "dimension": 2, "metric": "hamming"}),
        )
        .await;
        assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);

        // Records written over MCP show in the count.
        let client = member(&server, &tenant, "default", "m@example.com").await;
        ok(
            &client,
            "upsert",
            json!({"index": "docs", "vectors": [
            {"id": "a", "values": vec![0.5f32; 384]}]}),
        )
        .await;
        let listed = common::get_json(&server.client, &indexes).await;
        assert_eq!(listed["items"][0]["vector_count"], 1, "{listed}");
        let one = common::get_json(&server.client, &format!("{indexes}/docs")).await;
        assert_eq!(one["dimension"], 384);

        // Members use the tools but do not manage indexes here.
        let (member_http, _) = server
            .sign_in_as("default", "m@example.com", common::PASSWORD)
            .await;
        let r = post(
            &member_http,
            indexes.clone(),
            json!({"name": "mine", "dimension": 2}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);

        let r = server
            .client
            .delete(format!("{indexes}/docs"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = server
            .client
            .get(format!("{indexes}/docs"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let gone = refused(
            &client,
            "query",
            json!({"index": "docs", "vector": vec![0.5f32; 384]}),
        )
        .await;
        assert!(gone.contains("there is no index named `docs`"), "{gone}");
        let trail = common::get_json(
            &server.client,
            &server.url(&format!(
                "/api/v1/tenants/{tenant}/audit?action=vector_index.delete"
            )),
        )
        .await;
        assert_eq!(trail["items"][0]["detail"]["vector_count"], 1, "{trail}");

        client.cancel().await.unwrap();
        server.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test]
async fn serve_tool_vectors_acts_for_the_named_tenant() {
    let db = TestDb::create(&Backend::Sqlite).await;
    let server = TestServer::start(settings_with_vectors(&db)).await;
    let tenant = common::default_tenant(&server).await;
    let client = member(&server, &tenant, "default", "m@example.com").await;
    ok(
        &client,
        "create_index",
        json!({"name": "shared", "dimension": 2}),
    )
    .await;
    ok(
        &client,
        "upsert",
        json!({"index": "shared", "vectors": [{"id": "a", "values": [1, 2]}]}),
    )
    .await;
    client.cancel().await.unwrap();

    let binary = env!("CARGO_BIN_EXE_switchyard");
    let command = |tenant: Option<&str>| {
        let mut cmd = tokio::process::Command::new(binary);
        cmd.args(["serve-tool", "vectors"])
            .args(tenant.map(|t| ["--tenant", t]).into_iter().flatten())
            .env_clear()
            .env("SWITCHYARD_DATABASE__URL", &db.url)
            .kill_on_drop(true);
        cmd
    };
    // Without a tenant, or with one that does not exist: a usage error naming the problem.
    for (tenant, expected) in [
        (None, "name one with --tenant SLUG"),
        (Some("nope"), "there is no tenant `nope`"),
    ] {
        let output = command(tenant).output().await.unwrap();
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
    }

    use rmcp::ServiceExt;
    let transport = rmcp::transport::TokioChildProcess::new(command(Some("default"))).unwrap();
    let alone = ().serve(transport).await.expect("initialize");
    let listed = alone
        .call_tool(CallToolRequestParams::new("list_indexes"))
        .await
        .unwrap();
    let indexes = listed.structured_content.unwrap();
    assert_eq!(indexes["indexes"][0]["name"], "shared", "{indexes}");
    assert_eq!(indexes["indexes"][0]["vector_count"], 1, "{indexes}");
    let near = alone
        .call_tool(
            CallToolRequestParams::new("query").with_arguments(
                json!({"index": "shared", "vector": [1, 2], "top_k": 1})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(near.structured_content.unwrap()["matches"][0]["id"], "a");
    alone.cancel().await.unwrap();
    server.stop().await;
    db.drop_db().await;
}
