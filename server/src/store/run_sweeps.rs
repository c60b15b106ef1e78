//! What the workflow engine's sweeper looks for across tenants (a platform job, behind no
//! tenant's wall): runs that need an executor, and parents left waiting on a child that has
//! ended.

use tracing::instrument;
use uuid::Uuid;

use super::workflows::{RUN_COLUMNS, RunRow};
use super::{Db, Store, StoreError, Wall, walled};

impl Store {
    /// Runs that may need an executor, across tenants.
    #[instrument(skip_all)]
    pub async fn runs_to_resume(&self, limit: u32) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
        let rows: Vec<(Uuid, Uuid)> = walled!(self, Wall::Platform, pool => {
            sqlx::query_as("SELECT tenant_id, id FROM workflow_runs WHERE status = 'running' \
                            ORDER BY updated_at LIMIT $1")
                .bind(i64::from(limit)).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// Waiting runs with a subgraph child that has ended: a parent whose wake-up was lost
    /// (its child ended while it was still pausing, or the wake failed) is among them. The
    /// engine checks that the child is the one its node waits for.
    #[instrument(skip_all)]
    pub async fn parents_with_ended_children(&self, limit: u32) -> Result<Vec<RunRow>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM workflow_runs p WHERE p.status = 'waiting' AND EXISTS \
             (SELECT 1 FROM workflow_runs c WHERE c.parent_run_id = p.id \
              AND c.status IN ('succeeded', 'failed', 'cancelled')) \
             ORDER BY p.updated_at LIMIT $1"
        );
        let rows: Vec<RunRow> = walled!(self, Wall::Platform, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(i64::from(limit)).fetch_all(pool).await?
        });
        Ok(rows)
    }
}
