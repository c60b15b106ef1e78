//! Run events (issue #5 point 3): what a run does, step by step, as
//! `GET /api/v1/tenants/{tenant_id}/runs/{run_id}/events` streams it (server-sent events,
//! each named by its `type`, with its `seq` as the event id) and as it is stored for replay.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::RunStatus;

/// One thing that happened in a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RunEvent {
    /// Increasing within the run (microseconds since the epoch, made unique): the SSE event
    /// id, and what `Last-Event-ID` resumes after. Absent on `tokens`, which are only live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    pub run_id: Uuid,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub kind: RunEventKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEventKind {
    /// The run moved: started, paused at approvals, resumed, or ended.
    RunStatus {
        status: RunStatus,
        step: i64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        waiting_on: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A node of the step after checkpoint `step` began.
    NodeStarted {
        step: i64,
        node: String,
        kind: String,
    },
    /// It ended: `ok`, `paused` (an approval) or `failed`.
    NodeFinished {
        step: i64,
        node: String,
        outcome: String,
        ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A tool call the node made through the gateway.
    ToolCall {
        step: i64,
        node: String,
        tool: String,
        ms: u64,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Text an `llm` node's model produced, as it streams.
    Tokens {
        step: i64,
        node: String,
        text: String,
    },
    /// Checkpoint `step` committed: the nodes that ran, what comes next, and the state keys
    /// whose value changed, with their new value.
    Step {
        step: i64,
        ran: Vec<String>,
        next: Vec<String>,
        delta: Map<String, Value>,
    },
}

impl RunEventKind {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            RunEventKind::RunStatus { .. } => "run_status",
            RunEventKind::NodeStarted { .. } => "node_started",
            RunEventKind::NodeFinished { .. } => "node_finished",
            RunEventKind::ToolCall { .. } => "tool_call",
            RunEventKind::Tokens { .. } => "tokens",
            RunEventKind::Step { .. } => "step",
        }
    }

    /// Nothing follows it.
    pub fn is_final(&self) -> bool {
        matches!(self, RunEventKind::RunStatus { status, .. } if status.is_final())
    }
}

/// The stored events of a run after `after`, oldest first (`GET …/runs/{run_id}/events`
/// with `Accept: application/json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RunEventList {
    pub items: Vec<RunEvent>,
    /// More are stored: ask again with `after` = the last item's `seq`.
    pub more: bool,
}

/// Query of `GET …/runs/{run_id}/events`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
pub struct RunEventQuery {
    /// Only events after this `seq` (the SSE `Last-Event-ID` header wins over it).
    pub after: Option<i64>,
}
