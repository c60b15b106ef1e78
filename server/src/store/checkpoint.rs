//! SQLite's WAL checkpoints, off the commit path. By default the commit that takes the WAL
//! past 1,000 pages runs the checkpoint itself — copies the pages back and syncs the
//! database file — before it returns: a stall of milliseconds for one audited request in
//! every few hundred (it showed at the gateway's p99). With automatic checkpoints off
//! (`wal_autocheckpoint = 0`, set per connection in `Store::connect`), this task runs a
//! PASSIVE checkpoint, which never waits for readers or writers, twice a second.

use std::time::Duration;

use sqlx::SqlitePool;

const EVERY: Duration = Duration::from_millis(500);

/// Runs until `alive` says the store is gone.
pub(super) fn spawn(pool: SqlitePool, alive: impl Fn() -> bool + Send + 'static) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !alive() || pool.is_closed() {
                return;
            }
            if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
                && !pool.is_closed()
            {
                tracing::warn!(%error, "WAL checkpoint failed; trying again shortly");
            }
        }
    });
}
