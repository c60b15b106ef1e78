//! A run's events, stored for replay (migration sqlite/0018, postgres/0019): each batch in
//! the transaction that commits what it tells (a step, a status change, a node's result in
//! a parallel step), so the stored history never tells of a step that did not commit.

use app::api::{RunEvent, RunEventKind, RunStatus};
use sqlx::types::Json;
use tracing::instrument;
use uuid::Uuid;

use super::{Db, Store, StoreError, Wall, walled};
use crate::tenancy::TenantScope;

pub(super) const ADD_EVENTS: &str = "INSERT INTO workflow_events (run_id, tenant_id, seq, events, created_at) \
     VALUES ($1, $2, $3, $4, $5)";

/// A batch of events as stored: keyed by its last event's id.
pub(super) struct EventBatch;

impl EventBatch {
    /// The first event of a run, stored with it.
    pub(super) fn started(run: &super::RunRow) -> RunEvent {
        RunEvent {
            seq: Some(run.created_at.timestamp_micros()),
            run_id: run.id,
            at: run.created_at,
            kind: RunEventKind::RunStatus {
                status: RunStatus::Running,
                step: run.step,
                waiting_on: Vec::new(),
                error: None,
            },
        }
    }

    pub(super) fn of(events: &[RunEvent]) -> Option<(i64, Json<&[RunEvent]>)> {
        let seq = events.iter().filter_map(|e| e.seq).max()?;
        Some((seq, Json(events)))
    }
}

/// At most this many batches are read per page of a run's events.
const EVENT_BATCHES: i64 = 200;

impl Store {
    /// A run's stored events after `after`, oldest first; `true` when more follow them.
    #[instrument(skip_all)]
    pub async fn run_events(
        &self,
        scope: &TenantScope,
        run: Uuid,
        after: i64,
    ) -> Result<(Vec<RunEvent>, bool), StoreError> {
        let rows: Vec<(Json<Vec<RunEvent>>,)> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as("SELECT events FROM workflow_events \
                            WHERE tenant_id = $1 AND run_id = $2 AND seq > $3 ORDER BY seq LIMIT $4")
                .bind(scope.tenant_id()).bind(run).bind(after).bind(EVENT_BATCHES + 1)
                .fetch_all(pool).await?
        });
        let more = rows.len() > EVENT_BATCHES as usize;
        let mut events: Vec<RunEvent> = rows
            .into_iter()
            .take(EVENT_BATCHES as usize)
            .flat_map(|(batch,)| batch.0)
            .filter(|e| e.seq.is_some_and(|seq| seq > after))
            .collect();
        events.sort_by_key(|e| e.seq);
        Ok((events, more))
    }
}
