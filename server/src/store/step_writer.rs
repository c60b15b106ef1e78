//! SQLite's writer for workflow steps (and new runs, with their step 0) and for audit records
//! (`sqlite_audit`): one thread with its own connection to the store's file, committing each
//! in one transaction it runs itself.
//!
//! Through sqlx every statement is a round trip to the pool's worker thread — a step's commit
//! (BEGIN, the run's move, its checkpoint, its events, COMMIT) was five, about 90 µs each on
//! this project's two-core machines, so a step cost ten times the checkpoint's own work.
//! Here the whole commit is one message: the caller encodes the rows, this thread runs the
//! statements (prepared once, cached) and answers. Whatever is queued when it looks goes in
//! one transaction (group commit), so many runs' steps share a commit under load.
//!
//! Durability is the pool's: the same file, WAL, `synchronous = NORMAL`, and a caller is
//! answered only after its transaction committed. Values are encoded as sqlx encodes them
//! (UUIDs as 16-byte blobs, JSON and timestamps as text), so either path reads the other's rows.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use app::api::RunEvent;
use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::audit::AuditRow;
use super::audit_index::SearchIndex;
use super::audit_writer::Build;
use super::{RunRow, StepCommit, StoreError, sqlite_audit};
use crate::tenancy::TenantScope;

/// The most jobs (steps, runs, audit records) one transaction takes; more wait for the next.
const BATCH: usize = 64;
/// Steps queued at most before callers wait for room.
const QUEUE: usize = 1024;

/// One step's commit, encoded (see [`super::Store::commit_step`]).
pub(super) struct Step {
    pub tenant: Uuid,
    pub run: Uuid,
    pub step: i64,
    pub ran: String,
    pub state: String,
    pub outputs: String,
    pub next: String,
    pub status: &'static str,
    pub error: Option<String>,
    pub clears_writes: bool,
    /// The step's event batch: its key and the events as JSON.
    pub events: Option<(i64, String)>,
    /// The run ends with this step: `finished_at` is set.
    pub finishes: bool,
}

/// The writer's answer to one step's commit.
pub(super) type Landing = oneshot::Receiver<Result<bool, StoreError>>;

/// A new run: its row, its step-0 checkpoint and its first event (see
/// [`super::Store::create_run`]), encoded. Times are the run's own, as its creator returns them.
pub(super) struct NewRun {
    pub id: Uuid,
    pub tenant: Uuid,
    pub workflow: Uuid,
    pub version: i32,
    pub status: String,
    pub step: i64,
    pub state: String,
    pub next: String,
    pub waiting_on: String,
    pub error: Option<String>,
    pub started_by: Uuid,
    pub started_in: Uuid,
    pub scopes: String,
    pub forked_from: Option<Uuid>,
    pub parent_run_id: Option<Uuid>,
    pub depth: i32,
    pub deadline_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
    /// The first event's key and the batch as JSON.
    pub event: (i64, String),
}

impl Step {
    /// `commit` of run `run`, each value encoded as sqlx encodes it.
    pub(super) fn of(
        scope: &TenantScope,
        run: Uuid,
        commit: &StepCommit<'_>,
        batch: &Option<(i64, Json<&[RunEvent]>)>,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            tenant: scope.tenant_id(),
            run,
            step: commit.step,
            ran: json(&commit.ran)?,
            state: json(&commit.state)?,
            outputs: json(&commit.outputs)?,
            next: json(&commit.next)?,
            status: commit.status.as_str(),
            error: commit.error.map(str::to_owned),
            clears_writes: commit.clears_writes,
            events: match batch {
                Some((seq, events)) => Some((*seq, json(&events.0)?)),
                None => None,
            },
            finishes: commit.status.is_final(),
        })
    }
}

impl NewRun {
    /// `run` and its first event, each value encoded as sqlx encodes it.
    pub(super) fn of(
        scope: &TenantScope,
        run: &RunRow,
        started: (Option<i64>, Json<&[RunEvent]>),
    ) -> Result<Self, StoreError> {
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
        Ok(Self {
            id: run.id,
            tenant: scope.tenant_id(),
            workflow: run.workflow_id,
            version: run.version,
            status: run.status.clone(),
            step: run.step,
            state: json(&run.state.0)?,
            next: json(&run.next.0)?,
            waiting_on: json(&run.waiting_on.0)?,
            error: run.error.clone(),
            started_by: run.started_by,
            started_in: run.started_in,
            scopes: json(&run.scopes.0)?,
            forked_from: run.forked_from,
            parent_run_id: run.parent_run_id,
            depth: run.depth,
            deadline_at: run.deadline_at.map(time),
            created_at: time(run.created_at),
            updated_at: time(run.updated_at),
            finished_at: run.finished_at.map(time),
            event: (started.0.unwrap_or_default(), json(started.1.0)?),
        })
    }
}

/// JSON text as sqlx's `Json` stores it on SQLite.
fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Database(sqlx::Error::Encode(e.into())))
}

/// A batch of a run's events (as `run_events::ADD_EVENTS`, with SQLite's own placeholders).
const ADD_EVENTS: &str = "INSERT INTO workflow_events (run_id, tenant_id, seq, events, created_at) \
     VALUES (?1, ?2, ?3, ?4, ?5)";

/// What the writer commits.
pub(super) enum Work {
    Run(Box<NewRun>),
    Step(Box<Step>),
    /// A record for a tenant's audit chain (`sqlite_audit`).
    Audit(Uuid, Build),
}

/// What committing one [`Work`] did.
enum Done {
    /// Whether the run moved (a new run always does).
    Moved(bool),
    Audited(Box<AuditRow>),
}

/// Who waits for one [`Work`]'s commit.
enum Reply {
    Moved(oneshot::Sender<Result<bool, StoreError>>),
    Audited(oneshot::Sender<Result<AuditRow, StoreError>>),
}

impl Reply {
    fn answer(self, result: Result<Done, StoreError>) {
        // Each kind of work is answered with its own kind of outcome (`commit_all`).
        // A waiter that went away has nobody to tell.
        match self {
            Reply::Moved(to) => {
                let _ = to.send(result.map(|d| matches!(d, Done::Moved(true))));
            }
            Reply::Audited(to) => {
                let _ = to.send(result.and_then(|done| match done {
                    Done::Audited(row) => Ok(*row),
                    Done::Moved(_) => Err(StoreError::StepWriterGone),
                }));
            }
        }
    }
}

struct Job {
    work: Work,
    reply: Reply,
}

/// The sending side; the thread ends when the last store clone drops it.
#[derive(Clone, Debug)]
pub(super) struct StepWriter {
    queue: mpsc::Sender<Job>,
}

impl StepWriter {
    /// Opens a connection to `file` (already migrated) and starts the writer's thread; it
    /// tells `search` of the audit records it commits.
    pub(super) fn start(file: &Path, search: Option<SearchIndex>) -> Result<Self, StoreError> {
        let conn = open(file).map_err(StoreError::Sqlite)?;
        let (queue, jobs) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, jobs, search))
            // The system would not start a thread: there is no writer to speak of.
            .map_err(|_| StoreError::StepWriterGone)?;
        Ok(Self { queue })
    }

    /// Queues `step`'s commit; the receiver answers once it is committed: `true` when the
    /// run moved, `false` when it was not at the step before or not running (nothing written).
    pub(super) async fn send(&self, step: Work) -> Result<Landing, StoreError> {
        let (done, answer) = oneshot::channel();
        self.queue(step, Reply::Moved(done)).await?;
        Ok(answer)
    }

    /// Appends `build`'s record to `tenant`'s audit chain; answers once it is committed.
    pub(super) async fn audit(&self, tenant: Uuid, build: Build) -> Result<AuditRow, StoreError> {
        let (done, answer) = oneshot::channel();
        self.queue(Work::Audit(tenant, build), Reply::Audited(done))
            .await?;
        answer.await.map_err(|_| StoreError::StepWriterGone)?
    }

    async fn queue(&self, work: Work, reply: Reply) -> Result<(), StoreError> {
        (self.queue.send(Job { work, reply }).await).map_err(|_| StoreError::StepWriterGone)
    }
}

fn open(file: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // As the pool's connections (`Store::connect`): WAL is the file's, the rest per connection.
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;",
    )?;
    Ok(conn)
}

fn run(mut conn: Connection, mut jobs: mpsc::Receiver<Job>, search: Option<SearchIndex>) {
    let mut batch: Vec<Job> = Vec::with_capacity(BATCH);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let audited = batch
            .iter()
            .filter(|j| matches!(j.work, Work::Audit(..)))
            .count();
        match commit_all(&mut conn, batch.iter().map(|j| &j.work)) {
            Ok(done) => {
                for (job, done) in batch.drain(..).zip(done) {
                    job.reply.answer(Ok(done));
                }
                if let Some(search) = search.as_ref().filter(|_| audited > 0) {
                    search.committed(audited);
                }
            }
            Err(error) if batch.len() == 1 => {
                if let Some(job) = batch.pop() {
                    job.reply.answer(Err(StoreError::Sqlite(error)));
                }
            }
            // One job's failure must not fail the others: each on its own.
            Err(_) => {
                for job in batch.drain(..) {
                    let result = commit_all(&mut conn, std::iter::once(&job.work));
                    if let (Some(search), Ok(_), Work::Audit(..)) = (&search, &result, &job.work) {
                        search.committed(1);
                    }
                    let result = result.map_err(StoreError::Sqlite);
                    job.reply.answer(result.map(|mut done| done.remove(0)));
                }
            }
        }
    }
}

/// The batch's work in one transaction; what each did.
fn commit_all<'a>(
    conn: &mut Connection,
    work: impl Iterator<Item = &'a Work>,
) -> rusqlite::Result<Vec<Done>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Rows are stamped when they commit, not when they were sent: a checkpoint's time is
    // when it became durable. As sqlx writes a `DateTime<Utc>` on SQLite.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
    let mut done = Vec::new();
    for work in work {
        done.push(match work {
            Work::Step(s) => Done::Moved(commit_one(&tx, s, &now)?),
            Work::Run(run) => insert_run(&tx, run).map(|()| Done::Moved(true))?,
            Work::Audit(tenant, build) => {
                Done::Audited(Box::new(sqlite_audit::append(&tx, *tenant, build)?))
            }
        });
    }
    tx.commit()?;
    Ok(done)
}

fn commit_one(tx: &rusqlite::Transaction<'_>, s: &Step, now: &str) -> rusqlite::Result<bool> {
    let (tenant, run) = (s.tenant.as_bytes().as_slice(), s.run.as_bytes().as_slice());
    let moved =
        tx.prepare_cached(
            "UPDATE workflow_runs SET step = ?3, state = ?4, next = ?5, status = ?6, error = ?7, \
             waiting_on = '[]', updated_at = ?8, finished_at = ?9 \
             WHERE tenant_id = ?1 AND id = ?2 AND step = ?10 AND status = 'running'",
        )?
        .execute(params![
            tenant,
            run,
            s.step,
            s.state,
            s.next,
            s.status,
            s.error,
            now,
            s.finishes.then_some(now),
            s.step - 1
        ])? == 1;
    if !moved {
        return Ok(false);
    }
    tx.prepare_cached(
        "INSERT INTO workflow_checkpoints (run_id, tenant_id, step, ran, state, outputs, next, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![run, tenant, s.step, s.ran, s.state, s.outputs, s.next, now])?;
    if let Some((seq, events)) = &s.events {
        tx.prepare_cached(ADD_EVENTS)?
            .execute(params![run, tenant, seq, events, now])?;
    }
    if s.clears_writes {
        tx.prepare_cached(
            "DELETE FROM workflow_writes WHERE tenant_id = ?1 AND run_id = ?2 AND step = ?3",
        )?
        .execute(params![tenant, run, s.step - 1])?;
    }
    Ok(true)
}

fn insert_run(tx: &rusqlite::Transaction<'_>, r: &NewRun) -> rusqlite::Result<()> {
    let blob = |id: &Uuid| id.as_bytes().to_vec();
    let (id, tenant) = (blob(&r.id), blob(&r.tenant));
    tx.prepare_cached(
        "INSERT INTO workflow_runs (id, tenant_id, workflow_id, version, status, step, state, \
         next, waiting_on, error, started_by, started_in, scopes, forked_from, parent_run_id, \
         depth, deadline_at, created_at, updated_at, finished_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
         ?18, ?19, ?20)",
    )?
    .execute(params![
        id,
        tenant,
        blob(&r.workflow),
        r.version,
        r.status,
        r.step,
        r.state,
        r.next,
        r.waiting_on,
        r.error,
        blob(&r.started_by),
        blob(&r.started_in),
        r.scopes,
        r.forked_from.as_ref().map(blob),
        r.parent_run_id.as_ref().map(blob),
        r.depth,
        r.deadline_at,
        r.created_at,
        r.updated_at,
        r.finished_at,
    ])?;
    tx.prepare_cached(
        "INSERT INTO workflow_checkpoints (run_id, tenant_id, step, ran, state, outputs, next, created_at) \
         VALUES (?1, ?2, ?3, '[]', ?4, '{}', ?5, ?6)",
    )?
    .execute(params![id, tenant, r.step, r.state, r.next, r.created_at])?;
    tx.prepare_cached(ADD_EVENTS)?.execute(params![
        id,
        tenant,
        r.event.0,
        r.event.1,
        r.created_at
    ])?;
    Ok(())
}
