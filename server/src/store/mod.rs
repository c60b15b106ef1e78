//! Persistence over sqlx with two backends picked by URL scheme: SQLite (embedded default, WAL)
//! and PostgreSQL (production). Queries are written once with `$n` placeholders, which both
//! dialects accept, and run on either pool through [`on_pool!`].

mod api_keys;
mod audit;
mod audit_index;
mod audit_writer;
mod chat;
mod checkpoint;
mod credentials;
mod error;
mod first_run;
mod invitations;
mod llm;
mod oauth;
mod policies;
mod roles;
mod run_events;
mod run_sweeps;
mod sqlite_audit;
mod step_writer;
mod tenants;
mod tokens;
mod upstream_oauth;
mod upstreams;
mod users;
mod vectors;
mod virtual_servers;
mod wall;
mod workflows;

pub use api_keys::{ApiKeyRow, NewApiKey};
pub use audit::{AuditFilter, AuditRow};
pub use chat::{ConversationRecord, ConversationRow, NewMessage, StoredMessage, TurnStart};
pub use credentials::Credentials;
pub use error::StoreError;
pub use invitations::{InvitationRow, NewInvitation};
pub use llm::{LlmProviderRow, UsageRecord};
pub use oauth::{ConsentRow, OAuthClientRow};
pub use policies::{PolicyRecord, PolicyRow};
pub use roles::RoleRow;
pub use tokens::{NewRefresh, RefreshRow, SigningKeyRow};
pub use upstream_oauth::UpstreamOAuthRow;
pub use upstreams::{UpstreamRecord, UpstreamRow};
pub use users::NewUserRecord;
pub use vectors::{Metadata, NewVectorIndex, Removal, VectorIndexRow, VectorRow, Written};
pub use wall::APP_ROLE;
pub use workflows::{PendingStep, RunRow, StatusChange, StepCommit};

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Connection, Executor};
use tracing::instrument;
use uuid::Uuid;

use crate::config::Secret;
use crate::tenancy::TenantScope;

/// Which database a [`Store`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool the store has; the body is type-checked
/// against both backends, so one query text serves both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}
use on_pool;
use wall::{Wall, walled, walled_tx};

/// The database handle; cheap to clone.
/// How long a pooled PostgreSQL connection may sit idle and still be used without a ping.
const PING_WHEN_IDLE: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    audit: audit_writer::AuditWriter,
    /// SQLite's free-text audit index, in a file of its own (`audit_index`).
    search: Option<audit_index::SearchIndex>,
    /// SQLite's writer of workflow steps and audit records (`step_writer`); PostgreSQL commits
    /// them on the pool.
    steps: Option<step_writer::StepWriter>,
}

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) and applies pending migrations.
    pub async fn open(url: &Secret, max_connections: u32) -> Result<Self, StoreError> {
        let (db, store_file) = Self::connect(url, max_connections).await?;
        if let Db::Sqlite(pool) = &db {
            sqlx::migrate!("../migrations/sqlite").run(pool).await?;
        }
        // The index reads the migrated store's records.
        let search = match &store_file {
            Some(file) => Some(audit_index::SearchIndex::open(file).await?),
            None => None,
        };
        // A file only: an in-memory database is the pool's own and no other connection's.
        let steps = match &store_file {
            Some(file) if file.exists() => {
                Some(step_writer::StepWriter::start(file, search.clone())?)
            }
            _ => None,
        };
        let audit = audit_writer::AuditWriter::start(db.clone(), search.clone(), steps.clone());
        if let Db::Sqlite(pool) = &db {
            checkpoint::spawn(pool.clone(), audit.alive());
        }
        if let Some(search) = &search {
            search.spawn_indexer(audit.alive());
        }
        Ok(Self {
            db,
            audit,
            search,
            steps,
        })
    }

    /// The pool for `url` (PostgreSQL's migrated), and SQLite's file.
    async fn connect(
        url: &Secret,
        max_connections: u32,
    ) -> Result<(Db, Option<std::path::PathBuf>), StoreError> {
        let raw = url.expose();
        let mut store_file = None;
        let db = if raw.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(raw)
                .map_err(StoreError::Connect)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                // Checkpoints run in a task of their own (`checkpoint`), not in a commit.
                .pragma("wal_autocheckpoint", "0");
            store_file = Some(options.get_filename().to_owned());
            if let Some(dir) = options.get_filename().parent()
                && !dir.as_os_str().is_empty()
            {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(StoreError::DataDir)?;
            }
            // A SQLite connection is a file handle in this process: nothing to ping, and a
            // ping before each use is a round trip to sqlx's worker thread per query.
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .test_before_acquire(false)
                .connect_with(options)
                .await
                .map_err(StoreError::Connect)?;
            Db::Sqlite(pool)
        } else if raw.starts_with("postgres:") || raw.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(raw).map_err(StoreError::Connect)?;
            // Migrations and the wall's role set-up run as the configured account, on a
            // connection of their own; pooled connections may then drop to the app role.
            let owner = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await
                .map_err(StoreError::Connect)?;
            sqlx::migrate!("../migrations/postgres").run(&owner).await?;
            let role = wall::prepare(&owner).await?;
            owner.close().await;
            // A connection is pinged before use only after it sat idle (HikariCP's
            // alive-bypass window): a ping on every acquire is a round trip per query, and
            // a connection used a moment ago is as alive as a ping would show.
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for > PING_WHEN_IDLE {
                            conn.ping().await?;
                        }
                        Ok(true)
                    })
                })
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if let Some(role) = role {
                            conn.execute(AssertSqlSafe(format!("SET ROLE {role}")))
                                .await?;
                        }
                        Ok(())
                    })
                })
                .connect_with(options)
                .await
                .map_err(StoreError::Connect)?;
            Db::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        Ok((db, store_file))
    }

    /// Which backend this store runs on.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// A round trip to the database, for readiness checks.
    #[instrument(skip_all)]
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => { sqlx::query("SELECT 1").execute(pool).await?; });
        Ok(())
    }

    /// The database role queries run as: on PostgreSQL, [`APP_ROLE`] when the configured
    /// account would bypass row-level security.
    #[instrument(skip_all)]
    pub async fn session_role(&self) -> Result<String, StoreError> {
        let (role,): (String,) = match &self.db {
            Db::Sqlite(_) => ("sqlite".to_owned(),),
            Db::Postgres(pool) => {
                sqlx::query_as("SELECT current_user::text")
                    .fetch_one(pool)
                    .await?
            }
        };
        Ok(role)
    }

    /// Scopes later calls to tenant `id`, or says it does not exist.
    #[instrument(skip_all)]
    pub async fn scope(&self, id: Uuid) -> Result<TenantScope, StoreError> {
        let found: Option<(Uuid,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM tenants WHERE id = $1").bind(id).fetch_optional(pool).await?
        });
        found
            .map(|_| TenantScope::verified(id))
            .ok_or(StoreError::NotFound("tenant"))
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        if let Some(search) = &self.search {
            search.close().await;
        }
        on_pool!(self, pool => pool.close().await);
    }
}

/// Turns a user's search text into a `LIKE` pattern matching it as a literal substring.
fn like_pattern(q: Option<&str>) -> Option<String> {
    q.map(|q| {
        let escaped = q
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    })
}

/// Splits `limit + 1` fetched rows into a page and the cursor of the next page.
fn paginate<T>(mut rows: Vec<T>, limit: u32, id: impl Fn(&T) -> Uuid) -> (Vec<T>, Option<Uuid>) {
    if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        let next = rows.last().map(id);
        (rows, next)
    } else {
        (rows, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern(Some("A_b%c\\")).unwrap(), "%a\\_b\\%c\\\\%");
        assert_eq!(like_pattern(None), None);
    }

    #[test]
    fn pages_carry_a_cursor_only_when_more_rows_exist() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let (page, next) = paginate(ids.clone(), 2, |u| *u);
        assert_eq!(page.len(), 2);
        assert_eq!(next, Some(ids[1]));
        let (page, next) = paginate(ids, 3, |u| *u);
        assert_eq!((page.len(), next), (3, None));
    }
}
