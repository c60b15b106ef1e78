//! The end-user chat (issue #5 point 5): a user's conversations with an agent that calls
//! the tools this user may call, under `/api/v1/tenants/{tenant_id}/conversations`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// The most characters of one message a user may send.
pub const MAX_MESSAGE_CHARS: usize = 32_000;

/// Where a conversation is: `idle`, `answering` (a turn runs) or `waiting` (tool calls wait
/// for the user's approval).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    Idle,
    Answering,
    Waiting,
}

impl ConversationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Answering => "answering",
            Self::Waiting => "waiting",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "idle" => Self::Idle,
            "answering" => Self::Answering,
            "waiting" => Self::Waiting,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Conversation {
    pub id: Uuid,
    pub title: String,
    /// The LLM provider answering; absent: the tenant's only enabled one.
    pub provider: Option<String>,
    /// Instructions for the built-in agent (its system message).
    pub instructions: Option<String>,
    /// The agent workflow that answers, in place of the built-in agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<Uuid>,
    pub status: ConversationStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST …/conversations` and `PATCH …/conversations/{id}`; every field optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConversationInput {
    /// 1–200 characters; a new conversation without one is titled by its first message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// An agent workflow to answer in place of the built-in agent: its state declares
    /// `message` (the user's message, a string) and `answer` (the reply, a string), and may
    /// declare `history` (an array of `{role, content}`, the conversation before it). Its
    /// tool calls show as cards; `provider` and `instructions` are the built-in agent's, so
    /// they cannot be set with it. The nil UUID clears it on `PATCH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ConversationList {
    pub items: Vec<Conversation>,
}

/// One message: the user's, the assistant's, or a tool call's card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChatMessage {
    pub id: Uuid,
    /// Its place in the conversation, from 1.
    pub seq: i64,
    /// `user`, `assistant` or `tool`.
    pub role: String,
    pub content: String,
    /// For `user`: the tool they asked the agent to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// For `assistant`: why the turn failed (no answer came).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For `tool`: the call and how it went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<ToolCard>,
    pub created_at: DateTime<Utc>,
}

/// A tool call as the chat shows it: inputs, outputs, duration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ToolCard {
    /// The model's id for the call.
    pub call_id: String,
    /// The gateway's name, `upstream.tool`.
    pub tool: String,
    pub arguments: Value,
    /// `pending_approval`, `running`, `done`, `error` or `declined`.
    pub status: String,
    /// Why it needs the user's approval (a `destructiveHint` tool, a rule asking for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChatMessageList {
    pub items: Vec<ChatMessage>,
}

/// Body of `POST …/conversations/{id}/messages`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewChatMessage {
    pub content: String,
    /// Makes the agent's first step a call of this tool (`upstream.tool`), as a user's
    /// "use this tool" does; absent: the model chooses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
}

/// Body of `POST …/conversations/{id}/approvals`: the user's answer to a card waiting for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChatApproval {
    /// The `tool` message whose card waits.
    pub message_id: Uuid,
    pub approve: bool,
}

/// What a conversation's stream says, as server-sent events named by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatEvent {
    /// The conversation's status: first on every stream, then at each change. A stream
    /// of a turn ends when it is no longer `answering`.
    Status { status: ConversationStatus },
    /// A piece of the assistant's answer as the model writes it.
    Text { text: String },
    /// A message stored: the user's, a tool card (pending approval, running, finished), or
    /// the assistant's answer.
    Message { message: Box<ChatMessage> },
    /// The turn failed; what was stored stays.
    Error { message: String },
}

impl ChatEvent {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Status { .. } => "status",
            Self::Text { .. } => "text",
            Self::Message { .. } => "message",
            Self::Error { .. } => "error",
        }
    }
}
