//! One live MCP client session per upstream, shared by every call to it, behind a circuit
//! breaker. A session is opened on first use, reused while it lives, and reopened after it
//! dies (a crashed stdio child, a dropped HTTP session); a changed or removed upstream's
//! session is closed, which for stdio ends the child. Calls carry the upstream's timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::api::{Upstream, UpstreamStatus};
use chrono::{DateTime, Utc};
use rmcp::model::{ClientRequest, PingRequest};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use uuid::Uuid;

use super::breaker::{Backoff, Breaker};
use super::probe::connect;
use super::registry::{Registry, RegistryError};
use super::relay::ProgressRoutes;
use super::upstream::{ListCache, UpstreamClient};
use crate::kv::Kv;
use crate::telemetry::Metrics;
use crate::tenancy::TenantScope;
use latency::Latencies;

mod latency;
mod requests;
mod subscriptions;

use subscriptions::resubscribe;

/// Consecutive failures that open an upstream's breaker, and how long it stays open.
const BREAKER_THRESHOLD: u32 = 5;
const BREAKER_COOLDOWN: Duration = Duration::from_secs(30);
/// How long a health-check ping may take.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("upstream `{0}` is unavailable (circuit open); retry in {1} s")]
    BreakerOpen(String, u64),
    #[error("upstream `{0}` is unavailable: {1}")]
    Unavailable(String, String),
    #[error("upstream `{0}` did not answer within {1} ms")]
    Timeout(String, u64),
    /// An OAuth upstream without a usable grant, or one that refused the token sent.
    #[error(transparent)]
    Unauthorized(#[from] super::upstream_oauth::UpstreamAuthError),
    /// The upstream answered with a JSON-RPC error (code and message kept for the caller).
    #[error("upstream `{0}` refused: {1}")]
    Refused(String, rmcp::ErrorData),
    /// The caller withdrew the request; the upstream was told.
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

type Session = RunningService<RoleClient, UpstreamClient>;

struct Slot {
    id: Uuid,
    name: String,
    /// The registry row this session was opened for; a newer one means reconnect.
    version: DateTime<Utc>,
    session: tokio::sync::Mutex<Option<Arc<Session>>>,
    breaker: Breaker,
    last_error: Mutex<Option<String>>,
    /// The upstream's tools, resources and prompts, until a `list_changed` or the TTL.
    lists: ListCache,
    /// Spaces out attempts to reopen a session that would not open.
    backoff: Backoff,
    /// Recent answer times.
    latencies: Latencies,
    /// Resources subscribed at the upstream (its own URIs), with how many client sessions
    /// want each; a new session subscribes to them again.
    subscriptions: Mutex<HashMap<String, usize>>,
    /// The OAuth token the open session sends, if any: near its expiry the session is
    /// reopened with a refreshed one.
    bearer: Mutex<Option<super::upstream_oauth::Bearer>>,
}

impl Slot {
    fn failed(&self, metrics: &Metrics, error: &CallError) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
        if self.breaker.failure(Instant::now()) {
            tracing::warn!(upstream = %self.id, name = %self.name, %error, "circuit opened");
            metrics.breaker_opened();
        }
    }

    /// Pings the open session, if any; closes it and counts a failure when it is gone or
    /// silent.
    async fn check(&self, metrics: &Metrics) {
        let Some(session) = self.session.lock().await.clone() else {
            return;
        };
        let ping = ClientRequest::PingRequest(PingRequest::default());
        let alive = !session.is_closed()
            && matches!(
                tokio::time::timeout(HEALTH_TIMEOUT, session.send_request(ping)).await,
                Ok(Ok(_))
            );
        if !alive {
            self.session.lock().await.take();
            let error = CallError::Unavailable(self.name.clone(), "did not answer a ping".into());
            self.failed(metrics, &error);
        }
    }
}

/// The sessions of every tenant's upstreams; cheap to clone.
#[derive(Clone)]
pub struct Pool {
    registry: Registry,
    metrics: Metrics,
    kv: Kv,
    slots: Arc<Mutex<HashMap<Uuid, Arc<Slot>>>>,
    progress: ProgressRoutes,
}

impl Pool {
    pub fn new(registry: Registry, metrics: Metrics, kv: Kv) -> Self {
        Self {
            registry,
            metrics,
            kv,
            slots: Arc::default(),
            progress: ProgressRoutes::default(),
        }
    }

    fn slot(&self, upstream: &Upstream) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots.get(&upstream.id) {
            Some(slot) if slot.version == upstream.updated_at => Arc::clone(slot),
            _ => {
                let slot = Arc::new(Slot {
                    id: upstream.id,
                    name: upstream.name.clone(),
                    version: upstream.updated_at,
                    session: tokio::sync::Mutex::new(None),
                    breaker: Breaker::new(BREAKER_THRESHOLD, BREAKER_COOLDOWN),
                    last_error: Mutex::new(None),
                    lists: ListCache::default(),
                    backoff: Backoff::default(),
                    latencies: Latencies::default(),
                    subscriptions: Mutex::default(),
                    bearer: Mutex::default(),
                });
                // A replaced slot's session closes when its last call ends (drop cancels it).
                slots.insert(upstream.id, Arc::clone(&slot));
                slot
            }
        }
    }

    /// Closes the upstream's session (on disable, change or removal).
    pub fn evict(&self, id: Uuid) {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        if let Some(slot) = slot {
            tokio::spawn(async move {
                if let Some(session) = slot.session.lock().await.take()
                    && let Ok(session) = Arc::try_unwrap(session)
                {
                    let _ = session.cancel().await;
                }
            });
        }
    }

    /// Pings every open session each `every` until the returned task is aborted, so a dead
    /// upstream shows (and its breaker counts) before anyone calls it.
    pub fn spawn_health_checks(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let pool = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let slots: Vec<Arc<Slot>> = pool
                    .slots
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .cloned()
                    .collect();
                futures::future::join_all(slots.iter().map(|slot| slot.check(&pool.metrics))).await;
            }
        })
    }

    /// Closes every session (server shutdown), waiting for each to end.
    pub async fn shutdown(&self) {
        let slots: Vec<Arc<Slot>> = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, slot)| slot)
            .collect();
        let closing = slots.into_iter().map(|slot| async move {
            if let Some(session) = slot.session.lock().await.take() {
                match Arc::try_unwrap(session) {
                    Ok(session) => {
                        let _ = session.cancel().await;
                    }
                    // A call still holds it: dropping our handle leaves it to end with the call.
                    Err(shared) => drop(shared),
                }
            }
        });
        futures::future::join_all(closing).await;
    }

    /// This replica's view of an upstream's connection, for the API and console.
    pub fn status(&self, id: Uuid) -> UpstreamStatus {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let Some(slot) = slots.get(&id) else {
            return UpstreamStatus {
                breaker: "closed".into(),
                ..UpstreamStatus::default()
            };
        };
        let view = slot.breaker.view();
        // A session being opened right now counts as not (yet) connected.
        let connected = slot
            .session
            .try_lock()
            .is_ok_and(|s| s.as_ref().is_some_and(|s| !s.is_closed()));
        let latency = slot.latencies.percentiles();
        UpstreamStatus {
            connected,
            latency_p50_ms: latency.map(|(p50, _)| p50),
            latency_p95_ms: latency.map(|(_, p95)| p95),
            breaker: view.state.into(),
            consecutive_failures: view.consecutive_failures,
            last_error: (view.consecutive_failures > 0)
                .then(|| {
                    slot.last_error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone()
                })
                .flatten(),
        }
    }

    async fn session(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
        slot: &Arc<Slot>,
    ) -> Result<Arc<Session>, CallError> {
        let mut guard = slot.session.lock().await;
        let stale_token = slot
            .bearer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|b| b.stale());
        if let Some(session) = guard.as_ref()
            && !session.is_closed()
            && !stale_token
        {
            return Ok(Arc::clone(session));
        }
        if let Some(wait) = slot.backoff.wait(Instant::now()) {
            return Err(CallError::Unavailable(
                upstream.name.clone(),
                format!("reconnecting in {} ms", wait.as_millis().max(1)),
            ));
        }
        let secrets = self.registry.secrets(scope, upstream.id).await?;
        let bearer = self.registry.oauth().bearer(scope, upstream).await?;
        let timeout = Duration::from_millis(u64::from(upstream.call_timeout_ms));
        let handler = UpstreamClient {
            tenant_id: scope.tenant_id(),
            upstream: upstream.id,
            lists: Arc::clone(&slot.lists),
            progress: Arc::clone(&self.progress),
            asks: Default::default(),
            kv: self.kv.clone(),
        };
        // A new session may see a changed upstream: what was cached is not trusted.
        slot.lists.lock().unwrap_or_else(|e| e.into_inner()).take();
        let token = bearer.as_ref().map(|b| b.token.as_str());
        let local = self.registry.builtins(scope);
        // The session outlives the call that opened it: its tasks get a root span of their
        // own, not the call's (which would stay open, and unexported, as long as they run).
        let session =
            tracing::info_span!(parent: None, "upstream.session", upstream = %upstream.name);
        let connecting = tracing::Instrument::instrument(
            connect(&upstream.connection, &secrets, token, &local, handler),
            session,
        );
        let opened = tokio::time::timeout(timeout, connecting)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} ms", timeout.as_millis()).into()));
        let opened = match opened {
            Ok(opened) => {
                slot.backoff.reset();
                opened
            }
            Err(e) => {
                if let Some(challenge) = &e.challenge {
                    let refused = self
                        .registry
                        .oauth()
                        .challenged(scope, upstream, challenge)
                        .await;
                    return Err(CallError::Unauthorized(refused));
                }
                slot.backoff.failed(Instant::now());
                return Err(CallError::Unavailable(upstream.name.clone(), e.message));
            }
        };
        let (opened, pid) = opened;
        if let Some(pid) = pid {
            self.watch(pid, upstream, slot);
        }
        let session = Arc::new(opened);
        *guard = Some(Arc::clone(&session));
        *slot.bearer.lock().unwrap_or_else(|e| e.into_inner()) = bearer;
        resubscribe(slot, &session);
        Ok(session)
    }

    /// Keeps a stdio child (and its descendants) within the upstream's limits for as long as
    /// it lives. A kill is counted, left as the upstream's last error, and audited in its
    /// tenant's trail (`upstream.killed`), so the reason outlives the quick restart.
    fn watch(&self, pid: u32, upstream: &Upstream, slot: &Arc<Slot>) {
        let limits = self.registry.limits(upstream);
        let (slot, metrics) = (Arc::clone(slot), self.metrics.clone());
        let (store, tenant, id) = (
            self.registry.store().clone(),
            upstream.tenant_id,
            upstream.id,
        );
        let name = upstream.name.clone();
        tokio::spawn(async move {
            let Some(reason) = super::limits::watch(pid, limits, name.clone()).await else {
                return;
            };
            metrics.upstream_killed();
            let error = format!("killed: {reason}");
            *slot.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
            let event = crate::audit::Origin::default()
                .event("system", "upstream.killed", crate::audit::Outcome::Failure)
                .target(format!("upstream:{id}"))
                .detail(serde_json::json!({ "name": name, "pid": pid, "reason": reason }));
            if let Err(error) = crate::audit::record(&store, tenant, event).await {
                tracing::error!(%error, upstream = %id, "the kill could not be audited");
            }
        });
    }

    /// Runs `op` on the upstream's session under its breaker and timeout. Transport failures
    /// and timeouts count against the breaker and drop the session; answers, including tool
    /// errors, count as success.
    async fn with_session<T, F, Fut>(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
        op: F,
    ) -> Result<T, CallError>
    where
        F: FnOnce(Arc<Session>) -> Fut,
        Fut: std::future::Future<Output = Result<T, ServiceError>>,
    {
        let slot = self.slot(upstream);
        if let Err(wait) = slot.breaker.admit(Instant::now()) {
            return Err(CallError::BreakerOpen(
                upstream.name.clone(),
                wait.as_secs().max(1),
            ));
        }
        let session = match self.session(scope, upstream, &slot).await {
            Ok(session) => session,
            // Wanting authorization is not the upstream failing: the breaker stays as it is.
            Err(e @ CallError::Unauthorized(_)) => {
                *slot.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                return Err(e);
            }
            Err(e) => {
                slot.failed(&self.metrics, &e);
                return Err(e);
            }
        };
        let timeout_ms = u64::from(upstream.call_timeout_ms);
        let started = Instant::now();
        let outcome = tokio::time::timeout(Duration::from_millis(timeout_ms), op(session)).await;
        match outcome {
            Ok(Ok(value)) => {
                slot.breaker.success();
                slot.latencies.record(started.elapsed());
                Ok(value)
            }
            Ok(Err(ServiceError::McpError(e))) => {
                // The upstream answered, with a JSON-RPC error: it is alive.
                slot.breaker.success();
                slot.latencies.record(started.elapsed());
                Err(CallError::Refused(upstream.name.clone(), e))
            }
            // Withdrawn by the caller, not a fault of the upstream's.
            Ok(Err(ServiceError::Cancelled { .. })) => Err(CallError::Cancelled),
            // A 401 or 403 for the token sent: recorded; the next session opens with a
            // refreshed token, or waits for someone to authorize (with more scope).
            Ok(Err(e)) if e.auth_challenge().is_some() => {
                let challenge = e.auth_challenge().unwrap_or_default().to_string();
                slot.session.lock().await.take();
                let refused = self
                    .registry
                    .oauth()
                    .challenged(scope, upstream, &challenge)
                    .await;
                let error = CallError::Unauthorized(refused);
                *slot.last_error.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(error.to_string());
                Err(error)
            }
            Ok(Err(e)) => {
                let error = CallError::Unavailable(upstream.name.clone(), e.to_string());
                slot.failed(&self.metrics, &error);
                slot.session.lock().await.take();
                Err(error)
            }
            Err(_) => {
                let error = CallError::Timeout(upstream.name.clone(), timeout_ms);
                slot.failed(&self.metrics, &error);
                slot.session.lock().await.take();
                Err(error)
            }
        }
    }
}
