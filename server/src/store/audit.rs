//! Audit rows. Appends are serialised per tenant by the chain head row: the first statement
//! of the append transaction upserts it, which row-locks it on PostgreSQL and takes the write
//! lock on SQLite, so two appends (from two replicas too) never read the same head. Appends
//! go through the store's group-commit writer (`audit_writer`).

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use tracing::instrument;
use uuid::Uuid;

use super::{Db, Store, StoreError, Wall, like_pattern, walled};
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
pub(super) use columns;

impl Store {
    /// Appends one record to `tenant_id`'s chain and returns it once committed: `build` gets
    /// the next sequence number and the previous hash and returns the complete row. Appends
    /// are group-committed (see `audit_writer`): row and head change in one transaction.
    #[instrument(skip_all)]
    pub async fn append_audit(
        &self,
        tenant_id: Uuid,
        build: impl Fn(i64, &[u8]) -> AuditRow + Send + Sync + 'static,
    ) -> Result<AuditRow, StoreError> {
        self.audit.append(tenant_id, Box::new(build)).await
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
        let rows = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).bind(after_seq).bind(i64::from(limit)).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// Every tenant that has an audit chain, deleted tenants included. Behind the platform
    /// wall: `verify` walks every chain.
    #[instrument(skip_all)]
    pub async fn audit_chains(&self) -> Result<Vec<Uuid>, StoreError> {
        let ids: Vec<(Uuid,)> = walled!(self, Wall::Platform, pool => {
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
        let head = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE tenant_id = $1")
                .bind(scope.tenant_id())
                .fetch_optional(pool)
                .await?
        });
        Ok(head)
    }

    /// Records matching `filter`, newest first, before sequence `cursor`. Only the filters
    /// present become conditions, so each can use its index (`x IS NULL OR x = $n` cannot).
    /// Free text is a case-insensitive substring of actor, action, target and detail: served
    /// by a trigram index (FTS5 on SQLite, pg_trgm on PostgreSQL), then checked exactly.
    #[instrument(skip_all)]
    pub async fn search_audit(
        &self,
        scope: &TenantScope,
        filter: &AuditFilter<'_>,
        cursor: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<AuditRow>, Option<i64>), StoreError> {
        // The text the trigram indexes hold (SQLite's is filled by `audit_index`).
        const TEXT: &str = super::audit_index::BODY;
        let mut sql = format!(
            "SELECT {} FROM audit_events WHERE tenant_id = $1",
            columns!()
        );
        let mut n = 1;
        let mut next = |sql: &mut String, condition: &str| {
            n += 1;
            sql.push_str(&condition.replace("$n", &format!("${n}")));
        };
        if cursor.is_some() {
            next(&mut sql, " AND seq < $n");
        }
        if filter.actor.is_some() {
            next(&mut sql, " AND actor = $n");
        }
        if filter.action.is_some() {
            next(&mut sql, " AND action = $n");
        }
        if filter.outcome.is_some() {
            next(&mut sql, " AND outcome = $n");
        }
        if filter.from.is_some() {
            next(&mut sql, " AND at >= $n");
        }
        if filter.to.is_some() {
            next(&mut sql, " AND at < $n");
        }
        let pattern = like_pattern(filter.q);
        // FTS5's trigram index answers phrases of three characters or more.
        let fts_phrase = match (self.backend(), filter.q) {
            (super::Backend::Sqlite, Some(q)) if q.chars().count() >= 3 => {
                Some(format!("\"{}\"", q.to_lowercase().replace('"', "\"\"")))
            }
            _ => None,
        };
        if fts_phrase.is_some() {
            next(
                &mut sql,
                " AND seq IN (SELECT seq FROM audit_search WHERE audit_search MATCH $n AND tenant_id = $1)",
            );
        }
        if pattern.is_some() {
            if self.backend() == super::Backend::Postgres {
                // The trigram index through a function that keeps the wall (migration 0008);
                // the same pattern is bound again for the exact check below.
                next(&mut sql, " AND seq IN (SELECT audit_text_candidates($n))");
            }
            next(&mut sql, &format!(" AND {TEXT} LIKE $n ESCAPE '\\'"));
        }
        // A short time range holds few records: read them through the (tenant_id, at) index
        // and sort. Ordering by the bare column would let the planner walk the whole
        // (tenant_id, seq) index back to the range instead (75 ms over 1,000,000 records on
        // PostgreSQL); `seq + 0` orders the same but cannot use that index.
        let narrow = matches!((filter.from, filter.to), (Some(from), Some(to))
            if to - from <= chrono::Duration::days(7));
        if narrow {
            next(&mut sql, " ORDER BY seq + 0 DESC LIMIT $n");
        } else {
            next(&mut sql, " ORDER BY seq DESC LIMIT $n");
        }
        // SQLite's free-text index is a database of its own, caught up before it is read
        // (`audit_index`); its connection sees the records as well.
        let search = match (&self.search, &fts_phrase) {
            (Some(search), Some(_)) => {
                search.catch_up().await?;
                Some(search.pool())
            }
            _ => None,
        };
        // The same binds, in order, on whichever connection runs the query.
        macro_rules! bound {
            () => {{
                let mut query =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(scope.tenant_id());
                if let Some(cursor) = cursor {
                    query = query.bind(cursor);
                }
                for value in [filter.actor, filter.action, filter.outcome]
                    .into_iter()
                    .flatten()
                {
                    query = query.bind(value);
                }
                for value in [filter.from, filter.to].into_iter().flatten() {
                    query = query.bind(value);
                }
                if let Some(phrase) = &fts_phrase {
                    query = query.bind(phrase.as_str());
                }
                if let Some(pattern) = &pattern {
                    if matches!(self.db, Db::Postgres(_)) {
                        query = query.bind(pattern.as_str());
                    }
                    query = query.bind(pattern.as_str());
                }
                query.bind(i64::from(limit) + 1)
            }};
        }
        let mut rows: Vec<AuditRow> = match search {
            Some(search) => bound!().fetch_all(search).await?,
            None => walled!(self, Wall::of(scope), pool => bound!().fetch_all(pool).await?),
        };
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| r.seq)
        } else {
            None
        };
        Ok((rows, next))
    }

    /// Puts every committed record in SQLite's free-text index (filled behind the appends,
    /// `audit_index`); nothing to do on PostgreSQL.
    pub async fn catch_up_audit_index(&self) -> Result<u64, StoreError> {
        match &self.search {
            Some(search) => search.catch_up().await,
            None => Ok(0),
        }
    }

    /// `tool.call` records since `since`, counted per target and outcome (for usage and error
    /// rates). Reads the (tenant, action, seq) index, then the time.
    #[instrument(skip_all)]
    pub async fn tool_call_counts(
        &self,
        scope: &TenantScope,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let sql = "SELECT target, outcome, COUNT(*) FROM audit_events \
                   WHERE tenant_id = $1 AND action = 'tool.call' AND at >= $2 \
                   GROUP BY target, outcome";
        Ok(walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).bind(since).fetch_all(pool).await?
        }))
    }
}
