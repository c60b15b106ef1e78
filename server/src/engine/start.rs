//! What a run's executor starts from: handed over by the code that just created the run, or
//! read back from the store to resume it.

use app::api::RunStatus;
use app::api::workflow::compile::{Graph, compile};
use uuid::Uuid;

use super::{Engine, EngineError};
use crate::access::PermissionSet;
use crate::identity::Principal;
use crate::store::RunRow;
use crate::tenancy::TenantScope;

/// A run as its executor needs it: the run, its compiled graph, and the principal it acts as.
pub(super) struct Fresh {
    pub run: RunRow,
    pub graph: Graph,
    pub principal: Principal,
}

pub(super) enum Loaded {
    Ready(Fresh),
    /// Not running any more: nothing to do.
    Ended,
    /// It cannot go on, for the reason given.
    Broken(RunRow, String),
}

/// Reads a run back from the store, to resume it: its definition at its version, and the
/// principal its starter is now.
pub(super) async fn load(
    engine: &Engine,
    scope: &TenantScope,
    id: Uuid,
) -> Result<Loaded, EngineError> {
    let inner = &engine.0;
    let run = inner.store.get_run(scope, id).await?;
    if run.status() != RunStatus::Running {
        return Ok(Loaded::Ended);
    }
    if run.step > 0 || run.forked_from.is_some() {
        inner.metrics.workflow_run("resumed");
    }
    let definition = inner
        .store
        .workflow_version(scope, run.workflow_id, run.version)
        .await?;
    let graph = match compile(&definition) {
        Ok(graph) => graph,
        Err(problems) => {
            let message = format!(
                "its workflow version no longer checks: {}",
                problems[0].message
            );
            return Ok(Loaded::Broken(run, message));
        }
    };
    let scopes = PermissionSet::parse(run.scopes.0.iter().map(String::as_str));
    let principal = inner
        .identity
        .principal_for_run(
            &TenantScope::verified(run.started_in),
            run.started_by,
            id,
            scopes,
        )
        .await;
    Ok(match principal {
        Ok(principal) => Loaded::Ready(Fresh {
            run,
            graph,
            principal,
        }),
        Err(error) => {
            let message = format!("the user it acts for cannot act any more: {error}");
            Loaded::Broken(run, message)
        }
    })
}
