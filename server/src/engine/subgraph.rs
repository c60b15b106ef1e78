//! The `subgraph` node: another workflow run as a run of its own (durable, checkpointed,
//! traced like any), started with the node's input, acting for the same principal, and
//! waited for; its final state is the node's result.
//!
//! The child's id is derived from the parent run, the step and the node, so a parent that
//! resumes after a crash, on any replica, finds the child it started rather than starting
//! another; a retry of the node finds it too (and its outcome). Cancelling the parent
//! cancels the child. A child waiting for a person pauses its parent too (the parent's node
//! is `waiting_on`, and its executor and slot are free); the child's end wakes the parent
//! (or, should that wake-up be lost, the sweeper does), whose node then finds the child
//! finished.

use std::sync::atomic::Ordering;
use std::time::Duration;

use app::api::RunStatus;
use app::api::workflow::compile::{MAX_DEPTH, SubgraphAction, compile};
use app::api::workflow::definition::FailureKind;
use app::api::workflow::state::initial_state;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::nodes::{Context, Failure};
use super::{Engine, EngineError, new_run};
use crate::store::StoreError;

/// How often the parent looks at its child.
const POLL: Duration = Duration::from_millis(100);

/// The child's final state, and the trace (the child run's id and status); `None` while the
/// child waits for a person (the parent pauses).
pub(super) async fn run(
    cx: &Context<'_>,
    name: &str,
    sub: &SubgraphAction,
    state: &Value,
    stop: &CancellationToken,
) -> Result<Option<(Value, Value)>, Failure> {
    let input = match sub.input.render(state) {
        Ok(Value::Object(map)) => map,
        Ok(other) => {
            let message = format!("the input rendered as {other}, not an object");
            return Err(Failure::new(FailureKind::Expression, message));
        }
        Err(e) => return Err(Failure::new(FailureKind::Expression, e.to_string())),
    };
    let step = cx.step.load(Ordering::Relaxed);
    let id = child_id(cx.run, step, name);
    match cx.engine.0.store.get_run(cx.scope, id).await {
        // Started before a crash or by an earlier attempt: wait for it.
        Ok(_) => {}
        Err(StoreError::NotFound(_)) => {
            if cx.depth + 1 > MAX_DEPTH {
                return Err(Failure::new(
                    FailureKind::Refused,
                    format!("subgraphs nest at most {MAX_DEPTH} deep"),
                ));
            }
            cx.engine
                .start_child(cx, id, &sub.workflow, input)
                .await
                .map_err(|e| match e {
                    EngineError::Refused(message) | EngineError::Conflict(message) => {
                        Failure::new(FailureKind::Refused, message)
                    }
                    other => Failure::new(FailureKind::Upstream, other.to_string()),
                })?;
        }
        Err(e) => return Err(Failure::new(FailureKind::Upstream, e.to_string())),
    }
    loop {
        let child = match cx.engine.0.store.get_run(cx.scope, id).await {
            Ok(child) => child,
            Err(e) => return Err(Failure::new(FailureKind::Upstream, e.to_string())),
        };
        let trace =
            json!({ "run": id, "workflow": sub.workflow, "status": child.status().as_str() });
        match child.status() {
            RunStatus::Succeeded => return Ok(Some((Value::Object(child.state.0), trace))),
            RunStatus::Waiting => return Ok(None),
            RunStatus::Failed | RunStatus::Cancelled => {
                let why = child.error.clone().unwrap_or_default();
                let message = format!(
                    "the subgraph run {id} of `{}` {}: {why}",
                    sub.workflow,
                    child.status().as_str()
                );
                return Err(Failure::new(FailureKind::Refused, message));
            }
            RunStatus::Running => {}
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = stop.cancelled() => {
                // The parent is cancelled or timed out: its child goes with it.
                let _ = cx.engine.cancel(cx.scope, id).await;
                return Err(Failure::new(FailureKind::Refused, "the run was cancelled"));
            }
        }
    }
}

/// The child of `parent`'s node `node` at `step`: the same on every replica and attempt.
pub(super) fn child_id(parent: Uuid, step: i64, node: &str) -> Uuid {
    let digest = Sha256::digest(format!("subgraph:{parent}:{step}:{node}"));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // RFC 9562 §5.8: version 8 (custom), variant 10.
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

impl Engine {
    /// After `run` ended: its parent, if it has one and waits, goes on (and finds its node's
    /// child finished).
    pub(super) async fn wake_parent(
        &self,
        scope: &crate::tenancy::TenantScope,
        run: &crate::store::RunRow,
    ) {
        if let Some(parent) = run.parent_run_id {
            self.wake(scope, parent).await;
        }
    }

    /// Wakes the waiting parents whose child ended without waking them: the child ended
    /// between the parent's node seeing it wait and the parent pausing, or the wake-up
    /// failed. Only a child that one of the parent's waiting nodes started counts, so a
    /// parent paused at an approval stays paused.
    pub(super) async fn wake_forgotten_parents(&self) {
        let parents = match self.0.store.parents_with_ended_children(200).await {
            Ok(parents) => parents,
            Err(error) => {
                tracing::warn!(%error, "could not look for parents to wake");
                return;
            }
        };
        for parent in parents {
            let scope = crate::tenancy::TenantScope::verified(parent.tenant_id);
            for node in &parent.waiting_on.0 {
                let child = child_id(parent.id, parent.step, node);
                let ended = match self.0.store.get_run(&scope, child).await {
                    Ok(run) => matches!(
                        run.status(),
                        RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
                    ),
                    Err(_) => false,
                };
                if ended {
                    tracing::info!(parent = %parent.id, %child, "woke a parent its child had not");
                    self.wake(&scope, parent.id).await;
                    break;
                }
            }
        }
    }

    /// Moves a waiting run back to running, to be taken up by an executor: its step runs
    /// again, decided and finished nodes keeping their results.
    pub(super) async fn wake(&self, scope: &crate::tenancy::TenantScope, run: Uuid) {
        let row = match self.0.store.get_run(scope, run).await {
            Ok(row) if row.status() == RunStatus::Waiting => row,
            Ok(_) => return,
            Err(error) => {
                tracing::error!(%error, %run, "a waiting parent run could not be woken");
                return;
            }
        };
        let events = super::events::RunEvents::new(run, self.0.publisher.clone());
        let (resumed, _) = events.batch(vec![app::api::RunEventKind::RunStatus {
            status: RunStatus::Running,
            step: row.step,
            waiting_on: Vec::new(),
            error: None,
        }]);
        let change = crate::store::StatusChange {
            step: Some(row.step),
            from: &[RunStatus::Waiting],
            to: RunStatus::Running,
            waiting_on: &[],
            error: None,
            events: &resumed,
        };
        match self.0.store.set_run_status(scope, run, &change).await {
            Ok(true) => {
                events.published(&resumed, 0);
                // Launched from the engine's own task: this may run inside an executor.
                let _ = self.0.launches.send((scope.tenant_id(), run));
            }
            Ok(false) => {}
            Err(error) => tracing::error!(%error, %run, "a waiting parent run could not be woken"),
        }
    }

    /// Starts the child run `id` of workflow `name` (its latest version) for the parent
    /// in `cx`, acting for the parent's principal, and hands it to an executor.
    async fn start_child(
        &self,
        cx: &Context<'_>,
        id: Uuid,
        name: &str,
        input: serde_json::Map<String, Value>,
    ) -> Result<(), EngineError> {
        let workflows = self.0.store.list_workflows(cx.scope).await?;
        let workflow = workflows
            .into_iter()
            .find(|w| w.name == name)
            .ok_or_else(|| EngineError::Refused(format!("there is no workflow `{name}`")))?;
        let graph = compile(&workflow.definition).map_err(|problems| {
            EngineError::Refused(format!(
                "the workflow `{name}` does not check: {}",
                problems[0].message
            ))
        })?;
        let state = initial_state(&graph, &input)
            .map_err(|e| EngineError::Refused(format!("the input of `{name}`: {e}")))?;
        let mut run = new_run(
            cx.scope,
            cx.principal,
            workflow.id,
            workflow.version,
            &graph,
            state,
            vec![graph.start.clone()],
            None,
        );
        run.id = id;
        run.parent_run_id = Some(cx.run);
        run.depth = cx.depth + 1;
        match self.0.store.create_run(cx.scope, &run).await {
            Ok(()) => {}
            // Another attempt of the same node started it meanwhile.
            Err(StoreError::Conflict { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        self.0.metrics.workflow_run("subgraph");
        // Dropped only when the engine is, and then no run is launched anywhere.
        let _ = self.0.launches.send((cx.scope.tenant_id(), id));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_named_by_its_parent_step_and_node() {
        let parent = Uuid::now_v7();
        assert_eq!(child_id(parent, 3, "sub"), child_id(parent, 3, "sub"));
        assert_ne!(child_id(parent, 3, "sub"), child_id(parent, 4, "sub"));
        assert_ne!(child_id(parent, 3, "sub"), child_id(parent, 3, "other"));
        assert_eq!(child_id(parent, 3, "sub").get_version_num(), 8);
    }
}
