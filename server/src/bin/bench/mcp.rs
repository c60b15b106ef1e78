//! The gateway's cost: `tools/call` straight to an upstream MCP server, and the same call
//! through `/mcp/{tenant}` (authenticated, decided, rate-checked, forwarded over the pooled
//! session, audited durably), at 1, 16 and 64 concurrent clients; then the memory an open
//! session-era MCP session costs, over `--sessions` sessions.
//!
//! The upstream is an rmcp server in this process with one cheap tool (`add`), so the
//! difference between the rows is the gateway. A fourth row calls the built-in math server's
//! `evaluate` through the gateway: the same governed path, to an upstream served inside the
//! gateway's process over an in-memory pipe instead of HTTP. A third row calls through a bare HTTP proxy
//! (forwarding only): the ceiling for anything that adds a hop on the same two cores.
//! Requests are stateless 2026-07-28 POSTs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, ServerHandler};
use serde_json::{Value, json};

use super::{Options, bench_settings, percentile};

/// The upstream: adds two numbers.
#[derive(Clone)]
struct Adder;

impl ServerHandler for Adder {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let schema = json!({ "type": "object", "properties": {
            "a": { "type": "number" }, "b": { "type": "number" } } });
        let Value::Object(schema) = schema else {
            unreachable!("a JSON object literal")
        };
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "add",
            "Adds a and b",
            Arc::new(schema),
        )]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let arguments = request.arguments.unwrap_or_default();
        let n = |k: &str| arguments.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        let sum = n("a") + n("b");
        Ok(CallToolResponse::Complete(CallToolResult::success(vec![
            ContentBlock::text(sum.to_string()),
        ])))
    }
}

/// Serves [`Adder`] on loopback; returns its endpoint URL.
async fn upstream() -> Result<String, Box<dyn std::error::Error>> {
    let service = StreamableHttpService::new(
        || Ok(Adder),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().with_json_response(true),
    );
    let app = axum::Router::new().route_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// A bare HTTP proxy in front of `upstream`: each POST forwarded as it came, over a pooled
/// client, with no parsing, authentication, policy or audit. No gateway that adds a hop can
/// beat it, so its row is the ceiling the gateway's figures are to be read against.
async fn bare_proxy(upstream: String) -> Result<String, Box<dyn std::error::Error>> {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode, header};
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let forward = move |headers: HeaderMap, body: Bytes| {
        let (client, upstream) = (client.clone(), upstream.clone());
        async move {
            let mut request = client.post(&upstream).body(body);
            for (name, value) in &headers {
                if name != header::HOST && name != header::CONTENT_LENGTH {
                    request = request.header(name, value);
                }
            }
            let Ok(answer) = request.send().await else {
                return (StatusCode::BAD_GATEWAY, HeaderMap::new(), Bytes::new());
            };
            let status = answer.status();
            let mut headers = HeaderMap::new();
            if let Some(kind) = answer.headers().get(header::CONTENT_TYPE) {
                headers.insert(header::CONTENT_TYPE, kind.clone());
            }
            let body = answer.bytes().await.unwrap_or_default();
            (status, headers, body)
        }
    };
    let app = axum::Router::new().route("/mcp", axum::routing::post(forward));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

fn call_body(tool: &str, arguments: &Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": tool, "arguments": arguments,
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": { "name": "bench", "version": "1" } } } })
}

/// Calls `tool` at `url` from `clients` workers for `seconds`: (calls/s, p50 ms, p99 ms,
/// errors). Both tools answer 5: `add` to 2 and 3, math's `evaluate` to `2 + 3`.
async fn load(
    client: &reqwest::Client,
    url: &str,
    tool: &str,
    clients: usize,
    seconds: u64,
) -> (f64, f64, f64, u64) {
    let arguments = if tool.ends_with("evaluate") {
        json!({ "expression": "2 + 3" })
    } else {
        json!({ "a": 2, "b": 3 })
    };
    let body = Arc::new(serde_json::to_vec(&call_body(tool, &arguments)).unwrap_or_default());
    let running = Arc::new(AtomicBool::new(true));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (client, url, body, running) = (
                client.clone(),
                url.to_owned(),
                body.clone(),
                running.clone(),
            );
            let tool = tool.to_owned();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(16_384);
                let mut errors = 0u64;
                while running.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let sent = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("accept", "application/json, text/event-stream")
                        .header("mcp-protocol-version", "2026-07-28")
                        .header("mcp-method", "tools/call")
                        .header("mcp-name", &tool)
                        .body(body.as_ref().clone())
                        .send()
                        .await;
                    let ok = match sent {
                        Ok(r) if r.status().is_success() => r
                            .text()
                            .await
                            .is_ok_and(|t| t.contains("\"5\"") && !t.contains("\"error\"")),
                        _ => false,
                    };
                    if ok {
                        latencies.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    running.store(false, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        if let Ok((l, e)) = worker.await {
            latencies.extend(l);
            errors += e;
        }
    }
    latencies.sort_unstable();
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    (
        rate,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        errors,
    )
}

/// This process's resident memory, in KiB (Linux).
pub async fn rss_kib() -> u64 {
    tokio::fs::read_to_string("/proc/self/status")
        .await
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

pub async fn run(
    label: &str,
    database_url: &str,
    dir: &std::path::Path,
    options: &Options,
) -> Result<(), Box<dyn std::error::Error>> {
    let upstream = upstream().await?;
    let mut settings = bench_settings(database_url, dir);
    settings.http.tool_rate_limit_per_second = 0;
    // The built-in math server, for the row of a call served inside the gateway's process.
    settings.tools.builtin_for_new_tenants = vec![app::api::BuiltinServer::Math];
    let (base, token, server) = super::start(settings).await?;
    let admin = super::bearer(&token, 64)?;
    let me: Value = admin
        .get(format!("{base}/api/v1/auth/me"))
        .send()
        .await?
        .json()
        .await?;
    let tenant = me["tenant_id"].as_str().ok_or("no tenant")?.to_owned();
    let tenant_url = format!("{base}/api/v1/tenants/{tenant}");
    let registered = json!({ "name": "bench",
        "connection": { "transport": "streamable_http", "url": upstream } });
    let rule = json!({ "name": "bench-all", "effect": "allow", "tool_pattern": "bench.*" });
    for (path, body) in [("/upstreams", registered), ("/policies", rule)] {
        admin
            .post(format!("{tenant_url}{path}"))
            .json(&body)
            .send()
            .await?
            .error_for_status()?;
    }
    let gateway = format!("{base}/mcp/default");
    let direct = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let proxy = bare_proxy(upstream.clone()).await?;
    // Warm up every path (the gateway opens its upstream session on first use).
    load(&direct, &upstream, "add", 1, 1).await;
    load(&direct, &proxy, "add", 1, 1).await;
    load(&admin, &gateway, "bench.add", 1, 1).await;
    load(&admin, &gateway, "math.evaluate", 1, 1).await;
    for clients in [1, 16, 64] {
        let d = load(&direct, &upstream, "add", clients, options.seconds).await;
        let p = load(&direct, &proxy, "add", clients, options.seconds).await;
        let g = load(&admin, &gateway, "bench.add", clients, options.seconds).await;
        let b = load(&admin, &gateway, "math.evaluate", clients, options.seconds).await;
        let rows = [("direct", d), ("proxy", p), ("gateway", g), ("builtin", b)];
        for (path, (rate, p50, p99, errors)) in rows {
            println!(
                "{label:<10} {path:<8} {clients:>7} {rate:>10.0} {p50:>9.2} {p99:>9.2} {errors:>7}"
            );
        }
        println!(
            "{label:<10} gateway overhead at {clients} clients: {:+.2} ms p50, {:+.2} ms p99, {:.0}% of direct throughput \
             (a bare proxy: {:+.2} ms p50, {:.0}%)",
            g.1 - d.1,
            g.2 - d.2,
            100.0 * g.0 / d.0,
            p.1 - d.1,
            100.0 * p.0 / d.0
        );
    }

    // Memory per open session: initialize many sessions and keep them.
    let before = rss_kib().await;
    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": { "name": "bench", "version": "1" } } });
    let body = Arc::new(serde_json::to_vec(&init)?);
    let per_worker = options.sessions.div_ceil(32);
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let (client, url, body) = (admin.clone(), gateway.clone(), body.clone());
            tokio::spawn(async move {
                let mut opened = 0usize;
                for _ in 0..per_worker {
                    let r = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("accept", "application/json, text/event-stream")
                        .body(body.as_ref().clone())
                        .send()
                        .await;
                    if let Ok(r) = r
                        && r.headers().contains_key("mcp-session-id")
                        && r.bytes().await.is_ok()
                    {
                        opened += 1;
                    }
                }
                opened
            })
        })
        .collect();
    let mut opened = 0;
    for worker in workers {
        opened += worker.await.unwrap_or(0);
    }
    let after = rss_kib().await;
    println!(
        "{label:<10} {opened} open sessions: RSS {:.1} → {:.1} MiB, {:.1} KiB per session",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        after.saturating_sub(before) as f64 / opened.max(1) as f64
    );
    server.stop().await
}
