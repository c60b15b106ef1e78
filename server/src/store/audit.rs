//! Audit rows. Appends are serialised per tenant by the chain head row: the first statement
//! of the append transaction upserts it, which row-locks it on PostgreSQL and takes the write
//! lock on SQLite, so two appends never read the same head.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use tracing::instrument;
use uuid::Uuid;

use super::{Db, Store, StoreError, like_pattern, on_pool};
use crate::tenancy::TenantScope;

/// One stored audit record, chain fields included.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuditRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub rule: Option<String>,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
    pub detail: Json<serde_json::Value>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// Search filters; `None` means any.
#[derive(Debug, Default)]
pub struct AuditFilter<'a> {
    pub actor: Option<&'a str>,
    pub action: Option<&'a str>,
    pub outcome: Option<&'a str>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub q: Option<&'a str>,
}

macro_rules! columns {
    () => {
        "id, tenant_id, seq, at, actor, action, target, outcome, rule, request_id, client_addr, detail, prev_hash, hash"
    };
}

impl Store {
    /// Appends one record to `tenant_id`'s chain: `build` gets the next sequence number and the
    /// previous hash and returns the complete row. Row and head change in one transaction.
    #[instrument(skip_all)]
    pub async fn append_audit(
        &self,
        tenant_id: Uuid,
        build: impl FnOnce(i64, &[u8]) -> AuditRow,
    ) -> Result<AuditRow, StoreError> {
        let genesis = crate::audit::GENESIS.to_vec();
        let row = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let (seq, hash): (i64, Vec<u8>) = sqlx::query_as(
                "INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2) \
                 ON CONFLICT (tenant_id) DO UPDATE SET seq = audit_heads.seq RETURNING seq, hash",
            )
            .bind(tenant_id)
            .bind(&genesis)
            .fetch_one(&mut *tx)
            .await?;
            let row = build(seq + 1, &hash);
            sqlx::query(concat!("INSERT INTO audit_events (", columns!(), ") \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"))
                .bind(row.id)
                .bind(row.tenant_id)
                .bind(row.seq)
                .bind(row.at)
                .bind(&row.actor)
                .bind(&row.action)
                .bind(&row.target)
                .bind(&row.outcome)
                .bind(&row.rule)
                .bind(&row.request_id)
                .bind(&row.client_addr)
                .bind(&row.detail)
                .bind(&row.prev_hash)
                .bind(&row.hash)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE audit_heads SET seq = $2, hash = $3 WHERE tenant_id = $1")
                .bind(tenant_id)
                .bind(row.seq)
                .bind(&row.hash)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            row
        });
        Ok(row)
    }

    /// Up to `limit` records after `after_seq`, oldest first (for verification).
    #[instrument(skip_all)]
    pub async fn audit_chain_page(
        &self,
        scope: &TenantScope,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM audit_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        );
        let rows = on_pool!(self, pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).bind(after_seq).bind(i64::from(limit)).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// Every tenant that has an audit chain, deleted tenants included.
    #[instrument(skip_all)]
    pub async fn audit_chains(&self) -> Result<Vec<Uuid>, StoreError> {
        let ids: Vec<(Uuid,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT tenant_id FROM audit_heads ORDER BY tenant_id").fetch_all(pool).await?
        });
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    /// The newest (seq, hash) of the tenant's chain, if it has one.
    #[instrument(skip_all)]
    pub async fn audit_head(
        &self,
        scope: &TenantScope,
    ) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        let head = on_pool!(self, pool => {
            sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE tenant_id = $1")
                .bind(scope.tenant_id())
                .fetch_optional(pool)
                .await?
        });
        Ok(head)
    }

    /// Records matching `filter`, newest first, before sequence `cursor`.
    #[instrument(skip_all)]
    pub async fn search_audit(
        &self,
        scope: &TenantScope,
        filter: &AuditFilter<'_>,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<AuditRow>, Option<i64>), StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM audit_events WHERE tenant_id = $1 \
               AND ($2 IS NULL OR seq < $2) \
               AND ($3 IS NULL OR actor = $3) \
               AND ($4 IS NULL OR action = $4) \
               AND ($5 IS NULL OR outcome = $5) \
               AND ($6 IS NULL OR at >= $6) \
               AND ($7 IS NULL OR at < $7) \
               AND ($8 IS NULL OR lower(actor) LIKE $8 ESCAPE '\\' OR lower(action) LIKE $8 ESCAPE '\\' \
                    OR lower(target) LIKE $8 ESCAPE '\\' OR lower(CAST(detail AS TEXT)) LIKE $8 ESCAPE '\\') \
             ORDER BY seq DESC LIMIT $9"
        );
        let mut rows: Vec<AuditRow> = on_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(scope.tenant_id())
                .bind(cursor)
                .bind(filter.actor)
                .bind(filter.action)
                .bind(filter.outcome)
                .bind(filter.from)
                .bind(filter.to)
                .bind(like_pattern(filter.q))
                .bind(i64::from(limit) + 1)
                .fetch_all(pool)
                .await?
        });
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| r.seq)
        } else {
            None
        };
        Ok((rows, next))
    }
}
