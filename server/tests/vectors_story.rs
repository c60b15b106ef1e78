//! The built-in `vectors` server (issue #6 point 2) spoken to over MCP through the gateway,
//! on SQLite and PostgreSQL: index management, upserts, fetches, filtered queries, deletes;
//! every bad input a tool error that writes nothing; tenants kept apart; administrators'
//! REST API; and `switchyard serve-tool vectors` on its own. vectors_graph_story.rs covers
//! large indexes and replicas, vectors_pinecone.rs the Pinecone backend.

mod common;

use common::vectors::{ids, member, ok, refused, settings_with_vectors};
use common::{Backend, TestDb, TestServer, backends, post};
use reqwest::StatusCode;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

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
