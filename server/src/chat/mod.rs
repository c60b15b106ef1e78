//! The end-user chat (issue #5 point 5): each user's conversations with an agent that acts
//! as them. The model is offered exactly the tools the user may call (the gateway's catalog
//! as the user sees it), and every call goes through the gateway as the user: decided, rate
//! limited and audited like any other call of theirs.
//!
//! A turn holds its conversation (a compare-and-set on its status, with a lease the turn
//! renews) while it runs in a task of its own, so the answer does not depend on the
//! request that started it staying open. A tool call that needs the user's approval (the
//! tool says it is destructive, or the rule allowing it asks for confirmation) is stored
//! as a pending card and the turn ends, the conversation `waiting`: the decision is stored,
//! and once every card is decided, a new turn runs the approved calls and goes on. Nothing
//! waits in memory, so any replica takes the decision and goes on.
//!
//! What happens is published on the conversation's `kv` channel (through Redis, every
//! replica's listeners hear it): pieces of the answer as the model writes them, each
//! message as it is stored, and status changes. The stored messages are the record.

mod turn;
mod workflow;

pub use workflow::agent_workflow;

use std::time::Duration;

use app::api::{ChatApproval, ChatEvent, ChatMessage, ConversationStatus, NewChatMessage};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::engine::llm::Llm;
use crate::engine::{Engine, Publisher};
use crate::gateway::Gateway;
use crate::identity::Principal;
use crate::kv::Kv;
use crate::store::{ConversationRow, NewMessage, Store, StoreError, TurnStart};
use crate::telemetry::Metrics;
use crate::tenancy::TenantScope;

/// How long a turn holds its conversation without renewing: a turn whose replica died
/// frees it this long after its last renewal.
const TURN_LEASE: Duration = Duration::from_secs(60);

/// A conversation created without a title has this one until its first message names it.
pub const DEFAULT_TITLE: &str = "New conversation";

/// The most characters of a first message that make a title.
const TITLE_CHARS: usize = 60;

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The conversation cannot take this now (a turn runs, or approvals wait).
    #[error("{0}")]
    Busy(String),
    /// The request does not fit (an approval for a card that does not wait).
    #[error("{0}")]
    Refused(String),
    /// What the request needs cannot be reached (`kv`).
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Cheap to clone.
#[derive(Clone)]
pub struct Chat {
    store: Store,
    gateway: Gateway,
    llm: Llm,
    engine: Engine,
    kv: Kv,
    metrics: Metrics,
    publisher: Publisher,
}

/// The `kv` channel a conversation's running turn listens on for the user's stop.
fn stop_channel(conversation: Uuid) -> String {
    format!("chat:{conversation}:stop")
}

/// The `kv` channel a conversation's events are published on.
pub fn channel(conversation: Uuid) -> String {
    format!("chat:{conversation}")
}

impl Chat {
    pub fn new(
        store: Store,
        kv: Kv,
        gateway: Gateway,
        llm: Llm,
        engine: Engine,
        metrics: Metrics,
    ) -> Self {
        Self {
            store,
            gateway,
            llm,
            engine,
            metrics,
            publisher: Publisher::new(kv.clone()),
            kv,
        }
    }

    fn publish(&self, conversation: Uuid, event: &ChatEvent) {
        if let Ok(bytes) = serde_json::to_vec(event) {
            self.publisher.send(channel(conversation), bytes);
        }
    }

    /// Adds the user's message and starts the agent's turn; the answer is published as it
    /// comes and stored. Refused while a turn runs or approvals wait.
    pub async fn send(
        &self,
        scope: &TenantScope,
        principal: &Principal,
        conversation: &ConversationRow,
        message: &NewChatMessage,
    ) -> Result<ChatMessage, ChatError> {
        let asked = message
            .tool
            .as_ref()
            .map(|tool| serde_json::json!({ "tool": tool }));
        let first = NewMessage {
            role: "user",
            content: &message.content,
            detail: asked.as_ref(),
            card: None,
        };
        // Listening before the turn can begin: a stop sent as soon as it has is heard.
        let stop = self.stop_listener(conversation.id).await;
        let start = self.store.begin_turn(
            scope,
            principal.user_id,
            conversation.id,
            ConversationStatus::Idle,
            TURN_LEASE,
            Some(&first),
        );
        let TurnStart::Taken(Some(stored)) = start.await? else {
            return Err(ChatError::Busy(match conversation.status() {
                ConversationStatus::Waiting => {
                    "tool calls wait for your approval: decide them first".into()
                }
                _ => "the conversation is answering a message; wait for its answer".into(),
            }));
        };
        if stored.seq == 1 && conversation.title == DEFAULT_TITLE {
            self.title_by(scope, principal, conversation, &message.content)
                .await;
        }
        self.publish(
            conversation.id,
            &ChatEvent::Status {
                status: ConversationStatus::Answering,
            },
        );
        self.publish(
            conversation.id,
            &ChatEvent::Message {
                message: stored.clone(),
            },
        );
        self.spawn_turn(scope, principal, conversation, stop);
        Ok(*stored)
    }

    /// Names an untitled conversation by its first message. The message is stored either
    /// way: a failure here leaves the title as it was.
    async fn title_by(
        &self,
        scope: &TenantScope,
        principal: &Principal,
        conversation: &ConversationRow,
        content: &str,
    ) {
        let line = content.trim().lines().next().unwrap_or_default().trim();
        let mut title: String = line.chars().take(TITLE_CHARS).collect();
        if line.chars().count() > TITLE_CHARS {
            title.push('…');
        }
        let record = crate::store::ConversationRecord {
            title: &title,
            provider: conversation.provider.as_deref(),
            instructions: conversation.instructions.as_deref(),
            workflow_id: conversation.workflow_id,
        };
        let renamed =
            (self.store).update_conversation(scope, principal.user_id, conversation.id, &record);
        if let Err(error) = renamed.await {
            tracing::warn!(%error, conversation = %conversation.id, "the conversation keeps its title");
        }
    }

    /// Takes the user's decision on a card waiting for it. Once no card waits, a turn runs
    /// the approved calls and the agent goes on.
    pub async fn decide(
        &self,
        scope: &TenantScope,
        principal: &Principal,
        conversation: &ConversationRow,
        approval: &ChatApproval,
    ) -> Result<ChatMessage, ChatError> {
        let found = (self.store).chat_message(scope, conversation.id, approval.message_id);
        let stored = match found.await {
            Ok(stored) => stored,
            Err(StoreError::NotFound(_)) => {
                return Err(ChatError::Refused(
                    "no message with this id in the conversation".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let Some(mut card) = stored.message.card.clone() else {
            return Err(ChatError::Refused("the message is not a tool call".into()));
        };
        if card.status != turn::PENDING {
            return Err(ChatError::Busy(format!(
                "this tool call was decided already (it is {})",
                card.status
            )));
        }
        card.status = if approval.approve {
            turn::APPROVED
        } else {
            turn::DECLINED
        }
        .into();
        let decided = (self.store)
            .update_card(scope, stored.message.id, turn::PENDING, &card)
            .await?;
        if !decided {
            return Err(ChatError::Busy("this tool call was decided already".into()));
        }
        let mut message = stored.message;
        message.card = Some(card);
        self.publish(
            conversation.id,
            &ChatEvent::Message {
                message: Box::new(message.clone()),
            },
        );
        // The last decision starts the turn; earlier ones leave the conversation waiting.
        let history = self
            .store
            .latest_chat_messages(scope, conversation.id, turn::MAX_HISTORY)
            .await?;
        let waiting = history.iter().any(|m| {
            m.message
                .card
                .as_ref()
                .is_some_and(|c| c.status == turn::PENDING)
        });
        if !waiting {
            let stop = self.stop_listener(conversation.id).await;
            let start = self.store.begin_turn(
                scope,
                principal.user_id,
                conversation.id,
                ConversationStatus::Waiting,
                TURN_LEASE,
                None,
            );
            if let TurnStart::Taken(_) = start.await? {
                self.publish(
                    conversation.id,
                    &ChatEvent::Status {
                        status: ConversationStatus::Answering,
                    },
                );
                self.spawn_turn(scope, principal, conversation, stop);
            }
        }
        Ok(message)
    }

    /// Asks the turn that holds the conversation to stop, on whichever replica it runs:
    /// the model's answer is dropped, a tool call in flight is withdrawn (an agent
    /// workflow's run cancelled), and the turn ends saying it was stopped.
    pub async fn stop(&self, conversation: &ConversationRow) -> Result<(), ChatError> {
        if conversation.status() != ConversationStatus::Answering {
            return Err(ChatError::Busy(
                "the conversation is not answering: there is nothing to stop".into(),
            ));
        }
        (self.kv)
            .publish(&stop_channel(conversation.id), b"stop")
            .await
            .map_err(|e| ChatError::Unavailable(format!("the turn cannot be reached now: {e}")))
    }

    async fn stop_listener(&self, conversation: Uuid) -> Option<crate::kv::Subscription> {
        match self.kv.subscribe(&stop_channel(conversation)).await {
            Ok(listener) => Some(listener),
            Err(error) => {
                tracing::warn!(%error, %conversation, "this turn cannot be stopped");
                None
            }
        }
    }

    fn spawn_turn(
        &self,
        scope: &TenantScope,
        principal: &Principal,
        conversation: &ConversationRow,
        listener: Option<crate::kv::Subscription>,
    ) {
        let stop = CancellationToken::new();
        if let Some(mut listener) = listener {
            let stop = stop.clone();
            // Ends with the turn, which cancels `stop` as it ends.
            tokio::spawn(async move {
                tokio::select! {
                    heard = listener.next() => if heard.is_some() { stop.cancel() },
                    () = stop.cancelled() => {}
                }
            });
        }
        let turn = turn::Turn {
            chat: self.clone(),
            scope: *scope,
            principal: principal.clone(),
            conversation: conversation.clone(),
            stop,
        };
        tokio::spawn(turn.run());
    }
}
