//! SEP-2322 the other way round: a session-era upstream that asks its question mid-call
//! (`elicitation/create`, `sampling/createMessage`, `roots/list`) while the caller is a
//! 2026-07-28 client, which takes questions only as an `input_required` result and answers
//! by repeating its request. The call is *parked*: it keeps running on this replica, held
//! by a task of its own, and the caller gets the question with a sealed state naming the
//! parked call. The repeat may reach any replica; it hands the answer over `kv`
//! (`mcp:parked:{id}:answer`) and waits on `mcp:parked:{id}:next` for what the call did
//! next: finished (its result), failed, or asked again (another round). The last outcome
//! is also kept under a key, for a repeat that comes after the call already ended.
//!
//! A parked call is bounded by its upstream's own call timeout, and by [`ANSWER_WAIT`] for
//! each answer: a caller that never repeats its request leaves nothing running.

use std::time::Duration;

use rmcp::ErrorData as McpError;
#[allow(deprecated)] // sampling and roots: deprecated by SEP-2577, still 2026-07-28 questions
use rmcp::model::{
    ClientResult, CreateMessageResult, ElicitResult, InputRequest, ListRootsResult, ServerRequest,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::asks::{Ask, Asker, Message};
use super::pool::CallError;
use super::rounds::Answer;
use crate::kv::Kv;
use crate::telemetry::Metrics;

/// How long a parked call waits for its caller to repeat the request with an answer, and
/// how long a repeat waits for what the call does next.
pub const ANSWER_WAIT: Duration = Duration::from_secs(120);

fn answer_channel(id: Uuid) -> String {
    format!("mcp:parked:{id}:answer")
}

fn next_channel(id: Uuid) -> String {
    format!("mcp:parked:{id}:next")
}

fn last_key(id: Uuid) -> String {
    format!("mcp:parked:{id}:last")
}

/// The caller's answer to round `round`.
#[derive(Serialize, Deserialize)]
struct Answered {
    round: u32,
    answer: Value,
}

/// What a parked call did after an answer.
#[derive(Serialize, Deserialize)]
#[serde(tag = "next", rename_all = "snake_case")]
pub enum Next {
    /// Round `round`'s question.
    Ask {
        round: u32,
        request: Value,
    },
    /// The upstream's result.
    Done {
        result: Value,
    },
    /// The upstream refused (a JSON-RPC error) or the call failed.
    Refused {
        error: McpError,
    },
    Failed {
        message: String,
    },
}

/// A question in the form a 2026-07-28 caller takes it, with its kind; `None` for a server
/// request SEP-2322 does not carry.
pub fn as_input(request: &ServerRequest) -> Option<InputRequest> {
    match request {
        ServerRequest::CreateMessageRequest(r) => Some(InputRequest::CreateMessage(r.clone())),
        ServerRequest::ElicitRequest(r) => Some(InputRequest::Elicitation(r.clone())),
        ServerRequest::ListRootsRequest(r) => Some(InputRequest::ListRoots(r.clone())),
        _ => None,
    }
}

/// The caller's answer as the result the upstream's request expects.
#[allow(deprecated)]
fn client_result(request: &ServerRequest, answer: Value) -> Result<ClientResult, McpError> {
    let bad = |e: serde_json::Error| {
        McpError::invalid_params(format!("the caller's answer is malformed: {e}"), None)
    };
    Ok(match request {
        ServerRequest::CreateMessageRequest(_) => ClientResult::CreateMessageResult(Box::new(
            serde_json::from_value::<CreateMessageResult>(answer).map_err(bad)?,
        )),
        ServerRequest::ElicitRequest(_) => {
            ClientResult::ElicitResult(serde_json::from_value::<ElicitResult>(answer).map_err(bad)?)
        }
        ServerRequest::ListRootsRequest(_) => ClientResult::ListRootsResult(
            serde_json::from_value::<ListRootsResult>(answer).map_err(bad)?,
        ),
        _ => return Err(McpError::invalid_request("not a question", None)),
    })
}

fn outcome<T: Serialize>(
    joined: Result<Result<Answer<T>, CallError>, tokio::task::JoinError>,
) -> Next {
    match joined {
        Ok(Ok(Answer::Complete(result))) => Next::Done {
            result: serde_json::to_value(result).unwrap_or(Value::Null),
        },
        // An upstream that speaks the session era does not answer `input_required`.
        Ok(Ok(Answer::InputRequired(_))) => Next::Failed {
            message: "the upstream answered input_required mid-call".into(),
        },
        Ok(Err(CallError::Refused(_, error))) => Next::Refused { error },
        Ok(Err(error)) => Next::Failed {
            message: error.to_string(),
        },
        Err(_) => Next::Failed {
            message: "the call ended abnormally".into(),
        },
    }
}

/// Holds a call whose upstream asked `ask` (round 1), until it ends.
pub struct Holder<T> {
    pub kv: Kv,
    pub metrics: Metrics,
    pub id: Uuid,
    pub call: JoinHandle<Result<Answer<T>, CallError>>,
    /// Further questions and log messages from the upstream for this call.
    pub asks: mpsc::UnboundedReceiver<Message>,
    /// Where the caller's log messages would have gone (dropped: no stream to carry them).
    pub logs: Option<Asker>,
}

impl<T: Serialize + Send + 'static> Holder<T> {
    /// Starts holding: subscribed to answers before it returns, so none is missed.
    pub async fn start(self, ask: Ask) -> Result<(), crate::kv::KvError> {
        let answers = self.kv.subscribe(&answer_channel(self.id)).await?;
        self.metrics.parked_calls(1.0);
        tokio::spawn(self.hold(ask, answers));
        Ok(())
    }

    async fn hold(mut self, mut pending: Ask, mut answers: crate::kv::Subscription) {
        let mut round = 1;
        let next = loop {
            // The caller's answer to the pending question.
            let answered = tokio::select! {
                joined = &mut self.call => break outcome(joined),
                () = tokio::time::sleep(ANSWER_WAIT) => None,
                message = answers.next() => message,
            };
            let Some(answered) = answered.and_then(|b| serde_json::from_slice::<Answered>(&b).ok())
            else {
                self.call.abort();
                break Next::Failed {
                    message: "the caller did not answer in time".into(),
                };
            };
            if answered.round != round {
                continue;
            }
            let result = client_result(&pending.request, answered.answer);
            let Ask { answer: reply, .. } = pending;
            let _ = reply.send(result);
            // What the call does next: end, or ask again.
            let ended = loop {
                let message = tokio::select! {
                    joined = &mut self.call => break Err(outcome(joined)),
                    message = self.asks.recv() => message,
                };
                match message {
                    Some(Message::Ask(ask)) => match as_input(&ask.request) {
                        Some(request) => break Ok((ask, request)),
                        None => refuse(ask, "the gateway's caller takes no such request"),
                    },
                    Some(Message::Log(log)) => {
                        if let Some(logs) = &self.logs {
                            let _ = logs.send(Message::Log(log));
                        }
                    }
                    // No more questions can come: the call is ending.
                    None => break Err(outcome((&mut self.call).await)),
                }
            };
            let (ask, request) = match ended {
                Ok(asked) => asked,
                Err(ended) => break ended,
            };
            round += 1;
            pending = ask;
            let next = Next::Ask {
                round,
                request: serde_json::to_value(request).unwrap_or(Value::Null),
            };
            self.announce(&next).await;
        };
        self.announce(&next).await;
        self.metrics.parked_calls(-1.0);
    }

    async fn announce(&self, next: &Next) {
        let bytes = serde_json::to_vec(next).unwrap_or_default();
        let kept = self
            .kv
            .set(&last_key(self.id), &bytes, Some(ANSWER_WAIT * 2))
            .await;
        let published = self.kv.publish(&next_channel(self.id), &bytes).await;
        if let Err(error) = kept.and(published) {
            tracing::warn!(%error, parked = %self.id, "a parked call's progress was not announced");
        }
    }
}

/// From the repeat's side (any replica): hands the caller's answer to round `round` of
/// parked call `id`, and returns what the call did next.
pub async fn resume(
    kv: &Kv,
    id: Uuid,
    round: u32,
    answer: Value,
) -> Result<Next, crate::kv::KvError> {
    let mut next = kv.subscribe(&next_channel(id)).await?;
    let answered = serde_json::to_vec(&Answered { round, answer }).unwrap_or_default();
    kv.publish(&answer_channel(id), &answered).await?;
    let deadline = tokio::time::sleep(ANSWER_WAIT);
    tokio::pin!(deadline);
    loop {
        // A call that already ended (or a message this subscription missed) left its last
        // outcome under a key.
        if let Some(bytes) = kv.get(&last_key(id)).await?
            && let Ok(last) = serde_json::from_slice::<Next>(&bytes)
            && is_after(&last, round)
        {
            return Ok(last);
        }
        let message = tokio::select! {
            () = &mut deadline => return Ok(Next::Failed { message: "the parked call did not go on in time".into() }),
            message = next.next() => message,
            () = tokio::time::sleep(Duration::from_secs(1)) => continue,
        };
        if let Some(parsed) = message.and_then(|b| serde_json::from_slice::<Next>(&b).ok())
            && is_after(&parsed, round)
        {
            return Ok(parsed);
        }
    }
}

/// Whether `next` came after the answer to `round` (not an earlier round's question).
fn is_after(next: &Next, round: u32) -> bool {
    match next {
        Next::Ask { round: asked, .. } => *asked > round,
        _ => true,
    }
}

/// A finished call's result, as the caller's request expects it.
pub fn result<T: DeserializeOwned>(result: Value) -> Result<T, String> {
    serde_json::from_value(result).map_err(|e| format!("a parked call's result is malformed: {e}"))
}

/// Answers an upstream's question that cannot reach the caller.
pub fn refuse(ask: Ask, why: &str) {
    let _ = ask.answer.send(Err(McpError::new(
        rmcp::model::ErrorCode::METHOD_NOT_FOUND,
        why.to_owned(),
        None,
    )));
}
