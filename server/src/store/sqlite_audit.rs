//! An audit append as SQLite's writer thread commits it (`step_writer`), inside the thread's
//! transaction: the tenant's head read under the write lock that `BEGIN IMMEDIATE` took (so no
//! other connection, replica or process can append between the read and the move), the row
//! chained from it and inserted, the head moved. These are the statements `audit_writer`
//! sends through sqlx, where each is a round trip to the pool's worker thread; here they are
//! prepared once and run on the writer's own connection, so a governed call's audit record
//! costs its transaction's work, not five thread hand-offs.
//!
//! Values are encoded as sqlx encodes them (UUIDs as 16-byte blobs, the timestamp as RFC 3339
//! text, the detail as JSON text), so the chain verifies when sqlx reads it back.

use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use super::audit::{AuditRow, columns};
use super::audit_writer::Build;
use crate::audit::GENESIS;

/// Appends `build`'s row to `tenant`'s chain within `tx`.
pub(super) fn append(
    tx: &rusqlite::Transaction<'_>,
    tenant: Uuid,
    build: &Build,
) -> rusqlite::Result<AuditRow> {
    let tenant_id = tenant.as_bytes().as_slice();
    let head: Option<(i64, Vec<u8>)> = tx
        .prepare_cached("SELECT seq, hash FROM audit_heads WHERE tenant_id = ?1")?
        .query_row(params![tenant_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (seq, hash) = head.unwrap_or_else(|| (0, GENESIS.to_vec()));
    let row = build(seq + 1, &hash);
    let detail = serde_json::to_string(&row.detail.0)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    let at = row.at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
    tx.prepare_cached(concat!(
        "INSERT INTO audit_events (",
        columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    ))?
    .execute(params![
        row.id.as_bytes().as_slice(),
        row.tenant_id.as_bytes().as_slice(),
        row.seq,
        at,
        row.actor,
        row.action,
        row.target,
        row.outcome,
        row.rule,
        row.request_id,
        row.client_addr,
        detail,
        row.prev_hash,
        row.hash,
    ])?;
    tx.prepare_cached(
        "INSERT INTO audit_heads (tenant_id, seq, hash) VALUES (?1, ?2, ?3) \
         ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
    )?
    .execute(params![tenant_id, row.seq, row.hash])?;
    Ok(row)
}
