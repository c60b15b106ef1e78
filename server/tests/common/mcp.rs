//! Speaking MCP to the gateway in tests: an rmcp client (as real clients are built), and a
//! raw JSON-RPC poster for what a client library would never send (bad headers, foreign
//! sessions, requests alternating between replicas).

use std::sync::{Arc, Mutex};

use rmcp::model::{ProgressNotificationParam, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::Value;

/// A client handler that remembers the notifications it got.
#[derive(Clone, Default)]
pub struct Watcher {
    pub progress: Arc<Mutex<Vec<f64>>>,
    pub tools_changed: Arc<tokio::sync::Notify>,
    /// The URIs of `notifications/resources/updated`, in order.
    pub updated: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for Watcher {
    /// A session-era client: it asks for 2025-11-25 in `initialize`.
    fn get_info(&self) -> rmcp::model::ClientConfig {
        let mut info = rmcp::model::ClientConfig::default();
        info.protocol_version = ProtocolVersion::V_2025_11_25;
        info
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params.progress);
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tools_changed.notify_one();
    }

    async fn on_resource_updated(
        &self,
        params: rmcp::model::ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.updated.lock().unwrap().push(params.uri);
    }
}

pub type Client = RunningService<RoleClient, Watcher>;

/// Which lifecycle the client uses.
pub enum Era {
    /// `initialize` and an `Mcp-Session-Id` session (2025-11-25).
    Session,
    /// `server/discover` and self-contained requests (2026-07-28).
    Stateless,
}

/// An rmcp client of `url` sending `Authorization: Bearer token`.
pub async fn connect(url: &str, token: &str, era: Era, watcher: Watcher) -> Client {
    let config = StreamableHttpClientTransportConfig::with_uri(url).auth_header(token);
    let transport = StreamableHttpClientTransport::from_config(config);
    match era {
        Era::Session => watcher.serve(transport).await.expect("initialize"),
        Era::Stateless => {
            let lifecycle = ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            };
            watcher
                .serve_with_lifecycle(transport, lifecycle)
                .await
                .expect("discover")
        }
    }
}

/// One raw JSON-RPC exchange: status, the session header, and the JSON-RPC message in the
/// body (plain JSON, or the last `data:` event of an SSE body).
pub struct Exchange {
    pub status: reqwest::StatusCode,
    pub session: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

pub async fn post(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Exchange {
    let mut request = client
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    exchange(request.send().await.unwrap()).await
}

pub async fn exchange(response: reqwest::Response) -> Exchange {
    let status = response.status();
    let headers = response.headers().clone();
    let session = headers
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .next_back()
            .unwrap_or(Value::Null)
    });
    Exchange {
        status,
        session,
        headers,
        body,
    }
}

/// The `_meta` every 2026-07-28 request carries.
pub fn meta_2026() -> Value {
    serde_json::json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "raw-test", "version": "1" },
    })
}

/// Registers server-everything as `everything` and lets everyone use all of it but get-env,
/// as the administrator `client` of the server at `base`; returns the tenant id.
pub async fn tenant_with_everything(base: &str, client: &reqwest::Client) -> String {
    let me: Value = client
        .get(format!("{base}/api/v1/auth/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t = me["tenant_id"].as_str().unwrap().to_owned();
    let url = |p: &str| format!("{base}/api/v1/tenants/{t}{p}");
    let marker = format!("mcp-endpoint-{}", uuid::Uuid::new_v4().simple());
    let body = serde_json::json!({
        "name": "everything",
        "connection": { "transport": "stdio", "command": "node", "args": [super::peers::everything(), "stdio", marker] },
    });
    let r = super::post(client, url("/upstreams"), body).await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    for rule in [
        serde_json::json!({ "name": "everything-all", "effect": "allow", "tool_pattern": "everything.*", "priority": 1 }),
        serde_json::json!({ "name": "no-env", "effect": "deny", "tool_pattern": "everything.get-env" }),
    ] {
        let r = super::post(client, url("/policies"), rule).await;
        assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    }
    t
}

/// Registers the conformance fixture on the Python SDK (`peers/conformance_server.py`, over
/// stdio, a session-era upstream) as `fx` with a rule allowing its tools, as the
/// administrator of `server`; returns the default tenant's id.
pub async fn tenant_with_fixture(server: &super::TestServer) -> String {
    let t = super::default_tenant(server).await;
    let url = |p: &str| server.url(&format!("/api/v1/tenants/{t}{p}"));
    let fixture = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers/conformance_server.py");
    for (path, body) in [
        (
            "/upstreams",
            serde_json::json!({ "name": "fx", "connection": { "transport": "stdio",
                "command": super::peers::python(), "args": [fixture, "stdio"] } }),
        ),
        (
            "/policies",
            serde_json::json!({ "name": "fx-all", "effect": "allow", "tool_pattern": "fx.*" }),
        ),
    ] {
        let r = super::post(&server.client, url(path), body).await;
        assert_eq!(r.status(), reqwest::StatusCode::CREATED, "{path}");
    }
    t
}
