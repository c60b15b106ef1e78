//! One turn of the agent: the model answers the conversation so far, calling the user's
//! tools as it goes, until it answers in words, a call waits for the user's approval, or
//! the rounds run out (the last round offers no tools, so it must answer).

use std::time::Instant;

use app::api::{ChatEvent, ConversationStatus, ToolCard};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::{Chat, TURN_LEASE};
use crate::audit::Origin;
use crate::engine::llm::Purpose;
use crate::engine::llm::tools::{Offered, model_text};
use crate::engine::llm::wire::{ChatRequest, Message, Role, ToolCall, ToolChoice};
use crate::gateway::rounds::Answer;
use crate::gateway::{Caller, Control};
use crate::identity::Principal;
use crate::store::{ConversationRow, NewMessage, StoredMessage};
use crate::tenancy::TenantScope;

/// A card's statuses.
pub(super) const PENDING: &str = "pending_approval";
pub(super) const APPROVED: &str = "approved";
pub(super) const DECLINED: &str = "declined";
const RUNNING: &str = "running";
const DONE: &str = "done";
const ERROR: &str = "error";

/// The most messages of a conversation given back to the model (the latest).
pub(super) const MAX_HISTORY: i64 = 400;
/// Completions per turn; the last offers no tools.
const MAX_ROUNDS: usize = 6;
/// The longest answer one completion may write.
const MAX_ANSWER_TOKENS: u32 = 1024;

pub(super) struct Turn {
    pub chat: Chat,
    pub scope: TenantScope,
    pub principal: Principal,
    pub conversation: ConversationRow,
    /// Cancelled when the user stops the turn, and as the turn ends.
    pub stop: CancellationToken,
}

/// Why a turn ended without an answer, in words for the user.
pub(super) type Failed = String;

impl Turn {
    /// Runs the turn to its end and frees the conversation: `idle`, or `waiting` when calls
    /// wait for approval. A failure is stored as the assistant's message, with its reason.
    pub(super) async fn run(self) {
        let id = self.conversation.id;
        let renewer = {
            let (store, scope) = (self.chat.store.clone(), self.scope);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(TURN_LEASE / 3).await;
                    if let Err(error) = store.renew_turn(&scope, id, TURN_LEASE).await {
                        tracing::warn!(%error, conversation = %id, "a chat turn's lease was not renewed");
                    }
                }
            })
        };
        let started = Instant::now();
        let answered = self.converse().await;
        let outcome = match (&answered, self.stop.is_cancelled()) {
            (Ok(ConversationStatus::Waiting), _) => "waiting",
            (Ok(_), _) => "answered",
            (Err(_), true) => "stopped",
            (Err(_), false) => "failed",
        };
        let by = match self.conversation.workflow_id {
            Some(_) => "workflow",
            None => "agent",
        };
        (self.chat.metrics).chat_turn(by, outcome, started.elapsed());
        let status = match answered {
            Ok(status) => status,
            Err(reason) => {
                let reason = if self.stop.is_cancelled() {
                    format!("you stopped the answer ({reason})")
                } else {
                    reason
                };
                let detail = json!({ "error": reason });
                let failed = NewMessage {
                    role: "assistant",
                    content: "",
                    detail: Some(&detail),
                    card: None,
                };
                self.store_message(&failed).await.ok();
                self.chat.publish(id, &ChatEvent::Error { message: reason });
                ConversationStatus::Idle
            }
        };
        renewer.abort();
        self.stop.cancel();
        if let Err(error) = self.chat.store.end_turn(&self.scope, id, status).await {
            // The lease runs out and frees the conversation.
            tracing::error!(%error, conversation = %id, "a chat turn did not end cleanly");
        }
        self.chat.publish(id, &ChatEvent::Status { status });
    }

    async fn converse(&self) -> Result<ConversationStatus, Failed> {
        if let Some(workflow) = self.conversation.workflow_id {
            return self.answer_by_workflow(workflow).await;
        }
        let origin = self.origin();
        let caller = Caller::rest(&self.scope, &self.principal, &origin);
        let offered = Offered::from_catalog(&self.chat.gateway, &caller, |_| true)
            .await
            .map_err(|e| format!("the tools could not be listed: {e}"))?;
        let endpoint = (self.chat.llm)
            .provider(&self.scope, self.conversation.provider.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        // Calls the user decided since the last turn: the approved ones run now.
        for stored in self.history().await? {
            if let Some(card) = stored.message.card.filter(|c| c.status == APPROVED) {
                self.execute(&caller, stored.message.id, card, APPROVED, true)
                    .await?;
            }
        }
        let purpose = Purpose {
            kind: "chat",
            run_id: None,
            user_id: Some(self.principal.user_id),
        };
        for round in 1..=MAX_ROUNDS {
            if self.stop.is_cancelled() {
                return Err("stopped before the model was asked again".into());
            }
            let history = self.history().await?;
            let (messages, asked) = wire(&history, self.conversation.instructions.as_deref());
            // A tool the user asked for is called first, then the model answers with its
            // result; otherwise the model chooses, and must answer in the last round.
            let (tools, tool_choice) = match asked {
                Asked::Pending(tool) => match offered.wire_name(&tool) {
                    Some(wire) => (offered.specs.clone(), Some(ToolChoice::Function(wire))),
                    None => return Err(format!("you cannot call a tool named `{tool}`")),
                },
                Asked::Done => (Vec::new(), None),
                Asked::Nothing if round == MAX_ROUNDS || offered.specs.is_empty() => {
                    (Vec::new(), None)
                }
                Asked::Nothing => (offered.specs.clone(), Some(ToolChoice::Auto)),
            };
            let offering = !tools.is_empty();
            let request = ChatRequest {
                messages,
                tools,
                tool_choice,
                max_tokens: Some(MAX_ANSWER_TOKENS),
                stream: true,
                ..ChatRequest::default()
            };
            let id = self.conversation.id;
            let mut on_text = |text: &str| {
                let text = text.to_owned();
                self.chat.publish(id, &ChatEvent::Text { text });
            };
            let completion = self
                .chat
                .llm
                .chat(
                    &self.scope,
                    &endpoint,
                    purpose,
                    request,
                    &mut on_text,
                    &self.stop,
                )
                .await
                .map_err(|e| e.to_string())?;
            let message = completion.message;
            if message.tool_calls.is_empty() || !offering {
                self.store_message(&NewMessage {
                    role: "assistant",
                    content: &message.content,
                    detail: None,
                    card: None,
                })
                .await?;
                return Ok(ConversationStatus::Idle);
            }
            let detail = json!({ "tool_calls": message.tool_calls });
            self.store_message(&NewMessage {
                role: "assistant",
                content: &message.content,
                detail: Some(&detail),
                card: None,
            })
            .await?;
            let mut waiting = false;
            for call in &message.tool_calls {
                waiting |= self.take_call(&caller, &offered, call).await?;
            }
            if waiting {
                return Ok(ConversationStatus::Waiting);
            }
        }
        Ok(ConversationStatus::Idle)
    }

    /// One call the model asked for: refused at once when it cannot be made, left for the
    /// user's approval when it needs it (`true`), run otherwise.
    async fn take_call(
        &self,
        caller: &Caller<'_>,
        offered: &Offered,
        call: &ToolCall,
    ) -> Result<bool, Failed> {
        let mut card = ToolCard {
            call_id: call.id.clone(),
            tool: call.function.name.clone(),
            ..ToolCard::default()
        };
        let raw = call.function.arguments.trim();
        let parsed = serde_json::from_str::<Value>(if raw.is_empty() { "{}" } else { raw });
        let tool = offered.gateway_names.get(&call.function.name);
        let (tool, arguments) = match (tool, parsed) {
            (Some(tool), Ok(Value::Object(arguments))) => (tool.clone(), arguments),
            (None, _) => {
                card.status = ERROR.into();
                card.error = Some(format!("there is no tool `{}`", call.function.name));
                self.store_card(card).await?;
                return Ok(false);
            }
            (Some(tool), _) => {
                card.tool = tool.clone();
                card.arguments = Value::String(raw.to_owned());
                card.status = ERROR.into();
                card.error = Some(format!("the arguments are not a JSON object: {raw}"));
                self.store_card(card).await?;
                return Ok(false);
            }
        };
        card.tool = tool.clone();
        card.arguments = Value::Object(arguments.clone());
        let reason = if offered.destructive(&tool) {
            Some("the tool says it may change or delete data (destructiveHint)".to_owned())
        } else {
            let rule = self
                .chat
                .gateway
                .confirmation_rule(caller, &tool, &arguments);
            rule.await
                .map_err(|e| e.to_string())?
                .map(|rule| format!("rule `{rule}` allows it once you confirm"))
        };
        if let Some(reason) = reason {
            card.status = PENDING.into();
            card.approval_reason = Some(reason);
            self.store_card(card).await?;
            return Ok(true);
        }
        card.status = RUNNING.into();
        let id = self.store_card(card.clone()).await?;
        self.execute(caller, id, card, RUNNING, false).await?;
        Ok(false)
    }

    /// Runs a card's call through the gateway as the user (`confirmed`: they approved it)
    /// and stores how it went over the card whose status was `from`.
    async fn execute(
        &self,
        caller: &Caller<'_>,
        message: uuid::Uuid,
        mut card: ToolCard,
        from: &str,
        confirmed: bool,
    ) -> Result<(), Failed> {
        let store = &self.chat.store;
        if from != RUNNING {
            card.status = RUNNING.into();
            let taken = store.update_card(&self.scope, message, from, &card);
            if !taken.await.map_err(|e| e.to_string())? {
                return Ok(());
            }
            self.publish_card(message).await?;
        }
        let arguments = match &card.arguments {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        let control = Control {
            confirmed,
            cancel: self.stop.child_token(),
            ..Control::default()
        };
        let started = Instant::now();
        let called = self
            .chat
            .gateway
            .call(caller, &card.tool, arguments, control)
            .await;
        card.ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        match called.map(|c| c.result) {
            Ok(Answer::Complete(result)) if result.is_error == Some(true) => {
                card.status = ERROR.into();
                card.error = Some(model_text(&result));
            }
            Ok(Answer::Complete(result)) => {
                card.status = DONE.into();
                card.result = Some(model_text(&result));
            }
            Ok(Answer::InputRequired(_)) => {
                card.status = ERROR.into();
                card.error = Some(
                    "the tool asked for input (elicitation or sampling), which the chat cannot give"
                        .into(),
                );
            }
            Err(e) => {
                card.status = ERROR.into();
                card.error = Some(e.to_string());
            }
        }
        let stored = store.update_card(&self.scope, message, RUNNING, &card);
        stored.await.map_err(|e| e.to_string())?;
        self.publish_card(message).await
    }

    fn origin(&self) -> Origin {
        // The audit record names the conversation in place of an HTTP request id.
        Origin {
            request_id: Some(format!("chat:{}", self.conversation.id)),
            client_addr: None,
        }
    }

    pub(super) async fn history(&self) -> Result<Vec<StoredMessage>, Failed> {
        let store = &self.chat.store;
        let id = self.conversation.id;
        let last = store.latest_chat_messages(&self.scope, id, MAX_HISTORY);
        let mut last = last
            .await
            .map_err(|e| format!("the conversation could not be read: {e}"))?;
        // Cut to begin at a user's message: a tool result without the call before it is
        // refused by OpenAI-compatible servers.
        let start = last.iter().position(|m| m.message.role == "user");
        last.drain(..start.unwrap_or(last.len()));
        Ok(last)
    }

    pub(super) async fn store_message(&self, new: &NewMessage<'_>) -> Result<uuid::Uuid, Failed> {
        let id = self.conversation.id;
        let message = self
            .chat
            .store
            .add_chat_message(&self.scope, id, new)
            .await
            .map_err(|e| format!("the answer could not be stored: {e}"))?;
        let stored = message.id;
        self.chat.publish(
            id,
            &ChatEvent::Message {
                message: Box::new(message),
            },
        );
        Ok(stored)
    }

    pub(super) async fn store_card(&self, card: ToolCard) -> Result<uuid::Uuid, Failed> {
        self.store_message(&NewMessage {
            role: "tool",
            content: "",
            detail: None,
            card: Some(&card),
        })
        .await
    }

    async fn publish_card(&self, message: uuid::Uuid) -> Result<(), Failed> {
        let id = self.conversation.id;
        let stored = self.chat.store.chat_message(&self.scope, id, message);
        let stored = stored.await.map_err(|e| e.to_string())?;
        let message = stored.message;
        self.chat.publish(
            id,
            &ChatEvent::Message {
                message: Box::new(message),
            },
        );
        Ok(())
    }
}

/// Whether the latest user message asked for a tool, and whether it was called.
enum Asked {
    Nothing,
    Pending(String),
    Done,
}

/// The conversation as the model reads it, and what the latest user message asked for.
fn wire(history: &[StoredMessage], instructions: Option<&str>) -> (Vec<Message>, Asked) {
    let mut messages = Vec::new();
    if let Some(instructions) = instructions.filter(|i| !i.trim().is_empty()) {
        messages.push(Message::new(Role::System, instructions));
    }
    let mut asked = Asked::Nothing;
    for stored in history {
        let message = &stored.message;
        match message.role.as_str() {
            "user" => {
                messages.push(Message::new(Role::User, message.content.clone()));
                asked = message.tool.clone().map_or(Asked::Nothing, Asked::Pending);
            }
            "assistant" if message.error.is_some() => {}
            "assistant" => {
                let calls = stored
                    .detail
                    .as_ref()
                    .and_then(|d| d.get("tool_calls"))
                    .and_then(|c| serde_json::from_value::<Vec<ToolCall>>(c.clone()).ok())
                    .unwrap_or_default();
                messages.push(Message {
                    role: Role::Assistant,
                    content: message.content.clone(),
                    tool_calls: calls,
                    tool_call_id: None,
                });
            }
            _ => {
                let Some(card) = &message.card else { continue };
                if let Asked::Pending(_) = asked {
                    asked = Asked::Done;
                }
                messages.push(Message::tool_result(&card.call_id, outcome(card)));
            }
        }
    }
    (messages, asked)
}

/// What the model reads of a card.
fn outcome(card: &ToolCard) -> String {
    match card.status.as_str() {
        DONE => card.result.clone().unwrap_or_default(),
        DECLINED => "the user declined this call".into(),
        ERROR => format!(
            "error: {}",
            card.error.as_deref().unwrap_or("the call failed")
        ),
        // A turn that died while the call ran: nobody knows whether it happened.
        _ => "error: the outcome of this call is unknown (the turn was interrupted)".into(),
    }
}
