//! The durable workflow engine (issue #5): runs of a tenant's versioned graph workflows.
//!
//! A run moves in steps (supersteps, as in Pregel and LangGraph): every node of the step
//! runs, in parallel when there are several; their updates are reduced into the state in
//! node-name order; the step's checkpoint (state, the nodes that ran, their outputs, the
//! next nodes) and the run's new position commit in one transaction. One replica executes a
//! run at a time, holding its `kv` lease; a replica that dies leaves its runs to any other
//! (or itself, restarted), which resumes them from the last checkpoint. A node that finished
//! in a parallel step has its result recorded at once, so a resumed step runs only the nodes
//! that had not finished; a step commits by compare-and-set on its number, so no step is
//! committed twice. A node whose step never committed does run again: a tool with effects
//! outside the gateway should be idempotent, as for any at-least-once executor.

mod agent;
mod ahead;
mod events;
mod executor;
mod fanout;
pub mod llm;
mod nodes;
mod start;
pub(crate) use events::Publisher;
pub use events::channel as events_channel;
mod subgraph;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::api::workflow::state::initial_state;
use app::api::workflow::{Graph, compile};
use app::api::{Decision, FieldError, Fork, RunInput, RunStatus, Workflow};
use chrono::Utc;
use serde_json::{Map, Value, json};
use sqlx::types::Json;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::access::PermissionSet;
use crate::config::EngineSettings;
use crate::gateway::Gateway;
use crate::identity::{Identity, Principal};
use crate::kv::{Kv, KvError};
use crate::store::{RunRow, StatusChange, Store, StoreError};
use crate::telemetry::Metrics;
use crate::tenancy::TenantScope;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The definition does not check; each problem names its field.
    #[error("the workflow definition is invalid")]
    Invalid(Vec<FieldError>),
    /// The request does not fit the run (bad input, a decision for a node not waiting).
    #[error("{0}")]
    Refused(String),
    /// The run is not in a state that allows this (already finished, not waiting).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kv(#[from] KvError),
}

/// Cheap to clone.
#[derive(Clone)]
pub struct Engine(Arc<Inner>);

struct Inner {
    store: Store,
    kv: Kv,
    gateway: Gateway,
    llm: llm::Llm,
    identity: Identity,
    metrics: Metrics,
    settings: EngineSettings,
    /// This replica's name as a lease holder.
    holder: String,
    /// Runs this replica executes now, each with whether it was launched again meanwhile
    /// (a decision arriving as its executor pauses): then the executor looks once more.
    active: Mutex<HashMap<Uuid, bool>>,
    /// The stop signal of each run executing here: a cancel on any replica fires it, and
    /// the step in flight withdraws its tool calls.
    stops: Mutex<HashMap<Uuid, CancellationToken>>,
    slots: Arc<Semaphore>,
    /// Runs to launch, from a task of their own: a subgraph node's child run is launched
    /// there, as a node calling `launch` itself would make the executor's future contain
    /// itself.
    launches: tokio::sync::mpsc::UnboundedSender<(Uuid, Uuid)>,
    publisher: events::Publisher,
}

impl Engine {
    pub fn new(
        store: Store,
        kv: Kv,
        gateway: Gateway,
        llm: llm::Llm,
        identity: Identity,
        metrics: Metrics,
        settings: EngineSettings,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(settings.max_active_runs.max(1)));
        let (launches, mut queue) = tokio::sync::mpsc::unbounded_channel();
        let publisher = events::Publisher::new(kv.clone());
        let engine = Self(Arc::new(Inner {
            store,
            kv,
            gateway,
            llm,
            identity,
            metrics,
            settings,
            holder: format!("replica:{}", Uuid::new_v4()),
            active: Mutex::new(HashMap::new()),
            stops: Mutex::new(HashMap::new()),
            slots,
            launches,
            publisher,
        }));
        let weak = Arc::downgrade(&engine.0);
        tokio::spawn(async move {
            while let Some((tenant, run)) = queue.recv().await {
                let Some(inner) = weak.upgrade() else { return };
                Engine(inner).launch(tenant, run, None).await;
            }
        });
        engine
    }

    /// Checks a definition as a save would.
    pub fn check(workflow: &app::api::WorkflowInput) -> Result<Graph, EngineError> {
        let mut problems = Vec::new();
        if let Err(e) = app::api::validate_identifier("name", &workflow.name) {
            problems.push(e);
        }
        match compile(&workflow.definition) {
            Ok(graph) if problems.is_empty() => Ok(graph),
            Ok(_) => Err(EngineError::Invalid(problems)),
            Err(more) => {
                problems.extend(
                    more.into_iter()
                        .map(|e| FieldError::new(&format!("definition.{}", e.field), e.message)),
                );
                Err(EngineError::Invalid(problems))
            }
        }
    }

    /// Starts a run of `workflow` (at `input.version`, else its latest) acting for
    /// `principal`, and hands it to an executor.
    pub async fn start(
        &self,
        scope: &TenantScope,
        principal: &Principal,
        workflow: &Workflow,
        input: &RunInput,
    ) -> Result<RunRow, EngineError> {
        let version = input.version.unwrap_or(workflow.version);
        let definition = match input.version {
            Some(v) if v != workflow.version => {
                self.0.store.workflow_version(scope, workflow.id, v).await?
            }
            _ => workflow.definition.clone(),
        };
        let graph = compile(&definition).map_err(EngineError::Invalid)?;
        let state = initial_state(&graph, &input.input).map_err(EngineError::Refused)?;
        let run = new_run(
            scope,
            principal,
            workflow.id,
            version,
            &graph,
            state,
            vec![graph.start.clone()],
            None,
        );
        self.0.store.create_run(scope, &run).await?;
        self.0.metrics.workflow_run("started");
        // Its executor starts from what is at hand here instead of reading it all back.
        let fresh = executor::Fresh {
            run: run.clone(),
            graph,
            principal: principal.for_run(run.id),
        };
        self.launch(scope.tenant_id(), run.id, Some(fresh)).await;
        Ok(run)
    }

    /// Records a person's decision on an approval the run waits for, and resumes it.
    pub async fn decide(
        &self,
        scope: &TenantScope,
        principal: &Principal,
        run_id: Uuid,
        decision: &Decision,
    ) -> Result<RunRow, EngineError> {
        let run = self.0.store.get_run(scope, run_id).await?;
        if run.status() != RunStatus::Waiting || !run.waiting_on.0.contains(&decision.node) {
            return Err(EngineError::Conflict(format!(
                "the run is not waiting for a decision on `{}`",
                decision.node
            )));
        }
        let definition = self
            .0
            .store
            .workflow_version(scope, run.workflow_id, run.version)
            .await?;
        let graph = compile(&definition).map_err(EngineError::Invalid)?;
        let write =
            nodes::decision_write(&graph, principal, decision).map_err(EngineError::Refused)?;
        let write = serde_json::to_value(&write).unwrap_or(Value::Null);
        let events = events::RunEvents::new(run_id, self.0.publisher.clone());
        let (decided, _) = events.batch(vec![app::api::RunEventKind::NodeFinished {
            step: run.step,
            node: decision.node.clone(),
            outcome: if decision.approve {
                "approved"
            } else {
                "rejected"
            }
            .to_owned(),
            ms: u64::try_from((Utc::now() - run.updated_at).num_milliseconds()).unwrap_or(0),
            error: None,
        }]);
        if !self
            .0
            .store
            .record_write(scope, run_id, run.step, &decision.node, &write, &decided)
            .await?
        {
            return Err(EngineError::Conflict(format!(
                "`{}` was already decided",
                decision.node
            )));
        }
        events.published(&decided, 0);
        // The executor takes the step up again: decided nodes keep their decision, and the
        // run waits again if other approvals of the step are still open.
        let (resumed, _) = events.batch(vec![app::api::RunEventKind::RunStatus {
            status: RunStatus::Running,
            step: run.step,
            waiting_on: Vec::new(),
            error: None,
        }]);
        if self
            .0
            .store
            .set_run_status(
                scope,
                run_id,
                &StatusChange {
                    step: Some(run.step),
                    from: &[RunStatus::Waiting],
                    to: RunStatus::Running,
                    waiting_on: &[],
                    error: None,
                    events: &resumed,
                },
            )
            .await?
        {
            events.published(&resumed, 0);
        }
        self.launch(scope.tenant_id(), run_id, None).await;
        Ok(self.0.store.get_run(scope, run_id).await?)
    }

    /// Cancels a run that has not finished. A step in flight is stopped wherever it runs:
    /// its tool calls are withdrawn at their upstreams (and audited as failed), and it
    /// commits nothing.
    pub async fn cancel(&self, scope: &TenantScope, run_id: Uuid) -> Result<RunRow, EngineError> {
        let open = [RunStatus::Running, RunStatus::Waiting];
        let before = self.0.store.get_run(scope, run_id).await?;
        let events = events::RunEvents::new(run_id, self.0.publisher.clone());
        let (cancelled, _) = events.batch(vec![app::api::RunEventKind::RunStatus {
            status: RunStatus::Cancelled,
            step: before.step,
            waiting_on: Vec::new(),
            error: Some("cancelled".into()),
        }]);
        let moved = self
            .0
            .store
            .set_run_status(
                scope,
                run_id,
                &StatusChange {
                    step: None,
                    from: &open,
                    to: RunStatus::Cancelled,
                    waiting_on: &[],
                    error: Some("cancelled"),
                    events: &cancelled,
                },
            )
            .await?;
        if moved {
            events.published(&cancelled, 0);
            self.wake_parent(scope, &before).await;
        }
        let run = self.0.store.get_run(scope, run_id).await?;
        if !moved {
            return Err(EngineError::Conflict(format!(
                "the run has already {}",
                run.status().as_str()
            )));
        }
        self.0.metrics.workflow_run_ended("cancelled");
        self.0
            .kv
            .publish(CANCELS, run_id.to_string().as_bytes())
            .await?;
        Ok(run)
    }

    /// Time travel: a new run from checkpoint `fork.step` of `run_id`, with `fork.state`'s
    /// keys replaced, acting for `principal`.
    pub async fn fork(
        &self,
        scope: &TenantScope,
        principal: &Principal,
        run_id: Uuid,
        fork: &Fork,
    ) -> Result<RunRow, EngineError> {
        let source = self.0.store.get_run(scope, run_id).await?;
        let checkpoints = (self.0.store)
            .list_checkpoints(scope, run_id, fork.step - 1, 1)
            .await?;
        let Some(at) = checkpoints.into_iter().find(|c| c.step == fork.step) else {
            return Err(EngineError::Refused(format!(
                "the run has no checkpoint at step {}",
                fork.step
            )));
        };
        let definition = self
            .0
            .store
            .workflow_version(scope, source.workflow_id, source.version)
            .await?;
        let graph = compile(&definition).map_err(EngineError::Invalid)?;
        let Value::Object(mut state) = at.state else {
            return Err(EngineError::Refused(
                "that checkpoint holds no state".into(),
            ));
        };
        for (key, value) in &fork.state {
            match graph.keys.get(key) {
                Some(k) if k.kind.admits(value) => {
                    state.insert(key.clone(), value.clone());
                }
                Some(k) => {
                    return Err(EngineError::Refused(format!(
                        "`{key}` is of type {}",
                        k.kind.name()
                    )));
                }
                None => {
                    return Err(EngineError::Refused(format!(
                        "the state has no key `{key}`"
                    )));
                }
            }
        }
        if at.next.is_empty() {
            return Err(EngineError::Refused(format!(
                "nothing runs after step {}",
                fork.step
            )));
        }
        let mut run = new_run(
            scope,
            principal,
            source.workflow_id,
            source.version,
            &graph,
            state,
            at.next,
            Some(run_id),
        );
        run.step = fork.step;
        self.0.store.create_run(scope, &run).await?;
        self.0.metrics.workflow_run("forked");
        self.launch(scope.tenant_id(), run.id, None).await;
        Ok(run)
    }

    /// Every `sweep_secs`, takes up the runs no executor holds (after a crash, a restart, a
    /// lost lease), until `shutdown`; meanwhile stops the runs executing here that are
    /// cancelled on any replica.
    pub fn spawn_sweeper(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let stops = self.clone();
        self.0.kv.listen(
            CANCELS,
            "workflow cancels",
            shutdown.clone(),
            move |payload| {
                let run = std::str::from_utf8(&payload)
                    .ok()
                    .and_then(|s| Uuid::parse_str(s).ok());
                if let Some(stop) =
                    run.and_then(|run| stops.0.stops.lock().expect("stops").get(&run).cloned())
                {
                    stop.cancel();
                }
            },
        );
        let engine = self.clone();
        let every = Duration::from_secs(self.0.settings.sweep_secs.max(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = shutdown.cancelled() => return,
                }
                match engine.0.store.runs_to_resume(200).await {
                    Ok(runs) => {
                        for (tenant, run) in runs {
                            engine.launch(tenant, run, None).await;
                        }
                    }
                    Err(error) => tracing::warn!(%error, "could not look for runs to resume"),
                }
                engine.wake_forgotten_parents().await;
            }
        })
    }

    /// Executes `run` here if no executor holds it and a slot is free; otherwise the holder
    /// (or a later sweep) does.
    async fn launch(&self, tenant: Uuid, run: Uuid, fresh: Option<executor::Fresh>) {
        {
            let mut active = self.0.active.lock().expect("active runs");
            if let Some(again) = active.get_mut(&run) {
                *again = true;
                return;
            }
            active.insert(run, false);
        }
        let lease = format!("workflow-run:{run}");
        let ttl = Duration::from_secs(self.0.settings.lease_secs.max(1));
        let permit = self.0.slots.clone().try_acquire_owned();
        let held = match &permit {
            Ok(_) => self.0.kv.acquire_lease(&lease, &self.0.holder, ttl).await,
            Err(_) => Ok(false),
        };
        if !matches!(held, Ok(true)) {
            if let Err(error) = held {
                tracing::warn!(%error, %run, "could not take a run's lease");
            }
            self.0.active.lock().expect("active runs").remove(&run);
            return;
        }
        let engine = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            engine.0.metrics.workflow_active(1.0);
            let mut fresh = fresh;
            while engine
                .executes(tenant, run, &lease, ttl, fresh.take())
                .await
            {}
            engine.0.metrics.workflow_active(-1.0);
        });
    }

    /// One turn of a launched run's executor; `true` when it was launched again meanwhile
    /// and holds the lease again, to look once more. A launch either finds the run active
    /// (and flags it) or finds it gone after its lease was released, so none is lost.
    async fn executes(
        &self,
        tenant: Uuid,
        run: Uuid,
        lease: &str,
        ttl: Duration,
        fresh: Option<executor::Fresh>,
    ) -> bool {
        executor::execute(self, TenantScope::verified(tenant), run, lease, ttl, fresh).await;
        if self.take_again(run) {
            return true;
        }
        if let Err(error) = self.0.kv.release_lease(lease, &self.0.holder).await {
            tracing::warn!(%error, %run, "could not release a run's lease");
        }
        let again = {
            let mut active = self.0.active.lock().expect("active runs");
            let again = active.get(&run).copied().unwrap_or(false);
            if !again {
                active.remove(&run);
            }
            again
        };
        if !again {
            return false;
        }
        self.take_again(run);
        if matches!(
            self.0.kv.acquire_lease(lease, &self.0.holder, ttl).await,
            Ok(true)
        ) {
            return true;
        }
        self.0.active.lock().expect("active runs").remove(&run);
        false
    }

    /// Clears and returns the run's "launched again" flag.
    fn take_again(&self, run: Uuid) -> bool {
        let mut active = self.0.active.lock().expect("active runs");
        active.get_mut(&run).map(std::mem::take).unwrap_or(false)
    }
}

/// The channel cancelled runs' ids go out on.
const CANCELS: &str = "workflow-cancels";

#[allow(clippy::too_many_arguments)]
pub(super) fn new_run(
    scope: &TenantScope,
    principal: &Principal,
    workflow: Uuid,
    version: i32,
    graph: &Graph,
    state: Map<String, Value>,
    next: Vec<String>,
    forked_from: Option<Uuid>,
) -> RunRow {
    let now = Utc::now();
    let scopes = if principal.platform_admin {
        PermissionSet::all()
    } else {
        principal.effective()
    };
    RunRow {
        id: Uuid::now_v7(),
        tenant_id: scope.tenant_id(),
        workflow_id: workflow,
        version,
        status: RunStatus::Running.as_str().into(),
        step: 0,
        state: Json(state),
        next: Json(next),
        waiting_on: Json(Vec::new()),
        error: None,
        started_by: principal.user_id,
        started_in: principal.tenant_id,
        scopes: Json(scopes.names()),
        forked_from,
        parent_run_id: None,
        depth: 0,
        deadline_at: graph
            .deadline_secs
            .map(|s| now + chrono::Duration::seconds(s as i64)),
        created_at: now,
        updated_at: now,
        finished_at: None,
    }
}

/// The `output` of a decision, as the trace and the state see it.
fn decision_output(principal: &Principal, decision: &Decision) -> Value {
    json!({
        "approved": decision.approve,
        "form": decision.form,
        "comment": decision.comment,
        "by": principal.user_id,
        "at": Utc::now(),
    })
}
