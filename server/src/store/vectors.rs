//! The vectors server's embedded backend: a tenant's indexes and their records (migrations
//! sqlite 0023, postgres 0024). Every write bumps its index's `revision` in the same
//! transaction, so a replica's in-memory copy knows when it is stale.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::types::Json;
use tracing::instrument;
use uuid::Uuid;

use super::{Db, Store, StoreError, Wall, walled, walled_tx};
use crate::tenancy::TenantScope;

/// Metadata as stored: a JSON object.
pub type Metadata = serde_json::Map<String, serde_json::Value>;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct VectorIndexRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub description: String,
    pub dimension: i32,
    pub metric: String,
    pub backend: String,
    pub remote_host: Option<String>,
    pub credentials_enc: Option<Vec<u8>>,
    pub revision: i64,
    pub vector_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const INDEX_COLUMNS: &str = "id, tenant_id, name, description, dimension, metric, backend, \
                             remote_host, credentials_enc, revision, vector_count, created_at, updated_at";

/// An index to make. `id` is chosen by the caller, which seals the credentials to it.
pub struct NewVectorIndex<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub description: &'a str,
    pub dimension: i32,
    pub metric: &'a str,
    pub backend: &'a str,
    pub remote_host: Option<&'a str>,
    pub credentials_enc: Option<Vec<u8>>,
}

/// A record as stored: its id, its vector as little-endian f32 bytes, its metadata.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct VectorRow {
    pub id: String,
    pub embedding: Vec<u8>,
    pub metadata: Json<Metadata>,
}

/// What a write left: the index's new revision and how many records it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    pub revision: i64,
    pub count: i64,
    /// Records the write removed (deletes only).
    pub removed: u64,
}

/// Which records a delete removes.
pub enum Removal<'a> {
    Ids(&'a [String]),
    All,
}

/// Bumps the index's revision, first in a write so writers of one index queue there: the
/// index's new revision (the index must exist).
macro_rules! bump {
    ($tx:ident, $index:expr, $tenant:expr, $now:expr) => {
        sqlx::query_as::<_, (i64,)>(
            "UPDATE vector_indexes SET revision = revision + 1, updated_at = $3 \
             WHERE id = $1 AND tenant_id = $2 RETURNING revision",
        )
        .bind($index)
        .bind($tenant)
        .bind($now)
        .fetch_optional(&mut *$tx)
        .await?
        .ok_or(StoreError::NotFound("vector index"))?
        .0
    };
}

/// Counts the index's records into `vector_count`, last in a write: the count.
macro_rules! recount {
    ($tx:ident, $index:expr, $tenant:expr) => {
        sqlx::query_as::<_, (i64,)>(
            "UPDATE vector_indexes SET vector_count = \
             (SELECT COUNT(*) FROM vector_records WHERE index_id = $1) \
             WHERE id = $1 AND tenant_id = $2 RETURNING vector_count",
        )
        .bind($index)
        .bind($tenant)
        .fetch_one(&mut *$tx)
        .await?
        .0
    };
}

impl Store {
    #[instrument(skip_all)]
    pub async fn create_vector_index(
        &self,
        scope: &TenantScope,
        new: &NewVectorIndex<'_>,
    ) -> Result<VectorIndexRow, StoreError> {
        let now = Utc::now();
        let sql = format!(
            "INSERT INTO vector_indexes (id, tenant_id, name, description, dimension, metric, \
             backend, remote_host, credentials_enc, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING {INDEX_COLUMNS}"
        );
        Ok(walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(new.id).bind(scope.tenant_id()).bind(new.name)
                .bind(new.description).bind(new.dimension).bind(new.metric).bind(new.backend)
                .bind(new.remote_host).bind(&new.credentials_enc).bind(now)
                .fetch_one(pool).await?
        }))
    }

    #[instrument(skip_all)]
    pub async fn list_vector_indexes(
        &self,
        scope: &TenantScope,
    ) -> Result<Vec<VectorIndexRow>, StoreError> {
        let sql = format!(
            "SELECT {INDEX_COLUMNS} FROM vector_indexes WHERE tenant_id = $1 ORDER BY name"
        );
        Ok(walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(scope.tenant_id()).fetch_all(pool).await?
        }))
    }

    #[instrument(skip_all)]
    pub async fn get_vector_index(
        &self,
        scope: &TenantScope,
        name: &str,
    ) -> Result<VectorIndexRow, StoreError> {
        let sql = format!(
            "SELECT {INDEX_COLUMNS} FROM vector_indexes WHERE tenant_id = $1 AND name = $2"
        );
        let row: Option<VectorIndexRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(scope.tenant_id()).bind(name)
                .fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound("vector index"))
    }

    /// Records the count a remote index reported.
    #[instrument(skip_all)]
    pub async fn set_vector_count(
        &self,
        scope: &TenantScope,
        id: Uuid,
        count: i64,
    ) -> Result<(), StoreError> {
        walled!(self, Wall::of(scope), pool => {
            sqlx::query("UPDATE vector_indexes SET vector_count = $1 WHERE id = $2 AND tenant_id = $3")
                .bind(count).bind(id).bind(scope.tenant_id()).execute(pool).await?;
        });
        Ok(())
    }

    /// Deletes the index and its records; false if there was none.
    #[instrument(skip_all)]
    pub async fn delete_vector_index(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<bool, StoreError> {
        let done = walled_tx!(self, Wall::of(scope), tx => {
            sqlx::query("DELETE FROM vector_records WHERE index_id = $1 AND tenant_id = $2")
                .bind(id).bind(scope.tenant_id()).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM vector_indexes WHERE id = $1 AND tenant_id = $2")
                .bind(id).bind(scope.tenant_id()).execute(&mut *tx).await?.rows_affected()
        });
        Ok(done > 0)
    }

    /// Inserts or replaces `records` (id, vector bytes, metadata) in one transaction.
    #[instrument(skip_all, fields(records = records.len()))]
    pub async fn upsert_vectors(
        &self,
        scope: &TenantScope,
        index: Uuid,
        records: &[(String, Vec<u8>, Metadata)],
    ) -> Result<Written, StoreError> {
        let (tenant, now) = (scope.tenant_id(), Utc::now());
        Ok(walled_tx!(self, Wall::of(scope), tx => {
            // First, so writers of one index queue here and each count is its own.
            let revision = bump!(tx, index, tenant, now);
            for (id, embedding, metadata) in records {
                sqlx::query("INSERT INTO vector_records (index_id, tenant_id, id, embedding, metadata, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (index_id, id) DO UPDATE SET \
                             embedding = excluded.embedding, metadata = excluded.metadata, updated_at = excluded.updated_at")
                    .bind(index).bind(tenant).bind(id).bind(embedding).bind(Json(metadata)).bind(now)
                    .execute(&mut *tx).await?;
            }
            let count = recount!(tx, index, tenant);
            Written { revision, count, removed: 0 }
        }))
    }

    /// Deletes records in one transaction.
    #[instrument(skip_all)]
    pub async fn delete_vectors(
        &self,
        scope: &TenantScope,
        index: Uuid,
        removal: Removal<'_>,
    ) -> Result<Written, StoreError> {
        let (tenant, now) = (scope.tenant_id(), Utc::now());
        Ok(walled_tx!(self, Wall::of(scope), tx => {
            let revision = bump!(tx, index, tenant, now);
            let mut removed = 0;
            match removal {
                Removal::All => {
                    removed = sqlx::query("DELETE FROM vector_records WHERE index_id = $1 AND tenant_id = $2")
                        .bind(index).bind(tenant).execute(&mut *tx).await?.rows_affected();
                }
                Removal::Ids(ids) => for id in ids {
                    removed += sqlx::query("DELETE FROM vector_records WHERE index_id = $1 AND tenant_id = $2 AND id = $3")
                        .bind(index).bind(tenant).bind(id).execute(&mut *tx).await?.rows_affected();
                },
            }
            let count = recount!(tx, index, tenant);
            Written { revision, count, removed }
        }))
    }

    /// The records among `ids` that exist.
    #[instrument(skip_all)]
    pub async fn fetch_vectors(
        &self,
        scope: &TenantScope,
        index: Uuid,
        ids: &[String],
    ) -> Result<Vec<VectorRow>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT id, embedding, metadata FROM vector_records WHERE index_id = $1 \
             AND tenant_id = $2 AND id IN ({}) ORDER BY id",
            marks.join(", ")
        );
        Ok(walled!(self, Wall::of(scope), pool => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(index).bind(scope.tenant_id());
            for id in ids {
                query = query.bind(id);
            }
            query.fetch_all(pool).await?
        }))
    }

    /// Record ids in order, after `after`, starting with `prefix`.
    #[instrument(skip_all)]
    pub async fn list_vector_ids(
        &self,
        scope: &TenantScope,
        index: Uuid,
        prefix: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as("SELECT id FROM vector_records WHERE index_id = $1 AND tenant_id = $2 \
                            AND id > $3 AND substr(id, 1, $4) = $5 ORDER BY id LIMIT $6")
                .bind(index).bind(scope.tenant_id()).bind(after)
                .bind(prefix.chars().count() as i32).bind(prefix).bind(i64::from(limit))
                .fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Every record of the index, handed to `each` as it streams in (an index may not fit in
    /// memory twice), and a revision the records are at least as new as: it is read first,
    /// so a write landing in between only makes the copy look older than it is (and reload
    /// once more), never newer. Reads only: on SQLite it takes no write lock.
    #[instrument(skip_all)]
    pub async fn load_vectors(
        &self,
        scope: &TenantScope,
        index: Uuid,
        mut each: impl FnMut(VectorRow) + Send,
    ) -> Result<i64, StoreError> {
        let tenant = scope.tenant_id();
        let revision: Option<(i64,)> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as("SELECT revision FROM vector_indexes WHERE id = $1 AND tenant_id = $2")
                .bind(index).bind(tenant).fetch_optional(pool).await?
        });
        let (revision,) = revision.ok_or(StoreError::NotFound("vector index"))?;
        walled!(self, Wall::of(scope), pool => {
            let mut rows = sqlx::query_as::<_, VectorRow>(
                "SELECT id, embedding, metadata FROM vector_records WHERE index_id = $1 AND tenant_id = $2")
                .bind(index).bind(tenant).fetch(pool);
            while let Some(row) = rows.try_next().await? {
                each(row);
            }
        });
        Ok(revision)
    }
}
