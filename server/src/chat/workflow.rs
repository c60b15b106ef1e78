//! A conversation answered by an agent workflow, in place of the built-in agent (issue #5
//! point 5, "choice of agent workflow"). Each message starts a run of the workflow acting
//! for the user, so its tool calls pass the gateway as theirs, exactly as a run started
//! from the console. The contract is three state keys: `message` (the user's message, a
//! string) and `answer` (the reply, a string) are required, `history` (an array of
//! `{role, content}`, the conversation before the message) is given when declared.
//!
//! The turn follows the run: the model's text is relayed as it streams (the run's `tokens`
//! events), and when the run ends its tool calls become cards (from its stored events, so
//! none is lost to a publication missed) and its `answer` the assistant's message. A run
//! that pauses at an approval node ends the turn with a message saying where to decide it:
//! its answer stays in the run's trace.

use std::time::{Duration, Instant};

use app::api::workflow::definition::KeyType;
use app::api::workflow::{Graph, compile};
use app::api::{
    ChatEvent, ConversationStatus, RunEvent, RunEventKind, RunInput, RunStatus, ToolCard, Workflow,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::turn::{Failed, Turn};
use crate::store::{NewMessage, Store, StoreError};
use crate::tenancy::TenantScope;

/// How long a turn follows its run before it leaves it to the Runs page.
const MAX_FOLLOW: Duration = Duration::from_secs(15 * 60);
/// How often the turn reads the run's status when it hears nothing.
const POLL: Duration = Duration::from_secs(2);

/// The workflow `id` with its compiled graph, when it can answer a conversation; else why
/// not (`Ok(Err)`), in words for the `workflow_id` field.
pub async fn agent_workflow(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
) -> Result<Result<(Workflow, Graph), String>, StoreError> {
    let workflow = match store.get_workflow(scope, id).await {
        Ok(workflow) => workflow,
        Err(StoreError::NotFound(_)) => {
            return Ok(Err("the tenant has no workflow with this id".into()));
        }
        Err(e) => return Err(e),
    };
    let graph = match compile(&workflow.definition) {
        Ok(graph) => graph,
        Err(problems) => {
            let first = problems.first().map(|p| p.message.clone());
            return Ok(Err(format!(
                "the workflow `{}` does not compile: {}",
                workflow.name,
                first.unwrap_or_default()
            )));
        }
    };
    Ok(contract(&graph)
        .map_err(|e| format!("the workflow `{}` cannot answer a chat: {e}", workflow.name))
        .map(|()| (workflow, graph)))
}

/// Whether the state declares what a chat gives and takes.
fn contract(graph: &Graph) -> Result<(), String> {
    for (name, wanted) in [
        ("message", KeyType::String),
        ("answer", KeyType::String),
        ("history", KeyType::Array),
    ] {
        match graph.keys.get(name) {
            None if name == "history" => {}
            None => return Err(format!("its state declares no `{name}` key")),
            Some(key) if key.kind == wanted || key.kind == KeyType::Any => {}
            Some(key) => {
                return Err(format!(
                    "its state's `{name}` is {}, not {}",
                    key.kind.name(),
                    wanted.name()
                ));
            }
        }
    }
    Ok(())
}

impl Turn {
    /// Answers the latest message with a run of the conversation's workflow.
    pub(super) async fn answer_by_workflow(
        &self,
        workflow_id: Uuid,
    ) -> Result<ConversationStatus, Failed> {
        let found = agent_workflow(&self.chat.store, &self.scope, workflow_id).await;
        let (workflow, graph) = found
            .map_err(|e| format!("the conversation's workflow could not be read: {e}"))?
            .map_err(|e| format!("the conversation's workflow cannot answer: {e}"))?;
        let input = self.run_input(&graph).await?;
        let start = (self.chat.engine).start(&self.scope, &self.principal, &workflow, &input);
        let run = start
            .await
            .map_err(|e| format!("the workflow `{}` did not start: {e}", workflow.name))?;
        let ended = self.follow(run.id).await?;
        self.cards_of(run.id).await?;
        let name = &workflow.name;
        let detail = json!({ "run": run.id });
        let status = RunStatus::parse(&ended.status).unwrap_or(RunStatus::Failed);
        let answer = match status {
            RunStatus::Succeeded => match ended.state.0.get("answer") {
                Some(Value::String(text)) if !text.trim().is_empty() => text.clone(),
                None | Some(Value::Null) | Some(Value::String(_)) => {
                    return Err(format!(
                        "the workflow `{name}` finished without an answer (run {})",
                        run.id
                    ));
                }
                Some(other) => serde_json::to_string_pretty(other).unwrap_or_default(),
            },
            RunStatus::Waiting => format!(
                "The workflow `{name}` waits for a person's decision at {} (run {}). Decide it \
                 under Approvals; its answer will be in the run's trace.",
                ended.waiting_on.0.join(", "),
                run.id
            ),
            RunStatus::Running => {
                return Err(format!(
                    "the workflow `{name}` is still running after {} minutes: follow run {} \
                     under Runs",
                    MAX_FOLLOW.as_secs() / 60,
                    run.id
                ));
            }
            RunStatus::Failed | RunStatus::Cancelled => {
                return Err(format!(
                    "the workflow `{name}` {} (run {}): {}",
                    status.as_str(),
                    run.id,
                    ended.error.as_deref().unwrap_or("no reason given")
                ));
            }
        };
        self.store_message(&NewMessage {
            role: "assistant",
            content: &answer,
            detail: Some(&detail),
            card: None,
        })
        .await?;
        Ok(ConversationStatus::Idle)
    }

    /// `message`, and `history` when the workflow declares it.
    async fn run_input(&self, graph: &Graph) -> Result<RunInput, Failed> {
        let history = self.history().await?;
        let Some(last) = history.iter().rposition(|m| m.message.role == "user") else {
            return Err("there is no message to answer".into());
        };
        let mut input = Map::new();
        let message = history[last].message.content.clone();
        input.insert("message".into(), Value::String(message));
        if graph.keys.contains_key("history") {
            let before: Vec<Value> = history[..last]
                .iter()
                .filter(|m| matches!(m.message.role.as_str(), "user" | "assistant"))
                .filter(|m| !m.message.content.is_empty())
                .map(|m| json!({ "role": m.message.role, "content": m.message.content }))
                .collect();
            input.insert("history".into(), Value::Array(before));
        }
        Ok(RunInput {
            input,
            version: None,
        })
    }

    /// Relays the run's text until it is no longer running (or the turn stops following),
    /// and returns it as it was then.
    async fn follow(&self, run: Uuid) -> Result<crate::store::RunRow, Failed> {
        let channel = crate::engine::events_channel(run);
        // Best effort: without a subscription the run is still read until it ends.
        let mut live = self.chat.kv.subscribe(&channel).await.ok();
        let until = Instant::now() + MAX_FOLLOW;
        let id = self.conversation.id;
        let mut cancelled = false;
        loop {
            if self.stop.is_cancelled() && !cancelled {
                // The run ends as cancelled; the loop sees it end.
                cancelled = true;
                let cancel = self.chat.engine.cancel(&self.scope, run);
                if let Err(error) = cancel.await {
                    tracing::warn!(%error, %run, "a stopped chat's run was not cancelled");
                }
            }
            let moved = match live.as_mut() {
                Some(live) => tokio::select! {
                    heard = live.next() => match heard {
                        Some(bytes) => match serde_json::from_slice::<RunEvent>(&bytes) {
                            Ok(RunEvent { kind: RunEventKind::Tokens { text, .. }, .. }) => {
                                self.chat.publish(id, &ChatEvent::Text { text });
                                false
                            }
                            Ok(RunEvent { kind: RunEventKind::RunStatus { .. }, .. }) => true,
                            _ => false,
                        },
                        None => true,
                    },
                    () = tokio::time::sleep(POLL) => true,
                    () = self.stop.cancelled(), if !cancelled => continue,
                },
                None => {
                    tokio::select! {
                        () = tokio::time::sleep(POLL) => {}
                        () = self.stop.cancelled(), if !cancelled => continue,
                    }
                    true
                }
            };
            if !moved {
                continue;
            }
            let row = self.chat.store.get_run(&self.scope, run).await;
            let row = row.map_err(|e| format!("the run could not be read: {e}"))?;
            if row.status != RunStatus::Running.as_str() || Instant::now() > until {
                return Ok(row);
            }
        }
    }

    /// The run's tool calls as cards, from its stored events.
    async fn cards_of(&self, run: Uuid) -> Result<(), Failed> {
        let mut after = 0;
        loop {
            let read = self.chat.store.run_events(&self.scope, run, after).await;
            let (events, more) = read.map_err(|e| format!("the run could not be read: {e}"))?;
            for event in &events {
                if let RunEventKind::ToolCall {
                    step,
                    node,
                    tool,
                    ms,
                    ok,
                    error,
                } = &event.kind
                {
                    let card = ToolCard {
                        call_id: format!("{run}:{step}:{node}"),
                        tool: tool.clone(),
                        arguments: Value::Null,
                        status: if *ok { "done" } else { "error" }.into(),
                        error: error.clone(),
                        ms: Some(*ms),
                        ..ToolCard::default()
                    };
                    self.store_card(card).await?;
                }
            }
            match events.last().and_then(|e| e.seq) {
                Some(seq) if more => after = seq,
                _ => return Ok(()),
            }
        }
    }
}
