//! The gateway's MCP endpoint over Streamable HTTP: rmcp's transport (both eras: stateless
//! 2026-07-28 requests with `server/discover`, and `initialize` sessions for 2025-11-25,
//! 2025-06-18 and 2025-03-26), our [`McpServer`] behind it, sessions kept in `kv` so any
//! replica serves any session, and catalog changes fanned out to open sessions. The HTTP
//! layer (`http::mcp`) authenticates first and hands the caller over in the request.

mod answers;
mod cancels;
mod confirm;
mod events;
mod server;
mod sessions;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, SessionConfig};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

pub use answers::Answers;
pub use cancels::Cancels;
pub use events::{Events, PollAfter, resumable_by};
pub use server::McpServer;
pub use sessions::{Owner, Sessions};
pub use watch::CatalogWatch;

use super::Gateway;
use crate::audit::Origin;
use crate::identity::Principal;
use crate::tenancy::TenantScope;

/// The authenticated caller of one MCP request, put on the request by the HTTP layer.
pub struct McpCaller {
    pub scope: TenantScope,
    pub principal: Principal,
    pub origin: Origin,
    /// The tenant's gateway configuration version, read with the tenant.
    pub config_version: i64,
    /// The virtual server whose endpoint was called; `None`: the tenant's own.
    pub server: Option<String>,
}

pub type Service = StreamableHttpService<McpServer, LocalSessionManager>;

/// What every MCP session on this replica shares with the others; cheap to clone.
#[derive(Clone)]
pub struct Replica {
    pub watch: CatalogWatch,
    pub cancels: Cancels,
    pub answers: Answers,
    pub sessions: Sessions,
    pub events: Events,
}

/// The rmcp service for every tenant's endpoint. Host and Origin checks are the HTTP
/// layer's (it knows the deployment's origins); body size is bounded here.
pub fn service(
    gateway: Gateway,
    replica: Replica,
    idle: Duration,
    body_limit: usize,
    shutdown: CancellationToken,
) -> Service {
    // Every session stream's events go to `kv`, so any replica resumes any stream.
    let mut manager =
        LocalSessionManager::default().with_event_store(Arc::new(replica.events.clone()));
    // This replica forgets an idle session sooner than kv does; another request restores it.
    let mut session_config = SessionConfig::default();
    session_config.keep_alive = Some(idle.min(Duration::from_secs(300)));
    manager.session_config = session_config;
    // Plain JSON answers where nothing streams; SSE when the call sends progress first.
    let mut config = StreamableHttpServerConfig::default()
        .with_json_response(true)
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_max_request_body_bytes(body_limit)
        .with_cancellation_token(shutdown);
    config.session_store = Some(Arc::new(replica.sessions.clone()));
    StreamableHttpService::new(
        move || Ok(McpServer::new(gateway.clone(), replica.clone())),
        Arc::new(manager),
        config,
    )
}
