//! One run's executor: takes the run from its last checkpoint to its end, a pause, or the
//! loss of its lease.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use app::api::workflow::compile::Action;
use app::api::workflow::state::apply;
use app::api::{RunEventKind, RunStatus};
use chrono::Utc;
use futures::future::join_all;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::ahead::{self, Landings};
use super::events::RunEvents;
use super::nodes::{self, Context, Outcome, Write};
pub(super) use super::start::Fresh;
use super::start::{Loaded, load};
use super::{Engine, EngineError};
use crate::store::{RunRow, StatusChange, StepCommit};
use crate::tenancy::TenantScope;

/// Runs `run` while this replica holds `lease`, renewing it every third of `ttl`; from
/// `fresh` when the code that created it hands it over, else as the store has it.
pub(super) async fn execute(
    engine: &Engine,
    scope: TenantScope,
    run: Uuid,
    lease: &str,
    ttl: Duration,
    fresh: Option<Fresh>,
) {
    let lost = Arc::new(AtomicBool::new(false));
    let stop = CancellationToken::new();
    engine
        .0
        .stops
        .lock()
        .expect("stops")
        .insert(run, stop.clone());
    let renew = {
        let (kv, holder, lease, lost) = (
            engine.0.kv.clone(),
            engine.0.holder.clone(),
            lease.to_owned(),
            lost.clone(),
        );
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                if !matches!(kv.renew_lease(&lease, &holder, ttl).await, Ok(true)) {
                    lost.store(true, Ordering::Relaxed);
                    return;
                }
            }
        })
    };
    // One trace per run, whichever executor takes it up (telemetry::otel).
    let span = tracing::info_span!("workflow.run", run_id = %run, tenant_id = %scope.tenant_id());
    crate::telemetry::otel::join_run_trace(&span, run);
    let driven = drive(engine, &scope, run, &lost, stop, fresh)
        .instrument(span)
        .await;
    if let Err(error) = driven {
        // The run stays where its last checkpoint left it; a later sweep tries again.
        tracing::warn!(%error, %run, "a workflow run stopped on an error; it will be resumed");
    }
    renew.abort();
    engine.0.stops.lock().expect("stops").remove(&run);
}

async fn drive(
    engine: &Engine,
    scope: &TenantScope,
    id: Uuid,
    lost: &AtomicBool,
    stop: CancellationToken,
    fresh: Option<Fresh>,
) -> Result<(), EngineError> {
    let inner = &engine.0;
    let events = RunEvents::new(id, inner.publisher.clone());
    // Steps sent and still landing (`ahead`): settled before anything that is not one pure
    // node, and before the run fails, pauses or ends.
    let mut landings = Landings::default();
    let fresh_start = fresh.is_some();
    let Fresh {
        mut run,
        graph,
        principal,
    } = match fresh {
        Some(fresh) => fresh,
        None => match load(engine, scope, id).await? {
            Loaded::Ready(fresh) => fresh,
            Loaded::Ended => return Ok(()),
            Loaded::Broken(run, message) => {
                return fail(engine, scope, &events, &run, &mut landings, &message).await;
            }
        },
    };
    let cx = Context {
        engine,
        events: &events,
        gateway: &inner.gateway,
        llm: &inner.llm,
        scope,
        principal: &principal,
        run: id,
        step: std::sync::atomic::AtomicI64::new(run.step),
        depth: run.depth,
        stop,
    };
    // The run's deadline stops the step in flight as a cancel would (its tool calls are
    // withdrawn at their upstreams), and the run fails below.
    let _deadline = run.deadline_at.map(|at| {
        let stop = cx.stop.clone();
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        AbortOnDrop(tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            stop.cancel();
        }))
    });
    // Results of this step recorded before a crash or by a decision (a run just created
    // has none).
    let mut writes: BTreeMap<String, Write> = BTreeMap::new();
    let recorded = if fresh_start {
        Vec::new()
    } else {
        inner.store.step_writes(scope, id, run.step).await?
    };
    for (node, write) in recorded {
        // `{node}[{index}]`: a map's item, read by the map itself.
        if node.contains('[') {
            continue;
        }
        if let Ok(write) = serde_json::from_value(write) {
            writes.insert(node, write);
        }
    }
    let metrics = &inner.metrics;
    loop {
        if lost.load(Ordering::Relaxed) {
            // What was sent may still land; its events go out with it.
            landings.settle(&events, metrics).await?;
            return Ok(());
        }
        let ahead = writes.is_empty() && ahead::may_run_ahead(&graph, &run.next.0);
        if !ahead && !landings.settle(&events, metrics).await? {
            return Ok(());
        }
        events.hold(!landings.is_empty());
        if run.deadline_at.is_some_and(|d| d <= Utc::now()) {
            return fail(
                engine,
                scope,
                &events,
                &run,
                &mut landings,
                "its deadline passed",
            )
            .await;
        }
        if run.step >= i64::from(graph.max_steps) {
            let message = format!(
                "it took {} steps, the most its workflow allows",
                graph.max_steps
            );
            return fail(engine, scope, &events, &run, &mut landings, &message).await;
        }
        let started = Instant::now();
        let state = Value::Object(run.state.0.clone());
        let parallel = run.next.0.len() > 1;
        // A map records its items as they finish; the step's commit clears them.
        let maps =
            (run.next.0.iter()).any(|n| matches!(graph.nodes[n.as_str()].action, Action::Map(_)));
        let had_writes = !writes.is_empty();
        let pending: Vec<&String> = run
            .next
            .0
            .iter()
            .filter(|n| !writes.contains_key(*n))
            .collect();
        cx.step.store(run.step, Ordering::Relaxed);
        let outcomes = join_all(pending.iter().map(|name| {
            let node = &graph.nodes[name.as_str()];
            let (cx, state) = (&cx, &state);
            async move { (*name, node, traced(cx, name, node, state).await) }
        }))
        .await;
        if run.deadline_at.is_some_and(|d| d <= Utc::now()) {
            let message = format!("its deadline passed during step {}", run.step + 1);
            return fail(engine, scope, &events, &run, &mut landings, &message).await;
        }
        let mut paused = Vec::new();
        for (name, node, outcome) in outcomes {
            let kind = nodes::kind_name(&node.action);
            let write = match outcome {
                Outcome::Done(write) => {
                    inner.metrics.workflow_node(kind, "ok");
                    write
                }
                Outcome::Paused => {
                    inner.metrics.workflow_node(kind, "paused");
                    paused.push(name.clone());
                    continue;
                }
                Outcome::Failed(failure) => {
                    inner.metrics.workflow_node(kind, "failed");
                    let Some(handler) = &node.on_error else {
                        let message = format!(
                            "node `{name}` failed ({}): {}",
                            failure.kind.as_str(),
                            failure.message
                        );
                        return fail(engine, scope, &events, &run, &mut landings, &message).await;
                    };
                    let error = failure.to_json(name);
                    Write {
                        update: node
                            .error_output
                            .iter()
                            .map(|k| (k.clone(), error.clone()))
                            .collect(),
                        routes: vec![handler.clone()],
                        output: serde_json::json!({ "error": error }),
                    }
                }
            };
            // In a parallel step each finished node is recorded at once, so that a resumed
            // step does not run it again. A step of one node records it in its checkpoint.
            if parallel {
                let value = serde_json::to_value(&write).unwrap_or(Value::Null);
                let (batch, _) = events.batch(Vec::new());
                inner
                    .store
                    .record_write(scope, id, run.step, name, &value, &batch)
                    .await?;
            }
            writes.insert(name.clone(), write);
        }
        if !paused.is_empty() {
            // Nodes that finished beside the approval were recorded above.
            let step = Some(run.step);
            let running = [RunStatus::Running];
            let (batch, kept) = events.batch(vec![RunEventKind::RunStatus {
                status: RunStatus::Waiting,
                step: run.step,
                waiting_on: paused.clone(),
                error: None,
            }]);
            if inner
                .store
                .set_run_status(
                    scope,
                    id,
                    &StatusChange {
                        step,
                        from: &running,
                        to: RunStatus::Waiting,
                        waiting_on: &paused,
                        error: None,
                        events: &batch,
                    },
                )
                .await?
            {
                events.published(&batch, kept);
                inner.metrics.workflow_run_ended("waiting");
                // A child that ended while this run was pausing found it still running, so
                // did not wake it: look once more.
                for name in &paused {
                    if matches!(graph.nodes[name.as_str()].action, Action::Subgraph(_)) {
                        let child = super::subgraph::child_id(id, run.step, name);
                        if let Ok(child) = inner.store.get_run(scope, child).await
                            && child.status().is_final()
                        {
                            engine.wake(scope, id).await;
                            break;
                        }
                    }
                }
            }
            return Ok(());
        }
        let mut next_state = run.state.0.clone();
        let mut next: Vec<String> = Vec::new();
        let mut outputs = Map::new();
        for name in &run.next.0 {
            let write = &writes[name];
            if let Err(message) = apply(&graph, &mut next_state, &write.update) {
                return fail(
                    engine,
                    scope,
                    &events,
                    &run,
                    &mut landings,
                    &format!("node `{name}`'s update: {message}"),
                )
                .await;
            }
            for route in &write.routes {
                if !next.contains(route) {
                    next.push(route.clone());
                }
            }
            outputs.insert(name.clone(), write.output.clone());
        }
        let status = if next.is_empty() {
            RunStatus::Succeeded
        } else {
            RunStatus::Running
        };
        let delta: Map<String, Value> = next_state
            .iter()
            .filter(|(k, v)| run.state.0.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut closing = vec![RunEventKind::Step {
            step: run.step + 1,
            ran: run.next.0.clone(),
            next: next.clone(),
            delta,
        }];
        if status.is_final() {
            closing.push(RunEventKind::RunStatus {
                status,
                step: run.step + 1,
                waiting_on: Vec::new(),
                error: None,
            });
        }
        let batch = events.batch(closing);
        let commit = StepCommit {
            step: run.step + 1,
            ran: &run.next.0,
            state: &next_state,
            outputs: &Value::Object(outputs),
            next: &next,
            status,
            error: None,
            clears_writes: parallel || had_writes || maps,
            events: &batch.0,
        };
        let pending = inner.store.send_step(scope, id, &commit).await?;
        if !landings
            .sent(pending, batch, started, &events, metrics)
            .await?
        {
            // Cancelled, or another executor committed this step: either way not ours.
            return Ok(());
        }
        if status.is_final() {
            if landings.settle(&events, metrics).await? {
                metrics.workflow_run_ended("succeeded");
                engine.wake_parent(scope, &run).await;
            }
            return Ok(());
        }
        run.step += 1;
        run.state.0 = next_state;
        run.next.0 = next;
        writes.clear();
    }
}

/// Aborts its task when dropped (the run's deadline timer, when the executor stops).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// [`nodes::run`] between its `node_started` and `node_finished` events.
async fn traced(
    cx: &Context<'_>,
    name: &str,
    node: &app::api::workflow::compile::GraphNode,
    state: &Value,
) -> Outcome {
    let step = cx.step.load(Ordering::Relaxed);
    cx.events.emit(RunEventKind::NodeStarted {
        step,
        node: name.to_owned(),
        kind: nodes::kind_name(&node.action).to_owned(),
    });
    let started = Instant::now();
    let span = tracing::info_span!(
        "workflow.node",
        node = name,
        kind = nodes::kind_name(&node.action),
        step,
        outcome = tracing::field::Empty,
    );
    let outcome = nodes::run(cx, name, node, state)
        .instrument(span.clone())
        .await;
    let (outcome_name, error) = match &outcome {
        Outcome::Done(_) => ("ok", None),
        Outcome::Paused => ("paused", None),
        Outcome::Failed(f) => ("failed", Some(f.message.clone())),
    };
    span.record("outcome", outcome_name);
    cx.events.emit(RunEventKind::NodeFinished {
        step,
        node: name.to_owned(),
        outcome: outcome_name.to_owned(),
        ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        error,
    });
    outcome
}

/// Fails the run, once the steps sent before have landed (the run stays theirs to fail).
async fn fail(
    engine: &Engine,
    scope: &TenantScope,
    events: &RunEvents,
    run: &RunRow,
    landings: &mut Landings,
    message: &str,
) -> Result<(), EngineError> {
    if !landings.settle(events, &engine.0.metrics).await? {
        return Ok(());
    }
    let open = [RunStatus::Running];
    let failed = RunStatus::Failed;
    let (batch, kept) = events.batch(vec![RunEventKind::RunStatus {
        status: failed,
        step: run.step,
        waiting_on: Vec::new(),
        error: Some(message.to_owned()),
    }]);
    if engine
        .0
        .store
        .set_run_status(
            scope,
            run.id,
            &StatusChange {
                step: Some(run.step),
                from: &open,
                to: failed,
                waiting_on: &[],
                error: Some(message),
                events: &batch,
            },
        )
        .await?
    {
        events.published(&batch, kept);
        engine.0.metrics.workflow_run_ended("failed");
        engine.wake_parent(scope, run).await;
    }
    Ok(())
}
