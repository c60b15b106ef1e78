//! Workflows through the REST API: create one, start a run, wait for it to settle, read its
//! checkpoints.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{TestServer, post};

/// `POST …/workflows`; the new workflow's id.
pub async fn create(server: &TestServer, t: &str, name: &str, definition: Value) -> String {
    let url = server.url(&format!("/api/v1/tenants/{t}/workflows"));
    let r = post(
        &server.client,
        url,
        json!({ "name": name, "definition": definition }),
    )
    .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Starts a run; its id.
pub async fn start(server: &TestServer, t: &str, workflow: &str, input: Value) -> String {
    let url = server.url(&format!("/api/v1/tenants/{t}/workflows/{workflow}/runs"));
    let r = post(&server.client, url, json!({ "input": input })).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// The run once it is no longer running (finished or waiting).
pub async fn settle(server: &TestServer, t: &str, run: &str) -> Value {
    for _ in 0..2400 {
        let body: Value = server
            .get(&format!("/api/v1/tenants/{t}/runs/{run}"))
            .await
            .json()
            .await
            .unwrap();
        if body["status"] != "running" {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {run} still running after 120 s");
}

pub async fn checkpoints(server: &TestServer, t: &str, run: &str) -> Vec<Value> {
    let body: Value = server
        .get(&format!("/api/v1/tenants/{t}/runs/{run}/checkpoints"))
        .await
        .json()
        .await
        .unwrap();
    body["items"].as_array().unwrap().clone()
}
