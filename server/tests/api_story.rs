//! The REST story for tenants and users, run on SQLite always and on PostgreSQL when
//! `DATABASE_URL` is set: CRUD, paging, filtering, tenant scoping, every kind of bad input
//! (each a precise problem+json 4xx that writes nothing), and persistence across a restart.

mod common;

use common::{TestDb, TestServer, backends, settings};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PROBLEM: &str = "application/problem+json";

#[tokio::test]
async fn api_story_on_every_backend() {
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let mut s = settings(&db);
        s.http.body_limit_bytes = 4096;
        s.http.rate_limit_per_second = 0;
        let server = TestServer::start(s.clone()).await;
        let acme = tenants_story(&server).await;
        users_story(&server, &acme).await;
        bad_input_story(&server, &acme).await;
        server.stop().await;

        // A restart keeps everything and seeds nothing new.
        let server = TestServer::start(s).await;
        let list = get_json(&server, "/api/v1/tenants?limit=200").await;
        assert!(
            list["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["slug"] == "acme"),
            "{backend:?}"
        );
        let default = &list["items"][0];
        assert_eq!(default["slug"], "default");
        let admins = get_json(
            &server,
            &format!("/api/v1/tenants/{}/users", default["id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(
            admins["items"].as_array().unwrap().len(),
            1,
            "bootstrap ran twice on {backend:?}"
        );
        server.stop().await;
        db.drop_db().await;
    }
}

async fn get_json(server: &TestServer, path: &str) -> Value {
    let response = server.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.json().await.unwrap()
}

async fn send(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let response = server
        .client
        .request(method, server.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts a problem document with `status` and returns it.
async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(content_type, PROBLEM);
    let request_id = response
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(body["request_id"], request_id.as_str());
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

async fn count(server: &TestServer, path: &str) -> usize {
    get_json(server, &format!("{path}?limit=200")).await["items"]
        .as_array()
        .unwrap()
        .len()
}

async fn tenants_story(server: &TestServer) -> Value {
    // First run made exactly the default tenant and its administrator.
    let list = get_json(server, "/api/v1/tenants").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["slug"], "default");
    assert!(list["next_cursor"].is_null());
    let default_id = list["items"][0]["id"].as_str().unwrap().to_string();
    let admins = get_json(server, &format!("/api/v1/tenants/{default_id}/users")).await;
    assert_eq!(admins["items"][0]["email"], "admin@localhost");
    assert_eq!(admins["items"][0]["platform_admin"], true);

    // Create, then read back through the Location header.
    let response = server
        .client
        .post(server.url("/api/v1/tenants"))
        .json(&json!({"slug": "acme", "name": "Acme Corp"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let acme: Value = response.json().await.unwrap();
    assert_eq!(get_json(server, &location).await, acme);

    // Paging walks every tenant exactly once.
    for i in 0..5 {
        let (status, _) = send(server, reqwest::Method::POST, "/api/v1/tenants", json!({"slug": format!("team-{i}"), "name": if i == 0 { "Sale 50% off".to_string() } else { format!("Team {i}") }})).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/tenants?limit=2&cursor={c}"),
            None => "/api/v1/tenants?limit=2".to_string(),
        };
        let page = get_json(server, &path).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|t| t["slug"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "default", "acme", "team-0", "team-1", "team-2", "team-3", "team-4"
        ]
    );

    // Filtering is a case-insensitive literal substring: `%` is not a wildcard.
    let found = get_json(server, "/api/v1/tenants?q=ACM").await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(count(server, "/api/v1/tenants").await, 7);
    let found = get_json(server, "/api/v1/tenants?q=50%25").await;
    assert_eq!(
        found["items"].as_array().unwrap().len(),
        1,
        "q=50% matches 'Sale 50% off'"
    );
    let found = get_json(server, "/api/v1/tenants?q=m%252").await;
    assert_eq!(
        found["items"].as_array().unwrap().len(),
        0,
        "as a wildcard, m%2 would match 'Team 2'"
    );
    let found = get_json(server, "/api/v1/tenants?q=_").await;
    assert_eq!(found["items"].as_array().unwrap().len(), 0);

    // Update.
    let id = acme["id"].as_str().unwrap();
    let (status, updated) = send(
        server,
        reqwest::Method::PATCH,
        &format!("/api/v1/tenants/{id}"),
        json!({"name": "Acme Inc"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (updated["name"].as_str(), updated["slug"].as_str()),
        (Some("Acme Inc"), Some("acme"))
    );

    // Delete one of the teams; it is gone.
    let team = get_json(server, "/api/v1/tenants?q=team-4").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let response = server
        .client
        .delete(server.url(&format!("/api/v1/tenants/{team}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = server.get(&format!("/api/v1/tenants/{team}")).await;
    problem(response, StatusCode::NOT_FOUND).await;
    updated
}

async fn users_story(server: &TestServer, acme: &Value) {
    let acme_id = acme["id"].as_str().unwrap();
    let users = format!("/api/v1/tenants/{acme_id}/users");
    let (status, ada) = send(
        server,
        reqwest::Method::POST,
        &users,
        json!({"email": "ada@example.com", "display_name": "Ada"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (ada["disabled"].as_bool(), ada["platform_admin"].as_bool()),
        (Some(false), Some(false))
    );
    let (status, _) = send(
        server,
        reqwest::Method::POST,
        &users,
        json!({"email": "bob@example.com", "display_name": "Bob"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // The same email in another tenant is a different person.
    let team = get_json(server, "/api/v1/tenants?q=team-0").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = send(
        server,
        reqwest::Method::POST,
        &format!("/api/v1/tenants/{team}/users"),
        json!({"email": "ada@example.com", "display_name": "Other Ada"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // A user is reachable only under its own tenant.
    let ada_id = ada["id"].as_str().unwrap();
    let response = server
        .get(&format!("/api/v1/tenants/{team}/users/{ada_id}"))
        .await;
    let body = problem(response, StatusCode::NOT_FOUND).await;
    assert_eq!(body["detail"], "user not found");
    let (status, _) = send(
        server,
        reqwest::Method::PATCH,
        &format!("/api/v1/tenants/{team}/users/{ada_id}"),
        json!({"disabled": true}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Disable, then filter.
    let (status, patched) = send(
        server,
        reqwest::Method::PATCH,
        &format!("{users}/{ada_id}"),
        json!({"disabled": true, "display_name": "Ada L."}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            patched["disabled"].as_bool(),
            patched["display_name"].as_str(),
            patched["email"].as_str()
        ),
        (Some(true), Some("Ada L."), Some("ada@example.com"))
    );
    let disabled = get_json(server, &format!("{users}?disabled=true")).await;
    assert_eq!(disabled["items"].as_array().unwrap().len(), 1);
    let by_text = get_json(server, &format!("{users}?q=BOB")).await;
    assert_eq!(by_text["items"][0]["email"], "bob@example.com");

    // Delete.
    let response = server
        .client
        .delete(server.url(&format!("{users}/{ada_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = server.get(&format!("{users}/{ada_id}")).await;
    problem(response, StatusCode::NOT_FOUND).await;
}

async fn bad_input_story(server: &TestServer, acme: &Value) {
    let acme_id = acme["id"].as_str().unwrap();
    let users = format!("/api/v1/tenants/{acme_id}/users");
    let tenants_before = count(server, "/api/v1/tenants").await;
    let users_before = count(server, &users).await;
    let post = |path: &str| server.client.post(server.url(path));

    // Duplicate names: 409 naming the field.
    let body = problem(
        post("/api/v1/tenants")
            .json(&json!({"slug": "acme", "name": "Again"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "slug");
    let body = problem(
        post(&users)
            .json(&json!({"email": "BOB@example.com", "display_name": "Bob 2"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "email");
    let team0 = get_json(server, "/api/v1/tenants?q=team-0").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let response = server
        .client
        .patch(server.url(&format!("/api/v1/tenants/{team0}")))
        .json(&json!({"slug": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem(response, StatusCode::CONFLICT).await["errors"][0]["field"],
        "slug"
    );

    // Invalid fields: 422 listing every one.
    let body = problem(
        post("/api/v1/tenants")
            .json(&json!({"slug": "Not A Slug", "name": "  "}))
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields = common::fields(&body);
    assert_eq!(fields, ["slug", "name"]);
    let body = problem(
        post(&users)
            .json(&json!({"email": "not-an-email", "display_name": "X"}))
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "email");

    // Malformed JSON, wrong types, unknown and missing fields.
    let malformed = post("/api/v1/tenants")
        .header("content-type", "application/json")
        .body("{\"slug\": \"x\",")
        .send()
        .await
        .unwrap();
    let body = problem(malformed, StatusCode::BAD_REQUEST).await;
    assert!(body["detail"].as_str().unwrap().contains("EOF"), "{body}");
    // Wrong types, unknown and missing fields: 422 quoting the decoder.
    for (body, expected) in [
        (json!({"slug": 5, "name": "x"}), "slug: invalid type"),
        (
            json!({"slug": "fine", "name": "x", "owner": "me"}),
            "unknown field `owner`",
        ),
        (json!({"slug": "fine"}), "missing field `name`"),
    ] {
        let response = post("/api/v1/tenants").json(&body).send().await.unwrap();
        let document = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let detail = document["detail"].as_str().unwrap();
        assert!(detail.contains(expected), "{body}: {detail}");
    }
    let response = post("/api/v1/tenants").body("{}").send().await.unwrap();
    let body = problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert!(
        body["detail"].as_str().unwrap().contains("Content-Type"),
        "{body}"
    );

    // Oversized body (the limit is 4 KiB in this test).
    let huge = json!({"slug": "huge", "name": "x".repeat(10_000)});
    problem(
        post("/api/v1/tenants").json(&huge).send().await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;

    // Bad paging and query parameters.
    for query in [
        "limit=0",
        "limit=201",
        "limit=-1",
        "limit=ten",
        "cursor=nope",
        "sort=name",
        &format!("q={}", "x".repeat(201)),
    ] {
        let response = server.get(&format!("/api/v1/tenants?{query}")).await;
        let body = problem(response, StatusCode::BAD_REQUEST).await;
        assert!(!body["detail"].as_str().unwrap().is_empty(), "{query}");
    }
    let response = server.get(&format!("{users}?disabled=maybe")).await;
    problem(response, StatusCode::BAD_REQUEST).await;

    // Missing tenant, malformed ids, unknown routes and methods.
    let missing = uuid::Uuid::now_v7();
    let body = problem(
        post(&format!("/api/v1/tenants/{missing}/users"))
            .json(&json!({"email": "a@b.c", "display_name": "A"}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(body["detail"], "tenant not found");
    problem(
        server
            .get(&format!("/api/v1/tenants/{missing}/users"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        server.get("/api/v1/tenants/not-a-uuid").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        server
            .client
            .patch(server.url(&format!("/api/v1/tenants/{missing}")))
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        server.get("/api/v1/nothing-here").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        server
            .client
            .put(server.url("/api/v1/tenants"))
            .send()
            .await
            .unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;

    // None of that wrote anything.
    assert_eq!(count(server, "/api/v1/tenants").await, tenants_before);
    assert_eq!(count(server, &users).await, users_before);
    let acme_now = get_json(server, &format!("/api/v1/tenants/{acme_id}")).await;
    assert_eq!(acme_now["name"], "Acme Inc");
}
