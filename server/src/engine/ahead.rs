//! Steps whose commits are still landing while the executor runs on.
//!
//! A step of one `transform` or `condition` node computes its result from the run's state
//! alone and reaches nothing outside the engine. So the executor need not wait for such a
//! step's commit before computing the next: it sends the commit and goes on, and SQLite's
//! step writer commits whatever has queued in one transaction (`store::step_writer`), in
//! order. Every step still gets its own checkpoint, and nothing of a step is shown before its
//! commit has landed: its events (held, `RunEvents::hold`) are published, and it counts as
//! done, only then, so listeners hear the steps in order.
//!
//! Before a step that may act outside (a tool or model call, an approval, a subgraph, a map,
//! several nodes at once), and before the run pauses, fails or ends, every sent commit must
//! have landed ([`Landings::settle`]). So a crash loses at most steps nobody saw, which the
//! next executor computes again from the last checkpoint to the same result, and a node with
//! effects never runs on a step that could still be lost. Each commit moves the run only from
//! the step before it (`Store::send_step`), so when one does not land (the run was cancelled,
//! or another executor took it) none after it can, and the executor stops.
//!
//! On PostgreSQL a step is committed before `send_step` returns, so nothing runs ahead.

use std::collections::VecDeque;
use std::time::Instant;

use app::api::RunEvent;
use app::api::workflow::compile::{Action, Graph};

use super::EngineError;
use super::events::RunEvents;
use crate::store::PendingStep;
use crate::telemetry::Metrics;

/// Commits sent and not yet known to have landed, at most; the oldest is awaited beyond it.
const MOST: usize = 64;

/// Whether a step running `next` may start before the commits before it have landed.
pub(super) fn may_run_ahead(graph: &Graph, next: &[String]) -> bool {
    matches!(next, [one] if matches!(
        graph.nodes.get(one.as_str()).map(|n| &n.action),
        Some(Action::Transform(_) | Action::Condition { .. })
    ))
}

struct Sent {
    pending: PendingStep,
    batch: Vec<RunEvent>,
    kept: usize,
    started: Instant,
}

/// One executor's sent commits, oldest first.
#[derive(Default)]
pub(super) struct Landings(VecDeque<Sent>);

impl Landings {
    /// Keeps a sent step (its event batch and how many of its events were published already);
    /// waits for the oldest when too many are on their way. `false`: a step did not land.
    pub(super) async fn sent(
        &mut self,
        pending: PendingStep,
        (batch, kept): (Vec<RunEvent>, usize),
        started: Instant,
        events: &RunEvents,
        metrics: &Metrics,
    ) -> Result<bool, EngineError> {
        self.0.push_back(Sent {
            pending,
            batch,
            kept,
            started,
        });
        if self.0.len() > MOST {
            return self.land_oldest(events, metrics).await;
        }
        Ok(true)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Waits until every sent step has landed. `false`: one did not, and the run is not this
    /// executor's to go on with.
    pub(super) async fn settle(
        &mut self,
        events: &RunEvents,
        metrics: &Metrics,
    ) -> Result<bool, EngineError> {
        while !self.0.is_empty() {
            if !self.land_oldest(events, metrics).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn land_oldest(
        &mut self,
        events: &RunEvents,
        metrics: &Metrics,
    ) -> Result<bool, EngineError> {
        let Some(sent) = self.0.pop_front() else {
            return Ok(true);
        };
        if !sent.pending.landed().await? {
            // Not ours (cancelled, or another executor moved it): neither is any step after.
            self.0.clear();
            events.discard();
            return Ok(false);
        }
        events.published(&sent.batch, sent.kept);
        metrics.workflow_step(sent.started.elapsed());
        Ok(true)
    }
}
