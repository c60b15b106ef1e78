//! Workflows: versioned graph definitions per tenant, and their durable runs.
//!
//! The definition language ([`definition`]), its checker ([`compile`]), the expression
//! language ([`expr`]) and the state rules ([`state`]) are here, wasm-safe, so the console
//! shows the server's own errors while a definition is typed.

pub mod compile;
pub mod definition;
pub mod events;
pub mod expr;
mod functions;
mod lex;
pub mod state;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

pub use compile::{Graph, compile};
pub use definition::Definition;
pub use events::{RunEvent, RunEventKind, RunEventList, RunEventQuery};
pub use functions::NAMES as FUNCTIONS;

/// Body of `POST /api/v1/tenants/{tenant_id}/workflows` and `PUT …/{id}` (a new version).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WorkflowInput {
    /// 2–63 of lowercase letters, digits, `-`, `_`; unique in the tenant.
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub definition: Definition,
}

/// A workflow at its latest version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Workflow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub description: String,
    /// 1 at creation, one more with every `PUT`.
    pub version: i32,
    pub definition: Definition,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WorkflowList {
    pub items: Vec<Workflow>,
}

/// Body of `POST …/workflows/{id}/runs`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RunInput {
    /// Values for declared state keys, over their defaults.
    #[serde(default)]
    pub input: Map<String, Value>,
    /// The version to run (default: the latest).
    #[serde(default)]
    pub version: Option<i32>,
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Executing, or waiting for an executor after a crash.
    Running,
    /// Paused at an approval.
    Waiting,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 5] = [
        RunStatus::Running,
        RunStatus::Waiting,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Waiting => "waiting",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// No step will run again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

/// One run of a workflow version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Run {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub workflow_id: Uuid,
    pub version: i32,
    pub status: RunStatus,
    /// The last checkpoint's step (0: the initial state).
    pub step: i64,
    pub state: Value,
    /// The nodes of the next step.
    pub next: Vec<String>,
    /// The approvals the run waits for.
    pub waiting_on: Vec<String>,
    pub error: Option<String>,
    /// The user the run acts for: its tool calls carry this user's rights.
    pub started_by: Uuid,
    /// The run this one was forked from, and at which step.
    pub forked_from: Option<Uuid>,
    /// The run whose subgraph node started this one.
    #[serde(default)]
    pub parent_run_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RunList {
    pub items: Vec<Run>,
}

/// Query of `GET …/runs`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
pub struct RunQuery {
    /// Only runs in this status.
    pub status: Option<String>,
    /// Only runs of this workflow.
    pub workflow_id: Option<Uuid>,
    /// At most this many, newest first (default 50, at most 200).
    pub limit: Option<u32>,
}

/// The state after one step, as stored in the same transaction as the step's outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Checkpoint {
    pub step: i64,
    /// The nodes that ran in this step (none for step 0).
    pub ran: Vec<String>,
    pub state: Value,
    /// Each node's output: tool results, decisions, failures.
    pub outputs: Value,
    /// The nodes of the next step.
    pub next: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CheckpointList {
    pub items: Vec<Checkpoint>,
    /// More follow: ask again with `after` = the last item's step.
    #[serde(default)]
    pub more: bool,
}

/// Query of `GET …/runs/{run_id}/checkpoints`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
pub struct CheckpointQuery {
    /// Only checkpoints after this step (default: from step 0).
    pub after: Option<i64>,
    /// At most this many, in step order (default 200, at most 1,000).
    pub limit: Option<u32>,
}

/// Body of `POST …/runs/{run_id}/decisions`: the answer to one approval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// The approval node.
    pub node: String,
    pub approve: bool,
    /// The form's fields.
    #[serde(default)]
    pub form: Map<String, Value>,
    #[serde(default)]
    pub comment: String,
}

/// Body of `POST …/runs/{run_id}/fork`: a new run from one of this run's checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Fork {
    pub step: i64,
    /// Keys to set over that checkpoint's state (through no reducer: replaced).
    #[serde(default)]
    pub state: Map<String, Value>,
}
