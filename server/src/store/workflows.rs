//! Workflows, their versions, runs, checkpoints and a step's pending writes (migration
//! sqlite/0015, postgres/0016).
//!
//! A run's position moves only by compare-and-set on its step ([`Store::commit_step`]): an
//! executor that lost its lease, or a run cancelled under it, finds its step taken and stops,
//! so no step is committed twice.

use app::api::workflow::Definition;
use app::api::{Checkpoint, Run, RunEvent, RunStatus, Workflow, WorkflowInput};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::types::Json;
use tracing::instrument;
use uuid::Uuid;

use super::run_events::{ADD_EVENTS, EventBatch};
use super::{Db, Store, StoreError, Wall, walled, walled_tx};
use crate::tenancy::TenantScope;

#[derive(sqlx::FromRow)]
struct WorkflowRow {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    description: String,
    version: i32,
    definition: Json<Definition>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<WorkflowRow> for Workflow {
    fn from(r: WorkflowRow) -> Self {
        Workflow {
            id: r.id,
            tenant_id: r.tenant_id,
            name: r.name,
            description: r.description,
            version: r.version,
            definition: r.definition.0,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const WORKFLOW_COLUMNS: &str =
    "id, tenant_id, name, description, version, definition, created_at, updated_at";

/// A run as the engine sees it: the API's view plus what it acts with.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RunRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub workflow_id: Uuid,
    pub version: i32,
    pub status: String,
    pub step: i64,
    pub state: Json<Map<String, Value>>,
    pub next: Json<Vec<String>>,
    pub waiting_on: Json<Vec<String>>,
    pub error: Option<String>,
    pub started_by: Uuid,
    /// The tenant of the user the run acts for.
    pub started_in: Uuid,
    pub scopes: Json<Vec<String>>,
    pub forked_from: Option<Uuid>,
    /// The run whose subgraph node started this one.
    pub parent_run_id: Option<Uuid>,
    /// How many subgraph nodes deep (0: started by a person or a client).
    pub depth: i32,
    pub deadline_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl RunRow {
    pub fn status(&self) -> RunStatus {
        RunStatus::parse(&self.status).unwrap_or(RunStatus::Failed)
    }

    pub fn to_api(&self) -> Run {
        Run {
            id: self.id,
            tenant_id: self.tenant_id,
            workflow_id: self.workflow_id,
            version: self.version,
            status: self.status(),
            step: self.step,
            state: Value::Object(self.state.0.clone()),
            next: self.next.0.clone(),
            waiting_on: self.waiting_on.0.clone(),
            error: self.error.clone(),
            started_by: self.started_by,
            forked_from: self.forked_from,
            parent_run_id: self.parent_run_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
            finished_at: self.finished_at,
        }
    }
}

pub(super) const RUN_COLUMNS: &str = "id, tenant_id, workflow_id, version, status, step, state, next, \
     waiting_on, error, started_by, started_in, scopes, forked_from, parent_run_id, depth, deadline_at, \
     created_at, updated_at, finished_at";

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    step: i64,
    ran: Json<Vec<String>>,
    state: Json<Value>,
    outputs: Json<Value>,
    next: Json<Vec<String>>,
    created_at: DateTime<Utc>,
}

/// A step's result, committed with the run's new position.
pub struct StepCommit<'a> {
    /// The step this commit completes; the run must still be at `step - 1`.
    pub step: i64,
    pub ran: &'a [String],
    pub state: &'a Map<String, Value>,
    pub outputs: &'a Value,
    pub next: &'a [String],
    pub status: RunStatus,
    pub error: Option<&'a str>,
    /// Results were recorded for this step (a parallel step, a decision) and are cleared.
    pub clears_writes: bool,
    /// What the step did, stored with it for replay.
    pub events: &'a [RunEvent],
}

/// A step's commit on its way (see [`Store::send_step`]).
#[must_use = "a step is committed only once it has landed"]
pub struct PendingStep(Pending);

enum Pending {
    Done(bool),
    Writing(super::step_writer::Landing),
}

impl PendingStep {
    /// Waits for the commit: `true` when the run moved to the step.
    pub async fn landed(self) -> Result<bool, StoreError> {
        match self.0 {
            Pending::Done(moved) => Ok(moved),
            Pending::Writing(answer) => answer.await.map_err(|_| StoreError::StepWriterGone)?,
        }
    }
}

/// A run's move from one of `from` to `to`, only at `step` when given.
#[derive(Clone, Copy)]
pub struct StatusChange<'a> {
    pub step: Option<i64>,
    pub from: &'a [RunStatus],
    pub to: RunStatus,
    pub waiting_on: &'a [String],
    pub error: Option<&'a str>,
    /// Stored with the move, only if it happens.
    pub events: &'a [RunEvent],
}

impl Store {
    /// Creates a workflow at version 1.
    #[instrument(skip_all)]
    pub async fn create_workflow(
        &self,
        scope: &TenantScope,
        input: &WorkflowInput,
        by: Uuid,
    ) -> Result<Workflow, StoreError> {
        let (id, now) = (Uuid::now_v7(), Utc::now());
        let insert = format!(
            "INSERT INTO workflows ({WORKFLOW_COLUMNS}) VALUES ($1, $2, $3, $4, 1, $5, $6, $6) \
             RETURNING {WORKFLOW_COLUMNS}"
        );
        let row: WorkflowRow = walled_tx!(self, Wall::of(scope), tx => {
            let row: WorkflowRow = sqlx::query_as(sqlx::AssertSqlSafe(insert))
                .bind(id).bind(scope.tenant_id()).bind(&input.name).bind(&input.description)
                .bind(Json(&input.definition)).bind(now)
                .fetch_one(&mut *tx).await?;
            sqlx::query(ADD_VERSION)
                .bind(id).bind(scope.tenant_id()).bind(1).bind(Json(&input.definition)).bind(by).bind(now)
                .execute(&mut *tx).await?;
            row
        });
        Ok(row.into())
    }

    /// Saves `input` as the workflow's next version.
    #[instrument(skip_all)]
    pub async fn update_workflow(
        &self,
        scope: &TenantScope,
        id: Uuid,
        input: &WorkflowInput,
        by: Uuid,
    ) -> Result<Workflow, StoreError> {
        let now = Utc::now();
        let update = format!(
            "UPDATE workflows SET name = $3, description = $4, definition = $5, \
             version = version + 1, updated_at = $6 WHERE tenant_id = $1 AND id = $2 \
             RETURNING {WORKFLOW_COLUMNS}"
        );
        let row: WorkflowRow = walled_tx!(self, Wall::of(scope), tx => {
            let row: Option<WorkflowRow> = sqlx::query_as(sqlx::AssertSqlSafe(update))
                .bind(scope.tenant_id()).bind(id).bind(&input.name).bind(&input.description)
                .bind(Json(&input.definition)).bind(now)
                .fetch_optional(&mut *tx).await?;
            let row = row.ok_or(StoreError::NotFound("workflow"))?;
            sqlx::query(ADD_VERSION)
                .bind(id).bind(scope.tenant_id()).bind(row.version).bind(Json(&input.definition))
                .bind(by).bind(now)
                .execute(&mut *tx).await?;
            row
        });
        Ok(row.into())
    }

    #[instrument(skip_all)]
    pub async fn list_workflows(&self, scope: &TenantScope) -> Result<Vec<Workflow>, StoreError> {
        let sql =
            format!("SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE tenant_id = $1 ORDER BY name");
        let rows: Vec<WorkflowRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(scope.tenant_id()).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    #[instrument(skip_all)]
    pub async fn get_workflow(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<Workflow, StoreError> {
        let sql =
            format!("SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE tenant_id = $1 AND id = $2");
        let row: Option<WorkflowRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(scope.tenant_id()).bind(id).fetch_optional(pool).await?
        });
        row.map(Into::into).ok_or(StoreError::NotFound("workflow"))
    }

    /// One saved version's definition.
    #[instrument(skip_all)]
    pub async fn workflow_version(
        &self,
        scope: &TenantScope,
        id: Uuid,
        version: i32,
    ) -> Result<Definition, StoreError> {
        let row: Option<(Json<Definition>,)> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as("SELECT definition FROM workflow_versions \
                            WHERE tenant_id = $1 AND workflow_id = $2 AND version = $3")
                .bind(scope.tenant_id()).bind(id).bind(version).fetch_optional(pool).await?
        });
        row.map(|(d,)| d.0)
            .ok_or(StoreError::NotFound("workflow version"))
    }

    /// Deletes a workflow with its versions and runs.
    #[instrument(skip_all)]
    pub async fn delete_workflow(&self, scope: &TenantScope, id: Uuid) -> Result<(), StoreError> {
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query("DELETE FROM workflows WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id()).bind(id).execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("workflow"));
        }
        Ok(())
    }

    /// Stores a new run with its step-0 checkpoint, in one transaction.
    #[instrument(skip_all)]
    pub async fn create_run(&self, scope: &TenantScope, run: &RunRow) -> Result<(), StoreError> {
        let insert = format!(
            "INSERT INTO workflow_runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
             $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
        );
        let started = [EventBatch::started(run)];
        let started = (started[0].seq, Json(&started[..]));
        if let Some(steps) = &self.steps {
            let new = super::step_writer::NewRun::of(scope, run, started)?;
            let work = super::step_writer::Work::Run(Box::new(new));
            PendingStep(Pending::Writing(steps.send(work).await?))
                .landed()
                .await?;
            return Ok(());
        }
        walled_tx!(self, Wall::of(scope), tx => {
            sqlx::query(sqlx::AssertSqlSafe(insert))
                .bind(run.id).bind(scope.tenant_id()).bind(run.workflow_id).bind(run.version)
                .bind(&run.status).bind(run.step).bind(&run.state).bind(&run.next)
                .bind(&run.waiting_on).bind(&run.error).bind(run.started_by).bind(run.started_in)
                .bind(&run.scopes)
                .bind(run.forked_from).bind(run.parent_run_id).bind(run.depth)
                .bind(run.deadline_at).bind(run.created_at)
                .bind(run.updated_at).bind(run.finished_at)
                .execute(&mut *tx).await?;
            let ran: &[String] = &[];
            sqlx::query(ADD_CHECKPOINT)
                .bind(run.id).bind(scope.tenant_id()).bind(run.step).bind(Json(ran)).bind(&run.state)
                .bind(Json(Value::Object(Map::new()))).bind(&run.next).bind(run.created_at)
                .execute(&mut *tx).await?;
            sqlx::query(ADD_EVENTS)
                .bind(run.id).bind(scope.tenant_id()).bind(started.0).bind(started.1)
                .bind(run.created_at)
                .execute(&mut *tx).await?;
        });
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn get_run(&self, scope: &TenantScope, id: Uuid) -> Result<RunRow, StoreError> {
        let sql =
            format!("SELECT {RUN_COLUMNS} FROM workflow_runs WHERE tenant_id = $1 AND id = $2");
        let row: Option<RunRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(scope.tenant_id()).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound("run"))
    }

    /// Runs newest first, optionally of one status and one workflow.
    #[instrument(skip_all)]
    pub async fn list_runs(
        &self,
        scope: &TenantScope,
        status: Option<RunStatus>,
        workflow: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<RunRow>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM workflow_runs WHERE tenant_id = $1 \
             AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR workflow_id = $3) \
             ORDER BY created_at DESC, id DESC LIMIT $4"
        );
        let status = status.map(RunStatus::as_str);
        let rows: Vec<RunRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(scope.tenant_id()).bind(status)
                .bind(workflow).bind(i64::from(limit)).fetch_all(pool).await?
        });
        Ok(rows)
    }

    #[instrument(skip_all)]
    pub async fn list_checkpoints(
        &self,
        scope: &TenantScope,
        run: Uuid,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Checkpoint>, StoreError> {
        let rows: Vec<CheckpointRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as("SELECT step, ran, state, outputs, next, created_at FROM workflow_checkpoints \
                            WHERE tenant_id = $1 AND run_id = $2 AND step > $3 ORDER BY step LIMIT $4")
                .bind(scope.tenant_id()).bind(run).bind(after).bind(i64::from(limit))
                .fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|r| Checkpoint {
                step: r.step,
                ran: r.ran.0,
                state: r.state.0,
                outputs: r.outputs.0,
                next: r.next.0,
                created_at: r.created_at,
            })
            .collect())
    }

    /// Records one node's result for a step still in progress; `false` when it was
    /// already recorded (the stored one stands).
    #[instrument(skip_all)]
    pub async fn record_write(
        &self,
        scope: &TenantScope,
        run: Uuid,
        step: i64,
        node: &str,
        write: &Value,
        events: &[RunEvent],
    ) -> Result<bool, StoreError> {
        let now = Utc::now();
        let batch = EventBatch::of(events);
        let done = walled_tx!(self, Wall::of(scope), tx => {
            let done = sqlx::query("INSERT INTO workflow_writes (run_id, tenant_id, step, node, write, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING")
                .bind(run).bind(scope.tenant_id()).bind(step).bind(node).bind(Json(write))
                .bind(now).execute(&mut *tx).await?.rows_affected() == 1;
            if let (true, Some((seq, events))) = (done, &batch) {
                sqlx::query(ADD_EVENTS)
                    .bind(run).bind(scope.tenant_id()).bind(seq).bind(events).bind(now)
                    .execute(&mut *tx).await?;
            }
            done
        });
        Ok(done)
    }

    /// The results recorded so far for the step after checkpoint `step`, by node.
    #[instrument(skip_all)]
    pub async fn step_writes(
        &self,
        scope: &TenantScope,
        run: Uuid,
        step: i64,
    ) -> Result<Vec<(String, Value)>, StoreError> {
        let rows: Vec<(String, Json<Value>)> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as("SELECT node, write FROM workflow_writes \
                            WHERE tenant_id = $1 AND run_id = $2 AND step = $3 ORDER BY node")
                .bind(scope.tenant_id()).bind(run).bind(step).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(|(n, w)| (n, w.0)).collect())
    }

    /// Sends a step's commit: the checkpoint and the run's new position in one transaction,
    /// only if the run is still running at the step before. [`PendingStep::landed`] says
    /// whether it did; `false`: it was not (cancelled, or another executor got there
    /// first), and nothing was written. On SQLite the step writer commits it (and any steps
    /// sent after it, in order); on PostgreSQL it is committed before this returns.
    #[instrument(skip_all)]
    pub async fn send_step(
        &self,
        scope: &TenantScope,
        run: Uuid,
        commit: &StepCommit<'_>,
    ) -> Result<PendingStep, StoreError> {
        let now = Utc::now();
        let finished = commit.status.is_final().then_some(now);
        let batch = EventBatch::of(commit.events);
        if let Some(steps) = &self.steps {
            let step = super::step_writer::Step::of(scope, run, commit, &batch)?;
            let work = super::step_writer::Work::Step(Box::new(step));
            return Ok(PendingStep(Pending::Writing(steps.send(work).await?)));
        }
        let moved = walled_tx!(self, Wall::of(scope), tx => {
            let moved = sqlx::query(
                "UPDATE workflow_runs SET step = $3, state = $4, next = $5, status = $6, error = $7, \
                 waiting_on = '[]', updated_at = $8, finished_at = $9 \
                 WHERE tenant_id = $1 AND id = $2 AND step = $10 AND status = 'running'")
                .bind(scope.tenant_id()).bind(run).bind(commit.step).bind(Json(commit.state))
                .bind(Json(commit.next)).bind(commit.status.as_str()).bind(commit.error)
                .bind(now).bind(finished).bind(commit.step - 1)
                .execute(&mut *tx).await?.rows_affected() == 1;
            if moved {
                sqlx::query(ADD_CHECKPOINT)
                    .bind(run).bind(scope.tenant_id()).bind(commit.step).bind(Json(commit.ran))
                    .bind(Json(commit.state)).bind(Json(commit.outputs)).bind(Json(commit.next)).bind(now)
                    .execute(&mut *tx).await?;
            }
            if let (true, Some((seq, events))) = (moved, &batch) {
                sqlx::query(ADD_EVENTS)
                    .bind(run).bind(scope.tenant_id()).bind(seq).bind(events).bind(now)
                    .execute(&mut *tx).await?;
            }
            if moved && commit.clears_writes {
                sqlx::query("DELETE FROM workflow_writes WHERE tenant_id = $1 AND run_id = $2 AND step = $3")
                    .bind(scope.tenant_id()).bind(run).bind(commit.step - 1)
                    .execute(&mut *tx).await?;
            }
            moved
        });
        Ok(PendingStep(Pending::Done(moved)))
    }

    /// Moves a run as `change` says, without a checkpoint (pausing, failing, cancelling).
    /// `false`: it was in none of `change.from` (or not at `change.step`).
    #[instrument(skip_all)]
    pub async fn set_run_status(
        &self,
        scope: &TenantScope,
        run: Uuid,
        change: &StatusChange<'_>,
    ) -> Result<bool, StoreError> {
        let StatusChange {
            step,
            from,
            to,
            waiting_on,
            error,
            events,
        } = *change;
        let batch = EventBatch::of(events);
        let now = Utc::now();
        let finished = to.is_final().then_some(now);
        // At most three statuses, each bound: one query text for both dialects.
        let from: Vec<&str> = from.iter().take(3).map(|s| s.as_str()).collect();
        if from.is_empty() {
            return Ok(false);
        }
        let moved = walled_tx!(self, Wall::of(scope), tx => {
            let moved = sqlx::query(
                "UPDATE workflow_runs SET status = $3, waiting_on = $4, error = COALESCE($5, error), \
                 updated_at = $6, finished_at = $7 \
                 WHERE tenant_id = $1 AND id = $2 AND ($8 IS NULL OR step = $8) \
                 AND status IN ($9, $10, $11)")
                .bind(scope.tenant_id()).bind(run).bind(to.as_str()).bind(Json(waiting_on))
                .bind(error).bind(now).bind(finished).bind(step)
                .bind(from[0]).bind(from.get(1).unwrap_or(&from[0])).bind(from.get(2).unwrap_or(&from[0]))
                .execute(&mut *tx).await?.rows_affected() == 1;
            if let (true, Some((seq, events))) = (moved, &batch) {
                sqlx::query(ADD_EVENTS)
                    .bind(run).bind(scope.tenant_id()).bind(seq).bind(events).bind(now)
                    .execute(&mut *tx).await?;
            }
            moved
        });
        Ok(moved)
    }
}

const ADD_VERSION: &str = "INSERT INTO workflow_versions \
     (workflow_id, tenant_id, version, definition, created_by, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";

const ADD_CHECKPOINT: &str = "INSERT INTO workflow_checkpoints \
     (run_id, tenant_id, step, ran, state, outputs, next, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
