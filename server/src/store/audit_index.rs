//! SQLite's free-text index of the audit trail (FTS5 trigram, migrations 0003 and 0012),
//! filled behind the appends rather than in them. Indexing a record in its own append
//! transaction flushed and merged the FTS5 index once per audited request, the largest single
//! cost on the gateway's path; indexed in chunks, the same records cost a fraction of it and
//! nothing on any request's path. Search calls [`catch_up`] first, so it finds every record
//! committed before it, as before. PostgreSQL's trigram index (GIN, with its own pending
//! list) needs none of this.

use sqlx::SqlitePool;

use super::StoreError;

/// Records indexed per transaction: large enough to amortise FTS5's flush, small enough that
/// appends waiting on the write lock wait a few milliseconds at most.
pub(super) const CHUNK: i64 = 256;

/// What is indexed of a record: its actor, action, target and detail, lower-cased.
pub(super) const BODY: &str =
    "lower(actor || ' ' || action || ' ' || target || ' ' || CAST(detail AS TEXT))";

/// Indexes up to `limit` records appended since the last call, oldest first, in one
/// transaction with the progress mark; returns how many it indexed.
pub(super) async fn index_chunk(pool: &SqlitePool, limit: i64) -> Result<u64, StoreError> {
    // IMMEDIATE: take the write lock before reading the mark, so two catch-ups (a search's
    // and the writer's) cannot index the same records.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let (from,): (i64,) =
        sqlx::query_as("SELECT indexed_rowid FROM audit_search_progress WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
    let (upto,): (Option<i64>,) = sqlx::query_as(
        "SELECT MAX(rowid) FROM (SELECT rowid FROM audit_events WHERE rowid > $1 ORDER BY rowid LIMIT $2)",
    )
    .bind(from)
    .bind(limit)
    .fetch_one(&mut *tx)
    .await?;
    let Some(upto) = upto else {
        return Ok(0);
    };
    let sql = format!(
        "INSERT INTO audit_search (body, tenant_id, seq) \
         SELECT {BODY}, tenant_id, seq FROM audit_events WHERE rowid > $1 AND rowid <= $2"
    );
    let indexed = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(from)
        .bind(upto)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query("UPDATE audit_search_progress SET indexed_rowid = $1 WHERE id = 1")
        .bind(upto)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(indexed)
}

/// Indexes every record committed so far, chunk by chunk.
pub(super) async fn catch_up(pool: &SqlitePool) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let indexed = index_chunk(pool, CHUNK * 16).await?;
        if indexed == 0 {
            return Ok(total);
        }
        total += indexed;
    }
}
