//! "Test connection": connect to an upstream as an MCP client, list what it offers, and
//! disconnect. A stdio upstream is a child process that lives only for the probe; it gets a
//! clean environment (PATH, HOME, LANG and the upstream's own variables), never the
//! server's, whose secrets it has no business seeing.

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::time::{Duration, Instant};

use app::api::{Connection, ProbedItem, UpstreamProbe};
use rmcp::model::ProtocolVersion;
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ServiceExt};

use crate::tools::TenantTools;

/// Variables a child inherits from the server, for `npx`, `uvx` and friends to work.
const INHERITED_ENV: &[&str] = &["PATH", "HOME", "LANG", "TMPDIR"];

/// Connects, lists tools, resources, resource templates and prompts (those the upstream
/// declares), and disconnects, all within `timeout`. Never fails: a failure is the answer.
pub async fn probe(
    connection: &Connection,
    secrets: &BTreeMap<String, String>,
    bearer: Option<&str>,
    local: &TenantTools,
    timeout: Duration,
) -> UpstreamProbe {
    let started = Instant::now();
    let running = run(connection, secrets, bearer, local);
    let mut report = match tokio::time::timeout(timeout, running).await {
        Ok(Ok(report)) => report,
        Ok(Err(error)) => failed(error),
        Err(_) => failed(format!("no answer within {} ms", timeout.as_millis())),
    };
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    report
}

fn failed(error: String) -> UpstreamProbe {
    UpstreamProbe {
        ok: false,
        error: Some(error),
        ..UpstreamProbe::default()
    }
}

async fn run(
    connection: &Connection,
    secrets: &BTreeMap<String, String>,
    bearer: Option<&str>,
    local: &TenantTools,
) -> Result<UpstreamProbe, String> {
    let (client, _) = connect(connection, secrets, bearer, local, ())
        .await
        .map_err(|e| e.message)?;
    let report = list(&client).await;
    // Ends the session (and, for stdio, the child: closing its stdin, then killing it).
    let _ = client.cancel().await;
    report
}

/// Why a session could not be opened; `challenge` is the upstream's `WWW-Authenticate` when
/// it refused for want of (a better) token.
#[derive(Debug)]
pub(super) struct ConnectError {
    pub message: String,
    pub challenge: Option<String>,
}

impl From<String> for ConnectError {
    fn from(message: String) -> Self {
        Self {
            message,
            challenge: None,
        }
    }
}

/// An initialized MCP client session with the upstream, its notifications going to `handler`,
/// and for stdio the child's process id. `bearer` is the OAuth token of an OAuth upstream;
/// `local` makes the tenant's built-in servers.
pub(super) async fn connect<H: ClientHandler>(
    connection: &Connection,
    secrets: &BTreeMap<String, String>,
    bearer: Option<&str>,
    local: &TenantTools,
    handler: H,
) -> Result<(RunningService<RoleClient, H>, Option<u32>), ConnectError> {
    match connection {
        Connection::Stdio {
            command,
            args,
            env,
            working_dir,
            ..
        } => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(args).env_clear().kill_on_drop(true);
            for name in INHERITED_ENV {
                if let Ok(value) = std::env::var(name) {
                    cmd.env(name, value);
                }
            }
            cmd.envs(env).envs(secrets);
            if let Some(dir) = working_dir {
                cmd.current_dir(dir);
            }
            let (transport, _) = TokioChildProcess::builder(cmd)
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start `{command}`: {e}"))?;
            let pid = transport.id();
            let service = handler
                .serve(transport)
                .await
                .map_err(|e| format!("initialize failed: {e}"))?;
            Ok((service, pid))
        }
        Connection::StreamableHttp { url, headers, .. } => {
            let mut all = HashMap::new();
            for (name, value) in headers.iter().chain(secrets) {
                let name = http::HeaderName::try_from(name.as_str())
                    .map_err(|_| format!("`{name}` is not a header name"))?;
                let value = http::HeaderValue::try_from(value.as_str())
                    .map_err(|_| format!("the value of `{name}` is not a valid header value"))?;
                all.insert(name, value);
            }
            let mut config =
                StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(all);
            if let Some(token) = bearer {
                config = config.auth_header(token);
            }
            // rmcp's default client keeps no idle connections, so every request would open a
            // new TCP connection; this one keeps them. No redirects: an upstream's headers
            // (credentials among them) go to the registered URL only.
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .tcp_nodelay(true)
                .pool_idle_timeout(Duration::from_secs(90))
                .build()
                .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
            let transport = StreamableHttpClientTransport::with_client(
                super::traced_http::TracedHttp(client),
                config,
            );
            // 2026-07-28 where the upstream speaks it (self-contained requests, plain JSON
            // answers, so pooled connections are reused), else its session-era revision.
            let lifecycle = ClientLifecycleMode::Auto {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                legacy_version: None,
            };
            let service = handler
                .serve_with_lifecycle(transport, lifecycle)
                .await
                .map_err(|e| ConnectError {
                    challenge: e.auth_challenge().map(str::to_string),
                    message: format!("initialize failed: {e}"),
                })?;
            Ok((service, None))
        }
        Connection::Builtin { server } => {
            let service = crate::tools::connect(local.tool_set(*server), handler).await?;
            Ok((service, None))
        }
    }
}

async fn list(client: &RunningService<RoleClient, ()>) -> Result<UpstreamProbe, String> {
    let info = client
        .peer_info()
        .ok_or_else(|| "the upstream sent no initialize result".to_string())?;
    let caps = &info.capabilities;
    let mut report = UpstreamProbe {
        ok: true,
        server_name: info
            .server_info
            .as_ref()
            .map(|i| i.name.clone())
            .unwrap_or_default(),
        server_version: info
            .server_info
            .as_ref()
            .map(|i| i.version.clone())
            .unwrap_or_default(),
        protocol_version: info.protocol_version.to_string(),
        ..UpstreamProbe::default()
    };
    fn failed(what: &'static str) -> impl Fn(rmcp::ServiceError) -> String {
        move |e| format!("{what} failed: {e}")
    }
    if caps.tools.is_some() {
        let tools = client
            .list_all_tools()
            .await
            .map_err(failed("tools/list"))?;
        report.tools = tools
            .into_iter()
            .map(|t| item(t.name.to_string(), t.description.map(|d| d.to_string())))
            .collect();
    }
    if caps.resources.is_some() {
        let resources = client
            .list_all_resources()
            .await
            .map_err(failed("resources/list"))?;
        report.resources = resources
            .into_iter()
            .map(|r| item(r.uri.clone(), r.description.clone()))
            .collect();
        let templates = client
            .list_all_resource_templates()
            .await
            .map_err(failed("resources/templates/list"))?;
        report.resource_templates = templates
            .into_iter()
            .map(|t| item(t.uri_template.clone(), t.description.clone()))
            .collect();
    }
    if caps.prompts.is_some() {
        let prompts = client
            .list_all_prompts()
            .await
            .map_err(failed("prompts/list"))?;
        report.prompts = prompts
            .into_iter()
            .map(|p| item(p.name, p.description))
            .collect();
    }
    Ok(report)
}

fn item(name: String, description: Option<String>) -> ProbedItem {
    ProbedItem {
        name,
        description: description.unwrap_or_default(),
    }
}
