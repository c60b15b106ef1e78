//! Switchyard's own MCP servers (issue #6). Each is a [`ToolSet`] served by [`Host`], and
//! reaches callers two ways:
//!
//! - **through the gateway**: registered in a tenant's upstream registry with the `builtin`
//!   transport, so its tools are namespaced, governed by the tenant's policies, rate-limited
//!   and audited like any upstream's. The pool connects to it in this process over an
//!   in-memory duplex pipe ([`connect`]): the same MCP session as any stdio upstream, with
//!   no child process and no socket;
//! - **on its own**: `switchyard serve-tool NAME` over stdio, or Streamable HTTP with
//!   `--http ADDR`, for any MCP client ([`serve_stdio`], [`serve_http`]).

pub mod host;
pub mod math;
pub mod vectors;

use std::net::SocketAddr;
use std::sync::Arc;

use app::api::BuiltinServer;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ClientHandler, ServiceExt};
use tokio_util::sync::CancellationToken;

use crate::audit::{self, AuditEvent, Outcome};
use crate::config::ToolsSettings;
use crate::gateway::Registry;
use crate::store::Store;
use crate::tenancy::TenantScope;

pub use host::{Host, ToolSet};

/// Bytes buffered each way between the gateway and an in-process server.
const PIPE_BUFFER: usize = 256 * 1024;

/// What built-in servers share across tenants: the store and the vector indexes' copies in
/// memory. Cheap to clone.
#[derive(Clone)]
pub struct Builtins {
    vectors: vectors::service::Embedded,
    remote: vectors::Remote,
}

impl Builtins {
    pub fn new(
        store: Store,
        vault: crate::vault::Vault,
        metrics: crate::telemetry::Metrics,
        settings: &ToolsSettings,
    ) -> Self {
        Self {
            remote: vectors::Remote::new(vault),
            vectors: vectors::service::Embedded::new(
                store,
                settings.vectors.tuning(),
                std::time::Duration::from_secs(settings.vectors.idle_unload_secs.max(1)),
                metrics,
            ),
        }
    }

    /// The vectors server's embedded backend.
    pub fn vectors(&self) -> &vectors::service::Embedded {
        &self.vectors
    }

    /// What reaching a vectors index at Pinecone takes.
    pub fn remote(&self) -> &vectors::Remote {
        &self.remote
    }

    /// The built-in servers as they act for the tenant of `scope`.
    pub fn for_tenant(&self, scope: &TenantScope) -> TenantTools {
        TenantTools {
            shared: self.clone(),
            scope: *scope,
        }
    }
}

/// The built-in servers of one tenant.
#[derive(Clone)]
pub struct TenantTools {
    shared: Builtins,
    scope: TenantScope,
}

impl TenantTools {
    /// `server`'s tools, acting for this tenant.
    pub fn tool_set(&self, server: BuiltinServer) -> Arc<dyn ToolSet> {
        match server {
            BuiltinServer::Math => Arc::new(math::Math),
            BuiltinServer::Vectors => Arc::new(vectors::Vectors::new(
                self.scope,
                self.shared.vectors.clone(),
                self.shared.remote.clone(),
            )),
        }
    }
}

/// The built-in server called `name` on the command line.
pub fn by_name(name: &str) -> Option<BuiltinServer> {
    BuiltinServer::ALL.into_iter().find(|s| s.name() == name)
}

/// On a fresh database: registers the configured built-in servers in the first tenant, each
/// with its policy, and records that in the tenant's audit trail. A server that cannot be
/// registered is logged and left for an administrator to add.
pub async fn register_first_run(
    registry: &Registry,
    store: &Store,
    scope: &TenantScope,
    settings: &ToolsSettings,
) {
    for &server in &settings.builtin_for_new_tenants {
        let (registered, policy) = match registry.create_builtin(scope, server).await {
            Ok(created) => created,
            Err(error) => {
                tracing::warn!(%error, server = server.name(), "built-in server not registered");
                continue;
            }
        };
        let event = AuditEvent {
            actor: "system:first-run".into(),
            action: "upstream.create",
            target: format!("upstream:{}", registered.id),
            outcome: Outcome::Success,
            rule: None,
            request_id: None,
            client_addr: None,
            detail: serde_json::json!({ "name": registered.name, "connection": registered.connection,
                "policy": { "id": policy, "name": format!("builtin-{}", server.name()) } }),
        };
        if let Err(error) = audit::record(store, scope.tenant_id(), event).await {
            tracing::error!(%error, "built-in server registered but not audited");
        }
    }
}

/// An initialized MCP client session with a built-in server's `tools`, run in this process.
/// The server's task ends when the session's client side is dropped (its end of the pipe
/// closes).
pub async fn connect<H: ClientHandler>(
    tools: Arc<dyn ToolSet>,
    handler: H,
) -> Result<RunningService<RoleClient, H>, String> {
    let (client_end, server_end) = tokio::io::duplex(PIPE_BUFFER);
    let name = tools.name();
    let host = Host(tools);
    tokio::spawn(async move {
        match host.serve(server_end).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(error) => {
                tracing::warn!(%error, server = name, "built-in server did not start");
            }
        }
    });
    handler
        .serve(client_end)
        .await
        .map_err(|e| format!("initialize failed: {e}"))
}

/// `server`'s tools for `switchyard serve-tool`. Servers that keep data (vectors) open the
/// configured database and act for the tenant whose slug is `tenant`.
pub async fn standalone(
    server: BuiltinServer,
    settings: &crate::config::Settings,
    tenant: Option<&str>,
) -> Result<Arc<dyn ToolSet>, ServeError> {
    if server == BuiltinServer::Math {
        return Ok(Arc::new(math::Math));
    }
    let Some(slug) = tenant else {
        return Err(ServeError::Tenant(format!(
            "`{}` keeps data per tenant: name one with --tenant SLUG",
            server.name()
        )));
    };
    let store = Store::open(&settings.database_url(), settings.database.max_connections)
        .await
        .map_err(|e| ServeError::Tenant(e.to_string()))?;
    let (tenant, _) = store.tenant_by_slug(slug).await.map_err(|e| match e {
        crate::store::StoreError::NotFound(_) => {
            ServeError::Tenant(format!("there is no tenant `{slug}`"))
        }
        other => ServeError::Tenant(other.to_string()),
    })?;
    let scope = store
        .scope(tenant.id)
        .await
        .map_err(|e| ServeError::Tenant(e.to_string()))?;
    let vault = crate::vault::Vault::open(&settings.vault.master_key, &settings.data_dir)
        .await
        .map_err(|e| ServeError::Tenant(e.to_string()))?;
    let metrics =
        crate::telemetry::Metrics::new().map_err(|e| ServeError::Tenant(e.to_string()))?;
    Ok(Builtins::new(store, vault, metrics, &settings.tools)
        .for_tenant(&scope)
        .tool_set(server))
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Tenant(String),
    #[error("the MCP session failed: {0}")]
    Session(String),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("the HTTP server failed: {0}")]
    Http(std::io::Error),
}

/// Serves `tools` over stdin/stdout until the client closes it.
pub async fn serve_stdio(tools: Arc<dyn ToolSet>) -> Result<(), ServeError> {
    let running = Host(tools)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| ServeError::Session(e.to_string()))?;
    running
        .waiting()
        .await
        .map(|_| ())
        .map_err(|e| ServeError::Session(e.to_string()))
}

/// Serves `tools` over Streamable HTTP at `/mcp` on `bind` until `stop` is cancelled.
/// Requests must name a loopback host or one of `allowed_hosts` (DNS rebinding, MCP
/// 2025-11-25 basic/transports "Security Warning"), and a browser `Origin` is refused.
pub async fn serve_http(
    tools: Arc<dyn ToolSet>,
    bind: SocketAddr,
    allowed_hosts: Vec<String>,
    stop: CancellationToken,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(stop.child_token())
        .enforce_origin_validation();
    if !allowed_hosts.is_empty() {
        let mut hosts = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
        hosts.extend(allowed_hosts);
        config = config.with_allowed_hosts(hosts);
    }
    let service = StreamableHttpService::new(
        move || Ok(Host(tools.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let app = axum::Router::new().route_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| ServeError::Listen(bind, e))?;
    ready(listener.local_addr().map_err(ServeError::Http)?);
    axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
        .map_err(ServeError::Http)
}
