//! The second tenant wall: PostgreSQL row-level security (migration 0006).
//!
//! Code already scopes every tenant-owned query with a [`TenantScope`]; on PostgreSQL each
//! transaction on a tenant-owned table also names its tenant in the `app.tenant_id` setting,
//! and the table's policy admits only that tenant's rows. A query whose `WHERE` forgot the
//! tenant therefore still cannot see or write another tenant's rows.
//!
//! Superusers and `BYPASSRLS` roles are exempt from every policy, so when the configured
//! account is one, the store creates the NOLOGIN role [`APP_ROLE`], grants it the tables, and
//! every pooled connection drops to it with `SET ROLE`. Migrations run before that, as the
//! configured account.

use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

use super::StoreError;
use crate::tenancy::TenantScope;

/// The role pooled connections run as when the configured account would bypass the wall.
pub const APP_ROLE: &str = "switchyard_app";

/// Whom a transaction acts for.
#[derive(Clone, Copy, Debug)]
pub(super) enum Wall {
    /// Only this tenant's rows.
    Tenant(Uuid),
    /// Every tenant's rows: only for lookups that cannot know the tenant first (an API key or
    /// refresh token found by its secret) and platform jobs (audit verification); each call
    /// site says why.
    Platform,
}

impl Wall {
    pub(super) fn of(scope: &TenantScope) -> Self {
        Wall::Tenant(scope.tenant_id())
    }

    /// `BEGIN` and the setting in one round trip (a simple-query batch); `set_config(…, true)`
    /// lasts until the transaction ends, so a pooled connection carries nothing over.
    pub(super) fn begin(self) -> AssertSqlSafe<String> {
        // A Uuid's Display is hex and dashes only, so formatting it into SQL is safe.
        AssertSqlSafe(match self {
            Wall::Tenant(id) => {
                format!("BEGIN; SELECT set_config('app.tenant_id', '{id}', true)")
            }
            Wall::Platform => "BEGIN; SELECT set_config('app.platform', 'on', true)".to_owned(),
        })
    }
}

/// Runs one statement behind the wall: on PostgreSQL in a transaction that names the tenant,
/// on SQLite (no row security; one process owns the file) straight on the pool. `$ex` is the
/// executor, to be used once.
macro_rules! walled {
    ($store:expr, $wall:expr, $ex:ident => $body:expr) => {
        match &$store.db {
            Db::Sqlite(pool) => {
                let $ex = pool;
                $body
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin_with($wall.begin()).await?;
                let out = {
                    let $ex = &mut *tx;
                    $body
                };
                tx.commit().await?;
                out
            }
        }
    };
}
pub(super) use walled;

/// Runs several statements as one transaction behind the wall; `$tx` is the transaction
/// (`&mut *$tx` per statement). An early return (`?`) rolls back; the end commits.
///
/// On SQLite the transaction takes the write lock first (`BEGIN IMMEDIATE`): a deferred one
/// that reads and then writes fails at once with SQLITE_BUSY, busy timeout or not, when
/// another connection wrote in between (sqlite.org/lang_transaction.html, §2.2;
/// sqlite.org/wal.html, "sometimes queries return SQLITE_BUSY"), and the audit writer and
/// its indexer write all the time.
macro_rules! walled_tx {
    ($store:expr, $wall:expr, $tx:ident => $body:expr) => {
        match &$store.db {
            Db::Sqlite(pool) => {
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            Db::Postgres(pool) => {
                let mut $tx = pool.begin_with($wall.begin()).await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}
pub(super) use walled_tx;

/// After migrations, on the configured account's connection: if that account bypasses row
/// security, makes sure [`APP_ROLE`] exists and may use this database's tables, and returns
/// it so the pool can `SET ROLE` to it.
pub(super) async fn prepare(owner: &PgPool) -> Result<Option<&'static str>, StoreError> {
    let (bypasses,): (bool,) = sqlx::query_as(
        "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(owner)
    .await?;
    if !bypasses {
        return Ok(None);
    }
    let mut tx = owner.begin().await?;
    // Replicas starting together on one database would otherwise race on the catalog rows
    // the grants update ("tuple concurrently updated").
    sqlx::query("SELECT pg_advisory_xact_lock(7365912370)")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "DO $$ BEGIN \
             CREATE ROLE switchyard_app NOLOGIN NOSUPERUSER NOBYPASSRLS; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; \
         END $$",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DO $$ BEGIN \
             EXECUTE format('GRANT USAGE ON SCHEMA %I TO switchyard_app', current_schema()); \
             EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO switchyard_app', current_schema()); \
             EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO switchyard_app', current_schema()); \
         END $$",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(APP_ROLE))
}
