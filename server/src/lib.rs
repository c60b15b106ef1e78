//! Switchyard: a self-hosted, multi-tenant MCP platform. The binary is thin; [`serve`] is the
//! whole server, and the integration tests call it on port 0.
//!
//! Dependency direction (DESIGN.md): `http` → capabilities (`identity`, …) → foundations
//! (`store`, `kv`, `tenancy`, `telemetry`) → `config`.

pub mod access;
pub mod audit;
pub mod bridge;
pub mod chat;
pub mod config;
pub mod engine;
pub mod gateway;
pub mod http;
pub mod identity;
pub mod kv;
pub mod outbound;
pub mod store;
pub mod telemetry;
pub mod tenancy;
pub mod tools;
pub mod vault;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use leptos::prelude::LeptosOptions;
use tokio::net::TcpListener;

use config::Settings;
use kv::{Kv, KvError};
use store::{Store, StoreError};
use telemetry::{Metrics, TelemetryError};

/// What every handler can reach. Built once at start-up and passed in; nothing is global.
/// One `Arc`: axum clones the state for every extractor of every request, and a clone of
/// each member's handles cost dozens of reference counts (1-2% of a gateway call, perf).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The members of [`AppState`].
pub struct Shared {
    pub store: Store,
    pub kv: Kv,
    pub metrics: Metrics,
    pub settings: Arc<Settings>,
    pub identity: identity::Identity,
    pub vault: vault::Vault,
    /// The upstream MCP servers of every tenant.
    pub upstreams: gateway::Registry,
    /// Tool catalog and calls through the gateway.
    pub gateway: gateway::Gateway,
    /// Per-tenant API rate limits, cached.
    pub limits: tenancy::LimitCache,
    /// The MCP endpoint's sessions, catalog-change fan-out and shutdown signal.
    pub mcp: McpState,
    /// Each tenant's OAuth authorization server for MCP clients.
    pub oauth: gateway::oauth::AuthorizationServer,
    /// Workflow runs and their executors.
    pub engine: engine::Engine,
    /// Each tenant's LLM providers, usage and budget.
    pub llm: engine::llm::Llm,
    /// Users' conversations with the agent.
    pub chat: chat::Chat,
}

/// What the MCP endpoint shares across requests.
#[derive(Clone)]
pub struct McpState {
    pub sessions: gateway::Sessions,
    pub watch: gateway::CatalogWatch,
    /// Requests in flight, cancellable from any replica.
    pub cancels: gateway::Cancels,
    /// Answers to this replica's asks that clients POST to another replica.
    pub answers: gateway::Answers,
    /// Session streams' events, resumable from any replica.
    pub events: gateway::Events,
    /// Cancelled at shutdown, ending open SSE streams so the server can stop.
    pub shutdown: tokio_util::sync::CancellationToken,
}

impl AppState {
    /// Opens everything a server needs: the database (migrated, first run done), shared state,
    /// the vault and the identity service.
    pub async fn open(settings: Settings) -> Result<Self, ServeError> {
        let settings = Arc::new(settings);
        let store =
            Store::open(&settings.database_url(), settings.database.max_connections).await?;
        let first_tenant = identity::bootstrap(&store, &settings.bootstrap).await?;
        store.ensure_builtin_roles(None).await?;
        let kv = Kv::open(&settings.redis.url, &settings.redis.prefix).await?;
        let vault = vault::Vault::open(&settings.vault.master_key, &settings.data_dir).await?;
        let identity = identity::Identity::open(
            store.clone(),
            kv.clone(),
            vault.clone(),
            settings.auth.clone(),
        )
        .await?;
        let limits = tenancy::LimitCache::new(tenancy::Limits {
            tenant_per_second: settings.http.tenant_rate_limit_per_second,
            principal_per_second: settings.http.principal_rate_limit_per_second,
        });
        let stdio_limits = gateway::Limits {
            memory_mb: Some(settings.gateway.stdio_memory_mb),
            cpu_seconds: Some(settings.gateway.stdio_cpu_seconds),
        };
        let metrics = Metrics::new()?;
        let upstream_auth = gateway::upstream_oauth::UpstreamAuth::new(
            store.clone(),
            vault.clone(),
            kv.clone(),
            metrics.clone(),
            settings.oauth.upstream_client_id(),
        );
        let builtins = tools::Builtins::new(
            store.clone(),
            vault.clone(),
            metrics.clone(),
            &settings.tools,
        );
        let upstreams = gateway::Registry::new(
            store.clone(),
            vault.clone(),
            stdio_limits,
            upstream_auth,
            builtins,
        );
        if let Some(scope) = &first_tenant {
            tools::register_first_run(&upstreams, &store, scope, &settings.tools).await;
        }
        let pool = gateway::Pool::new(upstreams.clone(), metrics.clone(), kv.clone());
        let gateway = gateway::Gateway::new(
            store.clone(),
            kv.clone(),
            settings.http.tool_rate_limit_per_second,
            upstreams.clone(),
            pool,
            metrics.clone(),
        );
        let mcp = McpState {
            sessions: gateway::Sessions::new(
                kv.clone(),
                Duration::from_secs(settings.gateway.session_idle_secs.max(1)),
            ),
            watch: gateway::CatalogWatch::new(kv.clone()),
            cancels: gateway::Cancels::new(kv.clone()),
            answers: gateway::Answers::new(kv.clone()),
            events: gateway::Events::new(
                kv.clone(),
                Duration::from_secs(settings.gateway.sse_resume_secs.max(1)),
            ),
            shutdown: tokio_util::sync::CancellationToken::new(),
        };
        let oauth = gateway::oauth::AuthorizationServer::new(
            store.clone(),
            kv.clone(),
            identity.clone(),
            metrics.clone(),
            settings.oauth.clone(),
        );
        let llm = engine::llm::Llm::new(store.clone(), vault.clone(), metrics.clone())
            .map_err(|e| ServeError::Io(std::io::Error::other(e)))?;
        let engine = engine::Engine::new(
            store.clone(),
            kv.clone(),
            gateway.clone(),
            llm.clone(),
            identity.clone(),
            metrics.clone(),
            settings.engine.clone(),
        );
        let chat = chat::Chat::new(
            store.clone(),
            kv.clone(),
            gateway.clone(),
            llm.clone(),
            engine.clone(),
            metrics.clone(),
        );
        Ok(AppState(Arc::new(Shared {
            chat,
            engine,
            llm,
            oauth,
            mcp,
            gateway,
            upstreams,
            limits,
            store,
            kv,
            metrics,
            settings,
            identity,
            vault,
        })))
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("shared state: {0}")]
    Kv(#[from] KvError),
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    #[error("first-run setup failed: {0}")]
    Bootstrap(#[from] identity::BootstrapError),
    #[error("vault: {0}")]
    Vault(#[from] vault::VaultError),
    #[error("identity: {0}")]
    Identity(#[from] identity::AuthError),
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Opens the database (applying migrations) and shared state, runs first-run setup, and
/// serves HTTP on `listener` until `shutdown` resolves. In-flight requests then get
/// `http.shutdown_grace_secs` to finish.
pub async fn serve(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let started = std::time::Instant::now();
    let state = AppState::open(settings).await?;
    let (store, settings) = (state.store.clone(), state.settings.clone());
    let pool = state.gateway.pool().clone();
    let health = (settings.gateway.health_check_secs > 0)
        .then(|| pool.spawn_health_checks(Duration::from_secs(settings.gateway.health_check_secs)));
    let cancels = state.mcp.cancels.spawn_listener(state.mcp.shutdown.clone());
    let answers = state.mcp.answers.spawn_listener(state.mcp.shutdown.clone());
    // Runs left by a crash or a stopped replica are taken up at start and on every sweep.
    let sweeper = state.engine.spawn_sweeper(state.mcp.shutdown.clone());
    let address = listener.local_addr()?;
    let state_mcp_shutdown = state.mcp.shutdown.clone();
    let app = http::router(state, leptos_options(&settings, address));
    tracing::info!(
        %address,
        database = ?store.backend(),
        ready_ms = started.elapsed().as_millis() as u64,
        "switchyard is ready"
    );

    let shutdown = shutdown.shared();
    let mcp_shutdown = state_mcp_shutdown;
    let stopping = shutdown.clone();
    tokio::spawn(async move {
        stopping.await;
        mcp_shutdown.cancel();
    });
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone())
    .into_future();
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result?,
        () = shutdown => {
            tracing::info!("shutting down; finishing in-flight requests");
            let grace = Duration::from_secs(settings.http.shutdown_grace_secs);
            match tokio::time::timeout(grace, server).await {
                Ok(result) => result?,
                Err(_) => tracing::warn!(grace_secs = grace.as_secs(), "grace period over; dropping open connections"),
            }
        }
    }
    // Upstream sessions end before the process does: stdio children are told to stop, then
    // killed, rather than orphaned.
    if let Some(health) = health {
        health.abort();
    }
    cancels.abort();
    answers.abort();
    sweeper.abort();
    pool.shutdown().await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The whole application as a router, for router-level tests (`tower::ServiceExt::oneshot`).
pub fn app(state: AppState) -> axum::Router {
    let options = leptos_options(&state.settings, state.settings.http.bind);
    http::router(state, options)
}

/// Leptos settings from ours (cargo-leptos' `LEPTOS_*` variables are not needed).
fn leptos_options(settings: &Settings, address: SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("switchyard")
        .site_root(settings.site.root.to_string_lossy().to_string())
        .site_pkg_dir(settings.site.pkg_dir.clone())
        .site_addr(address)
        .build()
}
