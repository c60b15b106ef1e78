//! Run events (issue #5 point 3) as a run's executor emits them.
//!
//! An event is published on the run's `kv` channel the moment it happens (through Redis,
//! every replica's listeners hear it), and kept until what it tells commits: a step's node,
//! tool call and state events are stored in the step's own transaction, a status change's in
//! the status change's. Events that close a batch (`step`, `run_status`) are published only
//! after they are stored, so a listener that hears one can read everything before it from
//! the store (see `http::run_events`). A step that never commits (a crash, a lost lease)
//! leaves its events unstored: the stored history tells only of what happened for good, and
//! the step's second attempt tells its own.
//!
//! Ids (`seq`) are the wall clock in microseconds, made strictly increasing per emitter: a
//! run resumed elsewhere after a crash is resumed a lease's length later, so its ids follow
//! the crashed executor's. `tokens` carry no id: they are live only.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use app::api::{RunEvent, RunEventKind};
use chrono::Utc;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::kv::Kv;

/// The `kv` channel a run's events are published on.
pub fn channel(run: Uuid) -> String {
    format!("run:{run}")
}

/// Publishes on `kv` from a task of its own, in order, so emitting never waits for Redis.
#[derive(Clone)]
pub(crate) struct Publisher(mpsc::UnboundedSender<(String, Vec<u8>)>);

impl Publisher {
    pub(crate) fn new(kv: Kv) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, Vec<u8>)>();
        tokio::spawn(async move {
            while let Some((channel, bytes)) = rx.recv().await {
                if let Err(error) = kv.publish(&channel, &bytes).await {
                    // Listeners catch up from the store (a run's at its step's commit, a
                    // conversation's when its turn ends).
                    tracing::warn!(%error, %channel, "an event was not published");
                }
            }
        });
        Self(tx)
    }

    /// Publishes `bytes` on `channel`, after what was published before.
    pub(crate) fn send(&self, channel: String, bytes: Vec<u8>) {
        // Fails only once the runtime is going away, and the listeners with it.
        let _ = self.0.send((channel, bytes));
    }

    pub(super) fn publish(&self, event: &RunEvent) {
        if let Ok(bytes) = serde_json::to_vec(event) {
            self.send(channel(event.run_id), bytes);
        }
    }

    pub(super) fn publish_all(&self, events: &[RunEvent]) {
        for event in events {
            self.publish(event);
        }
    }
}

/// One run's events while one executor drives it.
pub(super) struct RunEvents {
    run: Uuid,
    publisher: Publisher,
    last: Mutex<i64>,
    pending: Mutex<Vec<RunEvent>>,
    /// The step in progress runs ahead of commits still landing (`ahead`): its events wait
    /// with its batch, so listeners hear each step's events after the step before.
    held: AtomicBool,
}

impl RunEvents {
    pub(super) fn new(run: Uuid, publisher: Publisher) -> Self {
        Self {
            run,
            publisher,
            last: Mutex::new(0),
            pending: Mutex::new(Vec::new()),
            held: AtomicBool::new(false),
        }
    }

    /// `kind` as an event of this run, with the next id (none for tokens).
    pub(super) fn stamp(&self, kind: RunEventKind) -> RunEvent {
        let at = Utc::now();
        let seq = (!matches!(kind, RunEventKind::Tokens { .. })).then(|| {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            *last = at.timestamp_micros().max(*last + 1);
            *last
        });
        RunEvent {
            seq,
            run_id: self.run,
            at,
            kind,
        }
    }

    /// Whether the events emitted from now on wait for their batch's commit.
    pub(super) fn hold(&self, held: bool) {
        self.held.store(held, Ordering::Relaxed);
    }

    /// Publishes `kind` now (unless held), and keeps it for the next batch stored (tokens
    /// are not kept).
    pub(super) fn emit(&self, kind: RunEventKind) {
        let event = self.stamp(kind);
        if !self.held.load(Ordering::Relaxed) {
            self.publisher.publish(&event);
        }
        if event.seq.is_some() {
            self.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(event);
        }
    }

    /// The events kept so far, then `closing` (stamped now): the batch to store, and how
    /// many of it were published already. Once it is stored, [`RunEvents::published`] sends
    /// the rest.
    pub(super) fn batch(&self, closing: Vec<RunEventKind>) -> (Vec<RunEvent>, usize) {
        let mut batch =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let kept = if self.held.load(Ordering::Relaxed) {
            0
        } else {
            batch.len()
        };
        batch.extend(closing.into_iter().map(|kind| self.stamp(kind)));
        (batch, kept)
    }

    /// After the batch is stored: its closing events go out.
    pub(super) fn published(&self, batch: &[RunEvent], kept: usize) {
        self.publisher.publish_all(&batch[kept.min(batch.len())..]);
    }

    /// A batch that was not stored (its commit lost a race): its events stay unstored, as
    /// the step they tell of did not happen here.
    pub(super) fn discard(&self) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
