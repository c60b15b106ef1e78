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
    until(server, t, run, &["running"]).await
}

/// The run once it has ended (a waiting run is still waited for).
pub async fn finished(server: &TestServer, t: &str, run: &str) -> Value {
    until(server, t, run, &["running", "waiting"]).await
}

/// The run once its status is none of `passing`; panics after 120 s.
async fn until(server: &TestServer, t: &str, run: &str, passing: &[&str]) -> Value {
    for _ in 0..2400 {
        let body: Value = server
            .get(&format!("/api/v1/tenants/{t}/runs/{run}"))
            .await
            .json()
            .await
            .unwrap();
        if !passing.iter().any(|s| body["status"] == *s) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {run} still {passing:?} after 120 s");
}

/// `POST …/runs/{run}/decisions` on `node`, from `client` at `base`; the status.
pub async fn decide(
    client: &reqwest::Client,
    base: &str,
    t: &str,
    run: &str,
    node: &str,
    approve: bool,
) -> StatusCode {
    let url = format!("{base}/api/v1/tenants/{t}/runs/{run}/decisions");
    post(client, url, json!({ "node": node, "approve": approve }))
        .await
        .status()
}

/// Every checkpoint of the run, read a page at a time.
pub async fn checkpoints(server: &TestServer, t: &str, run: &str) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    loop {
        let after = all
            .last()
            .map(|c| format!("&after={}", c["step"]))
            .unwrap_or_default();
        let body: Value = server
            .get(&format!(
                "/api/v1/tenants/{t}/runs/{run}/checkpoints?limit=1000{after}"
            ))
            .await
            .json()
            .await
            .unwrap();
        all.extend(body["items"].as_array().unwrap().iter().cloned());
        if body["more"] != true {
            return all;
        }
    }
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: Value,
}

/// Reads server-sent events from a streamed response, however its bytes are cut.
pub struct SseReader {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>>,
    buffer: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped); `None` when the stream ends. Panics after 60 s.
    pub async fn next(&mut self) -> Option<SseEvent> {
        use futures::StreamExt;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::from("message"), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                let data = serde_json::from_str(&data).expect("an event's data is JSON");
                return Some(SseEvent { id, event, data });
            }
            let chunk = tokio::time::timeout(Duration::from_secs(60), self.body.next())
                .await
                .expect("an event within 60 s");
            match chunk {
                Some(Ok(bytes)) => self
                    .buffer
                    .push_str(&String::from_utf8_lossy(&bytes).replace("\r\n", "\n")),
                _ => return None,
            }
        }
    }

    /// Every event until the stream ends.
    pub async fn rest(&mut self) -> Vec<SseEvent> {
        let mut all = Vec::new();
        while let Some(event) = self.next().await {
            all.push(event);
        }
        all
    }
}

/// Opens `GET …/runs/{run}/events` as a stream, after `last` when given.
pub async fn events(
    client: &reqwest::Client,
    base: &str,
    t: &str,
    run: &str,
    last: Option<&str>,
) -> SseReader {
    let mut request = client
        .get(format!("{base}/api/v1/tenants/{t}/runs/{run}/events"))
        .header("accept", "text/event-stream");
    if let Some(last) = last {
        request = request.header("last-event-id", last);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    SseReader::new(response)
}
