//! SQLite's free-text index of the audit trail (FTS5 trigram), in a database file of its own
//! beside the store's (`<file>-search`), filled behind the appends by a task of its own.
//! PostgreSQL's trigram index (GIN, with its own pending list) needs none of this.
//!
//! Indexing costs FTS5 about 50 µs a record, and its segment merges run for tens of
//! milliseconds at a time (measured: 13 ms per 256 records at the median, 40–50 ms when an
//! automerge runs). In the store's file that work held the one write lock every audit append
//! needs, and each append queued behind it waited that long: the gateway's p99 at 16 and 64
//! clients. In a file of its own it has a lock of its own.
//!
//! `BEGIN IMMEDIATE` takes the write lock of every attached database, so the store's
//! connections never attach this one; the index's one connection attaches the store's file
//! (as `audit`) and only reads it. Text searches run on that connection, where an unqualified
//! `audit_events` is the store's table, after catching the index up, so they still find every
//! record committed before them, each once.
//!
//! The index is derived data: at open it is checked against the store (the last record it
//! indexed must still be there, with the same hash) and rebuilt from the start when they
//! disagree, as after a restored store or a deleted index file. Records are append-only; one
//! edited or deleted behind the store's back (tampering, which verification reports) keeps
//! its old index entry, and search's exact check drops what no longer matches.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::Notify;

use super::StoreError;

/// Records indexed per transaction: enough to amortise FTS5's flush of its pending terms.
pub(super) const CHUNK: usize = 256;
/// With fewer than a chunk waiting, how often they are indexed anyway.
const WHEN_IDLE: Duration = Duration::from_millis(200);

/// What is indexed of a record: its actor, action, target and detail, lower-cased.
pub(super) const BODY: &str =
    "lower(actor || ' ' || action || ' ' || target || ' ' || CAST(detail AS TEXT))";

/// The index's database; cheap to clone.
#[derive(Clone, Debug)]
pub(super) struct SearchIndex {
    /// One connection: the indexer and text searches take turns.
    pool: SqlitePool,
    pending: Arc<Pending>,
}

/// Records this process committed and has not indexed yet, and a wake-up at a chunk's worth.
#[derive(Debug, Default)]
struct Pending {
    count: AtomicUsize,
    full: Notify,
}

/// `<store file>-search`.
fn path_beside(store: &std::path::Path) -> std::path::PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push("-search");
    name.into()
}

impl SearchIndex {
    /// Opens (creating) the index beside `store_file`, already migrated, and rebuilds it if
    /// it does not describe that store's records.
    pub(super) async fn open(store_file: &std::path::Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path_beside(store_file))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let store_file = store_file.to_string_lossy().into_owned();
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .after_connect(move |conn, _| {
                let store_file = store_file.clone();
                Box::pin(async move {
                    sqlx::query("ATTACH DATABASE $1 AS audit")
                        .bind(store_file)
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(StoreError::Connect)?;
        let index = Self {
            pool,
            pending: Arc::default(),
        };
        index.prepare().await?;
        Ok(index)
    }

    async fn prepare(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for sql in [
            "CREATE VIRTUAL TABLE IF NOT EXISTS main.audit_search USING fts5(
                 body, tenant_id UNINDEXED, seq UNINDEXED, tokenize = 'trigram')",
            // Every record up to `indexed_rowid` is indexed; `indexed_hash` is that record's.
            "CREATE TABLE IF NOT EXISTS main.audit_search_progress (
                 id            INTEGER PRIMARY KEY CHECK (id = 1),
                 indexed_rowid INTEGER NOT NULL,
                 indexed_hash  BLOB)",
            "INSERT OR IGNORE INTO main.audit_search_progress (id, indexed_rowid) VALUES (1, 0)",
        ] {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
        let (rowid, indexed, current): (i64, Option<Vec<u8>>, Option<Vec<u8>>) = sqlx::query_as(
            "SELECT p.indexed_rowid, p.indexed_hash, e.hash FROM main.audit_search_progress p \
             LEFT JOIN audit.audit_events e ON e.rowid = p.indexed_rowid WHERE p.id = 1",
        )
        .fetch_one(&mut *tx)
        .await?;
        if rowid > 0 && (indexed.is_none() || indexed != current) {
            tracing::warn!(
                indexed_rowid = rowid,
                "the audit search index does not match the store; rebuilding it"
            );
            sqlx::query("DELETE FROM main.audit_search")
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE main.audit_search_progress SET indexed_rowid = 0, indexed_hash = NULL",
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The connection text searches run on (the store's records attached as `audit`).
    pub(super) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Tells the indexer that `n` more records were committed.
    pub(super) fn committed(&self, n: usize) {
        let waiting = self.pending.count.fetch_add(n, Ordering::Relaxed) + n;
        if waiting >= CHUNK {
            self.pending.full.notify_one();
        }
    }

    /// Indexes every record committed so far, chunk by chunk.
    pub(super) async fn catch_up(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let indexed = self.index_chunk(CHUNK * 16).await?;
            if indexed == 0 {
                return Ok(total);
            }
            total += indexed;
        }
    }

    /// Indexes a chunk whenever one is waiting, and what waits at least every
    /// [`WHEN_IDLE`]; runs until `alive` says the store is gone.
    pub(super) fn spawn_indexer(&self, alive: impl Fn() -> bool + Send + 'static) {
        let index = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = index.pending.full.notified() => {}
                    () = tokio::time::sleep(WHEN_IDLE) => {}
                }
                if !alive() || index.pool.is_closed() {
                    return;
                }
                if index.pending.count.load(Ordering::Relaxed) == 0 {
                    continue;
                }
                let done = match index.index_chunk(CHUNK).await {
                    Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
                    Err(error) => {
                        // Nothing is lost: the records are committed, and search indexes
                        // them first.
                        tracing::warn!(%error, "audit free-text indexing failed; search will catch up");
                        usize::MAX
                    }
                };
                let _ = index.pending.count.fetch_update(
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                    |waiting| Some(waiting.saturating_sub(done)),
                );
            }
        });
    }

    /// Indexes up to `limit` records appended since the last call, oldest first, in one
    /// transaction with the progress mark; returns how many it indexed.
    async fn index_chunk(&self, limit: usize) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Deferred, so that only this file is locked for writing (see the module's notes);
        // its first statement writes, taking that lock before the mark is read, so two
        // indexers (a search's and the task's, or another process's) cannot index the same
        // records, nor fail at a read-to-write upgrade.
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE main.audit_search_progress SET indexed_rowid = indexed_rowid WHERE id = 1",
        )
        .execute(&mut *tx)
        .await?;
        let (from,): (i64,) =
            sqlx::query_as("SELECT indexed_rowid FROM main.audit_search_progress WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
        // The last of the next `limit` records (all of them, when fewer wait).
        let last: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT rowid, hash FROM (SELECT rowid, hash FROM audit.audit_events \
             WHERE rowid > $1 ORDER BY rowid LIMIT $2) ORDER BY rowid DESC LIMIT 1",
        )
        .bind(from)
        .bind(limit)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(last) = last else {
            return Ok(0);
        };
        let (upto, hash) = last;
        let sql = format!(
            "INSERT INTO main.audit_search (body, tenant_id, seq) \
             SELECT {BODY}, tenant_id, seq FROM audit.audit_events WHERE rowid > $1 AND rowid <= $2"
        );
        let indexed = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(from)
            .bind(upto)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "UPDATE main.audit_search_progress SET indexed_rowid = $1, indexed_hash = $2 \
             WHERE id = 1",
        )
        .bind(upto)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(indexed)
    }

    pub(super) async fn close(&self) {
        self.pool.close().await;
    }
}
