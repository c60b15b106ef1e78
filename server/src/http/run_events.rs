//! `GET /api/v1/tenants/{tenant_id}/runs/{run_id}/events`: a run's events (issue #5 point 3),
//! as server-sent events (`Accept: text/event-stream`) from any replica, or as JSON pages.
//!
//! A stream replays what is stored after `Last-Event-ID` (or `?after=`), then follows the
//! run live on its `kv` channel until the run ends. It subscribes before it reads the store,
//! so nothing falls between the two. Node, tool call and token events are published as they
//! happen and stored when their step commits; so when a step's closing event is heard, the
//! stream first sends what the store holds that it has not sent (events published before
//! it subscribed). Each event goes out once per stream; a resumed stream may repeat a few,
//! which a client drops by `seq`. When nothing is heard for a while, the stream looks at the
//! store itself, so a lost publication delays an event but never loses it.

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;

use app::api::{Problem, RunEvent, RunEventList, RunEventQuery};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::authn::authorize;
use super::error::ApiError;
use super::extract::{Json, Path, Query, RequestContext};
use crate::AppState;
use crate::access::Permission;
use crate::identity::Principal;
use crate::store::{Store, StoreError};
use crate::tenancy::TenantScope;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/tenants/{tenant_id}/runs/{run_id}/events",
        get(events),
    )
}

/// A run's events. With `Accept: text/event-stream`: server-sent events, each named by its
/// `type` with its `seq` as id, replayed after `Last-Event-ID` (or `after`), then live until
/// the run ends (a paused run's stream stays open). Otherwise: the stored events after
/// `after`, a page at a time.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/runs/{run_id}/events", tag = "workflows",
    params(("tenant_id" = Uuid, Path), ("run_id" = Uuid, Path), RunEventQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume a stream after this event")),
    responses(
        (status = 200, body = RunEventList, description = "The stored events (JSON), or the stream (text/event-stream) of `RunEvent`s"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn events(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    headers: HeaderMap,
    Path((tenant_id, run_id)): Path<(Uuid, Uuid)>,
    Query(query): Query<RunEventQuery>,
) -> Result<Response, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::WorkflowsRead,
    )
    .await?;
    state.store.get_run(&scope, run_id).await?;
    let last_event_id = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    ApiError::BadRequest("Last-Event-ID is not an event of a run".into())
                })?,
        ),
        None => None,
    };
    let after = last_event_id.or(query.after).unwrap_or(0);
    let streamed = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if !streamed {
        let (items, more) = state.store.run_events(&scope, run_id, after).await?;
        return Ok(Json(RunEventList { items, more }).into_response());
    }
    // Subscribe before reading the store: an event stored in between is heard.
    let live = state
        .kv
        .subscribe(&crate::engine::events_channel(run_id))
        .await
        .map_err(|e| ApiError::Unavailable(format!("run events cannot be followed now: {e}")))?;
    let (tx, rx) = mpsc::channel(64);
    let follower = Follower {
        store: state.store.clone(),
        scope,
        run: run_id,
        cursor: after,
        floor: after,
        sent: HashSet::new(),
        quiet: Duration::from_secs(state.settings.engine.events_poll_secs.max(1)),
        tx,
    };
    let shutdown = state.mcp.shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            result = follower.follow(live) => {
                if let Err(error) = result {
                    tracing::warn!(%error, %run_id, "a run's event stream ended on an error");
                }
            }
            () = shutdown.cancelled() => {}
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (event, rx))
    });
    Ok(Sse::new(sse(stream))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

fn sse(events: impl Stream<Item = RunEvent>) -> impl Stream<Item = Result<Event, Infallible>> {
    events.map(|event| {
        let mut sse = Event::default().event(event.kind.name());
        if let Some(seq) = event.seq {
            sse = sse.id(seq.to_string());
        }
        Ok(sse
            .json_data(&event)
            .unwrap_or_else(|_| Event::default().comment("unserialisable event")))
    })
}

/// One stream's reader of the store and the live channel.
struct Follower {
    store: Store,
    scope: TenantScope,
    run: Uuid,
    /// The highest id read from the store.
    cursor: i64,
    /// Events up to this id were had before (`Last-Event-ID`).
    floor: i64,
    sent: HashSet<i64>,
    /// With nothing heard for this long, the stream reads the store itself.
    quiet: Duration,
    tx: mpsc::Sender<RunEvent>,
}

/// Why the stream stops following.
enum Stop {
    /// The run ended, or the client went away.
    Done,
    Store(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Store(e)
    }
}

impl Follower {
    async fn follow(mut self, mut live: crate::kv::Subscription) -> Result<(), StoreError> {
        match self.run_to_end(&mut live).await {
            Ok(()) | Err(Stop::Done) => Ok(()),
            Err(Stop::Store(e)) => Err(e),
        }
    }

    async fn run_to_end(&mut self, live: &mut crate::kv::Subscription) -> Result<(), Stop> {
        self.catch_up().await?;
        if self
            .store
            .get_run(&self.scope, self.run)
            .await?
            .status()
            .is_final()
        {
            // Ended before events were stored (runs older than them): nothing will come.
            return Ok(());
        }
        loop {
            let heard = tokio::select! {
                heard = live.next() => heard,
                () = tokio::time::sleep(self.quiet) => {
                    self.catch_up().await?;
                    if self.store.get_run(&self.scope, self.run).await?.status().is_final() {
                        return Ok(());
                    }
                    continue;
                }
                () = self.tx.closed() => return Ok(()),
            };
            // The channel closed (Redis went away): end, the client resumes with its last id.
            let Some(bytes) = heard else { return Ok(()) };
            let Ok(event) = serde_json::from_slice::<RunEvent>(&bytes) else {
                continue;
            };
            let closing = matches!(
                event.kind,
                app::api::RunEventKind::Step { .. } | app::api::RunEventKind::RunStatus { .. }
            );
            if closing {
                // Stored before it was published: send first what preceded it.
                self.catch_up().await?;
            }
            self.send(event).await?;
        }
    }

    /// Sends what the store holds after the cursor that this stream has not sent.
    async fn catch_up(&mut self) -> Result<(), Stop> {
        loop {
            let (events, more) = self
                .store
                .run_events(&self.scope, self.run, self.cursor)
                .await?;
            for event in events {
                if let Some(seq) = event.seq {
                    self.cursor = self.cursor.max(seq);
                }
                self.send(event).await?;
            }
            if !more {
                return Ok(());
            }
        }
    }

    async fn send(&mut self, event: RunEvent) -> Result<(), Stop> {
        if let Some(seq) = event.seq
            && (seq <= self.floor || !self.sent.insert(seq))
        {
            return Ok(());
        }
        let last = event.kind.is_final();
        self.tx.send(event).await.map_err(|_| Stop::Done)?;
        if last { Err(Stop::Done) } else { Ok(()) }
    }
}
