//! Group commit for the audit chain. Appends to one tenant's chain are serial by nature (each
//! record hashes the one before), so committing them one transaction each bounds a tenant's
//! audited request rate by the commit latency — on PostgreSQL, one WAL flush per record.
//!
//! Instead every append goes to one writer task per store, which takes whatever is queued,
//! and commits each tenant's share in one transaction: the head read once, the rows inserted
//! in one statement, the head moved once. The writer also remembers each head it committed
//! and, while the database's head is still that one, skips reading it: the rows and the
//! head's move, guarded by the remembered head, go in one batch of statements on SQLite and
//! in one statement on PostgreSQL (`audit_append_after`, migration 0015). Each caller still
//! returns only after its own record is committed, so nothing audited is ever acknowledged
//! before it is durable, and a caller that goes away does not take its record with it (the
//! writer owns it).
//!
//! On a SQLite file this task is bypassed: appends go to the store's writer thread, which
//! commits them on a connection of its own (`sqlite_audit`), with the same guarantees. The
//! task still runs there, idle: its queue is what `alive` tells the store's other tasks by.

use std::collections::HashMap;
use std::sync::Mutex;

use sqlx::QueryBuilder;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::audit::AuditRow;
use super::audit_index::SearchIndex;
use super::step_writer::StepWriter;
use super::wall::{Wall, walled_tx};
use super::{Db, StoreError};

/// The most records one transaction takes; more wait for the next.
const BATCH: usize = 256;
/// Appends queued at most before callers wait for room.
const QUEUE: usize = 4096;

/// Builds a tenant's next row from its sequence number and the previous record's hash; may
/// be called again if a batch fails and its records are retried one by one.
pub(super) type Build = Box<dyn Fn(i64, &[u8]) -> AuditRow + Send + Sync>;

struct Append {
    tenant_id: Uuid,
    build: Build,
    done: oneshot::Sender<Result<AuditRow, StoreError>>,
}

/// The sending side; the writer task ends when the last store clone drops it.
#[derive(Clone, Debug)]
pub(super) struct AuditWriter {
    queue: mpsc::Sender<Append>,
    /// SQLite's writer thread, when the store is a file: appends go there instead, one
    /// message each, and share its group commits (`sqlite_audit`).
    sqlite: Option<StepWriter>,
}

/// What the writer task needs of the store: its pool (named `db` for the wall macros).
struct Target {
    db: Db,
    /// SQLite's free-text index, told of what each batch committed (`audit_index`).
    search: Option<SearchIndex>,
    /// Each tenant's head as this writer last committed it (checked, not trusted).
    heads: Mutex<HashMap<Uuid, (i64, Vec<u8>)>>,
}

impl Target {
    fn head(&self, tenant_id: Uuid) -> Option<(i64, Vec<u8>)> {
        self.heads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&tenant_id)
            .cloned()
    }

    fn remember(&self, tenant_id: Uuid, rows: &[AuditRow]) {
        if let Some(last) = rows.last() {
            let mut heads = self.heads.lock().unwrap_or_else(|e| e.into_inner());
            heads.insert(tenant_id, (last.seq, last.hash.clone()));
        }
    }

    fn forget(&self, tenant_id: Uuid) {
        self.heads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&tenant_id);
    }
}

impl AuditWriter {
    /// Starts the writer task on the current runtime.
    pub(super) fn start(db: Db, search: Option<SearchIndex>, sqlite: Option<StepWriter>) -> Self {
        let (queue, appends) = mpsc::channel(QUEUE);
        tokio::spawn(write(
            Target {
                db,
                search,
                heads: Mutex::default(),
            },
            appends,
        ));
        Self { queue, sqlite }
    }

    /// Whether any store still holds this writer (for tasks that should end with it).
    pub(super) fn alive(&self) -> impl Fn() -> bool + Send + 'static {
        let queue = self.queue.downgrade();
        move || queue.upgrade().is_some()
    }

    /// Appends one record to `tenant_id`'s chain and waits for its commit.
    pub(super) async fn append(
        &self,
        tenant_id: Uuid,
        build: Build,
    ) -> Result<AuditRow, StoreError> {
        if let Some(sqlite) = &self.sqlite {
            return sqlite.audit(tenant_id, build).await;
        }
        let (done, committed) = oneshot::channel();
        let append = Append {
            tenant_id,
            build,
            done,
        };
        self.queue
            .send(append)
            .await
            .map_err(|_| StoreError::AuditWriterGone)?;
        committed.await.map_err(|_| StoreError::AuditWriterGone)?
    }
}

async fn write(target: Target, mut appends: mpsc::Receiver<Append>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let received = appends.recv_many(&mut batch, BATCH).await;
        if received == 0 {
            break;
        }
        // Per tenant, in arrival order.
        let mut tenants: Vec<(Uuid, Vec<Append>)> = Vec::new();
        let mut index_of: HashMap<Uuid, usize> = HashMap::new();
        for append in batch.drain(..) {
            let i = *index_of.entry(append.tenant_id).or_insert_with(|| {
                tenants.push((append.tenant_id, Vec::new()));
                tenants.len() - 1
            });
            tenants[i].1.push(append);
        }
        match target.db {
            // One writer at a time on SQLite anyway: concurrent transactions would only wait
            // on each other's lock.
            Db::Sqlite(_) => {
                for (tenant_id, appends) in tenants {
                    settle(&target, tenant_id, appends).await;
                }
                if let Some(search) = &target.search {
                    search.committed(received);
                }
            }
            Db::Postgres(_) => {
                let tenants = tenants
                    .into_iter()
                    .map(|(tenant_id, appends)| settle(&target, tenant_id, appends));
                futures::future::join_all(tenants).await;
            }
        }
    }
}

/// Commits one tenant's appends together and answers each caller. Should the batch fail,
/// each record is tried alone, so one bad record cannot fail the others and each caller
/// gets its own error.
async fn settle(target: &Target, tenant_id: Uuid, appends: Vec<Append>) {
    let builds: Vec<&Build> = appends.iter().map(|a| &a.build).collect();
    match commit(target, tenant_id, &builds).await {
        Ok(rows) => {
            for (append, row) in appends.into_iter().zip(rows) {
                let _ = append.done.send(Ok(row));
            }
        }
        Err(error) if appends.len() == 1 => {
            if let Some(append) = appends.into_iter().next() {
                let _ = append.done.send(Err(error));
            }
        }
        Err(error) => {
            tracing::warn!(%error, records = appends.len(), "audit batch failed; retrying one by one");
            for append in appends {
                let result = commit(target, tenant_id, &[&append.build]).await;
                let _ = append.done.send(result.map(|mut rows| rows.remove(0)));
            }
        }
    }
}

/// `INSERT INTO audit_events (…) ` as a query builder of either database (the placeholders
/// differ), to which `push_rows!` adds the values.
macro_rules! insert_into {
    ($prefix:expr) => {
        QueryBuilder::new(concat!(
            $prefix,
            "INSERT INTO audit_events (",
            super::audit::columns!(),
            ") "
        ))
    };
}

/// Pushes `VALUES (…), …` for `rows` onto `$builder`.
macro_rules! push_rows {
    ($builder:expr, $rows:expr) => {
        $builder.push_values($rows, |mut values, row| {
            values
                .push_bind(row.id)
                .push_bind(row.tenant_id)
                .push_bind(row.seq)
                .push_bind(row.at)
                .push_bind(&row.actor)
                .push_bind(&row.action)
                .push_bind(&row.target)
                .push_bind(&row.outcome)
                .push_bind(&row.rule)
                .push_bind(&row.request_id)
                .push_bind(&row.client_addr)
                .push_bind(&row.detail)
                .push_bind(&row.prev_hash)
                .push_bind(&row.hash);
        })
    };
}

/// The rows `builds` make, chained after (`seq`, `hash`).
fn chain(builds: &[&Build], mut seq: i64, hash: &[u8]) -> Vec<AuditRow> {
    let mut hash = hash.to_vec();
    let mut rows = Vec::with_capacity(builds.len());
    for build in builds {
        let row = build(seq + 1, &hash);
        seq = row.seq;
        hash.clone_from(&row.hash);
        rows.push(row);
    }
    rows
}

/// Commits `builds` to `tenant_id`'s chain: after the head this writer last committed, when
/// it still is the head; otherwise after the head read in the transaction.
async fn commit(
    target: &Target,
    tenant_id: Uuid,
    builds: &[&Build],
) -> Result<Vec<AuditRow>, StoreError> {
    if let Some((seq, hash)) = target.head(tenant_id) {
        let rows = chain(builds, seq, &hash);
        let appended = match &target.db {
            Db::Sqlite(pool) => append_after_sqlite(pool, tenant_id, (seq, &hash), &rows).await,
            Db::Postgres(pool) => append_after_pg(pool, tenant_id, (seq, &hash), &rows).await,
        };
        match appended {
            Ok(true) => {
                target.remember(tenant_id, &rows);
                return Ok(rows);
            }
            // The head moved under this writer (another replica, or an edit): read it.
            Ok(false) => {}
            Err(error) => {
                tracing::debug!(%error, "audit append on the known head failed; reading the head")
            }
        }
        target.forget(tenant_id);
    }
    let rows = commit_at_head(target, tenant_id, builds).await?;
    target.remember(tenant_id, &rows);
    Ok(rows)
}

/// SQLite, after the head `(seq, hash)` this writer committed last: the whole transaction
/// in one batch of statements, so one round trip to sqlx's worker thread instead of five.
/// Both the insert and the head's move are guarded by that exact (seq, hash), evaluated
/// under the write lock `BEGIN IMMEDIATE` takes, so either both happen or neither does;
/// `false` (nothing written) when the database's head is another.
async fn append_after_sqlite(
    pool: &sqlx::SqlitePool,
    tenant_id: Uuid,
    (seq, hash): (i64, &[u8]),
    rows: &[AuditRow],
) -> Result<bool, StoreError> {
    let Some(last) = rows.last() else {
        return Ok(true);
    };
    // The remembered head, exactly: `… WHERE tenant_id = ? AND seq = ? AND hash = ?`.
    let is_head = |batch: &mut QueryBuilder<sqlx::Sqlite>| {
        batch
            .push(" WHERE tenant_id = ")
            .push_bind(tenant_id)
            .push(" AND seq = ")
            .push_bind(seq)
            .push(" AND hash = ")
            .push_bind(hash);
    };
    let mut batch = insert_into!("BEGIN IMMEDIATE; ");
    batch.push("SELECT * FROM (");
    push_rows!(batch, rows);
    batch.push(") WHERE EXISTS (SELECT 1 FROM audit_heads");
    is_head(&mut batch);
    batch
        .push("); UPDATE audit_heads SET seq = ")
        .push_bind(last.seq)
        .push(", hash = ")
        .push_bind(&last.hash);
    is_head(&mut batch);
    batch.push(" RETURNING seq; COMMIT");
    let mut conn = pool.acquire().await?;
    match batch.build().fetch_all(&mut *conn).await {
        Ok(moved) => Ok(moved.len() == 1),
        Err(error) => {
            // The batch may have stopped inside its transaction, holding the write lock;
            // closing the connection rolls that back, where a pooled one would keep it.
            let _ = conn.close().await;
            Err(error.into())
        }
    }
}

/// PostgreSQL, after the head `(seq, hash)` this writer committed last: one statement, its
/// own transaction, one round trip (migration 0015 says how it keeps the chain and the wall).
/// `false` (nothing written) when the database's head is another.
async fn append_after_pg(
    pool: &sqlx::PgPool,
    tenant_id: Uuid,
    (seq, hash): (i64, &[u8]),
    rows: &[AuditRow],
) -> Result<bool, StoreError> {
    let column = |f: fn(&AuditRow) -> &String| rows.iter().map(f).collect::<Vec<_>>();
    let optional = |f: fn(&AuditRow) -> Option<&String>| rows.iter().map(f).collect::<Vec<_>>();
    let (appended,): (bool,) = sqlx::query_as(
        "SELECT audit_append_after($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
         $14, $15, $16)",
    )
    .bind(tenant_id)
    .bind(seq)
    .bind(hash)
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.seq).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.at).collect::<Vec<_>>())
    .bind(column(|r| &r.actor))
    .bind(column(|r| &r.action))
    .bind(column(|r| &r.target))
    .bind(column(|r| &r.outcome))
    .bind(optional(|r| r.rule.as_ref()))
    .bind(optional(|r| r.request_id.as_ref()))
    .bind(optional(|r| r.client_addr.as_ref()))
    .bind(rows.iter().map(|r| &r.detail).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| &r.prev_hash).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| &r.hash).collect::<Vec<_>>())
    .fetch_one(pool)
    .await?;
    Ok(appended)
}

/// One transaction: the head (created at genesis if new, row-locked on PostgreSQL, the write
/// lock on SQLite), the rows chained from it, the head moved to the last.
async fn commit_at_head(
    target: &Target,
    tenant_id: Uuid,
    builds: &[&Build],
) -> Result<Vec<AuditRow>, StoreError> {
    let genesis = crate::audit::GENESIS.to_vec();
    let rows = walled_tx!(target, Wall::Tenant(tenant_id), tx => {
        let (seq, hash): (i64, Vec<u8>) = sqlx::query_as(
            "INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2) \
             ON CONFLICT (tenant_id) DO UPDATE SET seq = audit_heads.seq RETURNING seq, hash",
        )
        .bind(tenant_id)
        .bind(&genesis)
        .fetch_one(&mut *tx)
        .await?;
        let rows = chain(builds, seq, &hash);
        if let Some(last) = rows.last() {
            let mut insert = insert_into!("");
            push_rows!(insert, &rows);
            insert.build().execute(&mut *tx).await?;
            sqlx::query("UPDATE audit_heads SET seq = $2, hash = $3 WHERE tenant_id = $1")
                .bind(tenant_id)
                .bind(last.seq)
                .bind(&last.hash)
                .execute(&mut *tx)
                .await?;
        }
        rows
    });
    Ok(rows)
}
