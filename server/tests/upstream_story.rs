//! The upstream registry, on every backend: register, read, replace and remove upstreams;
//! every bad field named at once with nothing written; credentials sealed at rest, never
//! returned, never audited; only operators and administrators may write.

mod common;

use common::{PASSWORD, TestDb, TestServer, backends, default_tenant, make_user, post, settings};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SECRET: &str = "Bearer ghp_very-secret-token-123";

async fn json_of(server: &TestServer, path: &str) -> Value {
    server.get(path).await.json().await.unwrap()
}

/// Reads the stored row straight from the database, behind the server's back.
async fn stored_credentials(url: &str, id: &str) -> Vec<u8> {
    use sqlx::Connection;
    let id = uuid::Uuid::parse_str(id).unwrap();
    let sql = "SELECT credentials_enc FROM upstreams WHERE id = $1";
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let (blob,): (Vec<u8>,) = sqlx::query_as(sql)
            .bind(id)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        blob
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let (blob,): (Vec<u8>,) = sqlx::query_as(sql)
            .bind(id)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        blob
    }
}

#[tokio::test]
async fn upstreams_are_registered_with_sealed_credentials() {
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let server = TestServer::start(settings(&db)).await;
        let t = default_tenant(&server).await;
        let url = |p: &str| server.url(&format!("/api/v1/tenants/{t}/upstreams{p}"));

        // Every bad field at once, nothing written.
        let bad = post(&server.client, url(""), json!({
            "name": "Git.Hub",
            "connection": { "transport": "streamable_http", "url": "ftp://x", "headers": { "bad header": "v" } },
            "call_timeout_ms": 1,
        }))
        .await;
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem: Value = bad.json().await.unwrap();
        let fields = common::fields(&problem);
        assert_eq!(
            fields,
            [
                "name",
                "call_timeout_ms",
                "connection.url",
                "connection.headers"
            ],
            "{problem}"
        );
        let unknown = post(
            &server.client,
            url(""),
            json!({ "name": "x1", "connection": { "transport": "carrier_pigeon" } }),
        )
        .await;
        assert!(unknown.status().is_client_error());
        assert!(
            json_of(&server, &format!("/api/v1/tenants/{t}/upstreams")).await["items"]
                .as_array()
                .unwrap()
                .is_empty()
        );

        // An HTTP upstream with a secret header, and a stdio one.
        let created = post(&server.client, url(""), json!({
            "name": "github",
            "description": "GitHub's MCP server",
            "connection": { "transport": "streamable_http", "url": "https://api.example.com/mcp", "headers": { "X-Team": "core" } },
            "secrets": { "Authorization": SECRET },
            "tags": ["vcs"],
        }))
        .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let created: Value = created.json().await.unwrap();
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(created["secret_names"], json!(["Authorization"]));
        assert_eq!(
            created["connection"]["headers"],
            json!({ "X-Team": "core" })
        );
        assert_eq!(created["call_timeout_ms"], 30000);
        assert!(!created.to_string().contains("ghp_"));
        let stdio = post(&server.client, url(""), json!({
            "name": "everything",
            "connection": { "transport": "stdio", "command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"] },
        }))
        .await;
        assert_eq!(stdio.status(), StatusCode::CREATED);
        let dup = post(
            &server.client,
            url(""),
            json!({ "name": "github", "connection": { "transport": "stdio", "command": "x" } }),
        )
        .await;
        assert_eq!(dup.status(), StatusCode::CONFLICT);

        // Sealed at rest: the stored blob does not contain the secret.
        let blob = stored_credentials(&db.url, &id).await;
        assert!(!blob.is_empty());
        assert!(!blob.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));

        // Listed by name; a replace without secrets keeps them, with secrets replaces them.
        let list = json_of(&server, &format!("/api/v1/tenants/{t}/upstreams")).await;
        let names: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["everything", "github"]);
        let mut input = json!({
            "name": "github",
            "connection": { "transport": "streamable_http", "url": "https://api.example.com/mcp" },
            "enabled": false,
        });
        let kept: Value = server
            .client
            .put(url(&format!("/{id}")))
            .json(&input)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(kept["enabled"], false);
        assert_eq!(kept["secret_names"], json!(["Authorization"]));
        assert_eq!(stored_credentials(&db.url, &id).await.len(), blob.len());
        input["secrets"] = json!({ "X-Api-Key": "k2" });
        let replaced: Value = server
            .client
            .put(url(&format!("/{id}")))
            .json(&input)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(replaced["secret_names"], json!(["X-Api-Key"]));
        let renamed_clash = server.client.put(url(&format!("/{id}"))).json(&json!({ "name": "everything", "connection": { "transport": "stdio", "command": "x" } })).send().await.unwrap();
        assert_eq!(renamed_clash.status(), StatusCode::CONFLICT);

        // Readers read; only writers write.
        make_user(&server, &t, "viewer@example.com", &["viewer"]).await;
        make_user(&server, &t, "op@example.com", &["operator"]).await;
        let (viewer, _) = server
            .sign_in_as("default", "viewer@example.com", PASSWORD)
            .await;
        let (operator, _) = server
            .sign_in_as("default", "op@example.com", PASSWORD)
            .await;
        let r = viewer.get(url("")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = post(
            &viewer,
            url(""),
            json!({ "name": "nope", "connection": { "transport": "stdio", "command": "x" } }),
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = post(
            &operator,
            url(""),
            json!({ "name": "ops", "connection": { "transport": "stdio", "command": "x" } }),
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);

        // Removed; gone after.
        let r = server
            .client
            .delete(url(&format!("/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            server
                .get(&format!("/api/v1/tenants/{t}/upstreams/{id}"))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );

        // The trail names what changed, never a secret's value.
        let trail = server
            .text(&format!("/api/v1/tenants/{t}/audit/export?format=json"))
            .await;
        for action in ["upstream.create", "upstream.update", "upstream.delete"] {
            assert!(trail.contains(&format!("\"{action}\"")), "{action} missing");
        }
        assert!(trail.contains("Authorization"));
        assert!(!trail.contains("ghp_") && !trail.contains("\"k2\""));

        server.stop().await;
        db.drop_db().await;
    }
}
