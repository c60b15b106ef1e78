//! Multi round-trip requests (SEP-2322, MCP 2026-07-28): a 2026-07-28 upstream may answer
//! `tools/call`, `prompts/get` or `resources/read` with an `InputRequiredResult` — questions
//! for its client (elicitation, sampling, roots) and an opaque `requestState` — and expects
//! the same request again with the answers. The gateway is that client, on behalf of its
//! caller, who is the one to answer:
//! - a 2026-07-28 caller repeats requests itself, so it gets the questions, and a
//!   `requestState` of the gateway's own: the upstream's state sealed with the vault key
//!   (AES-256-GCM), bound to the caller, its endpoint, the item and the upstream, for
//!   [`STATE_TTL_SECS`]. Its repeated request is decided, rate limited and audited like any
//!   other, and the upstream gets its own state back. The seal matters: SEP-2322 makes the
//!   echoed state untrusted input, and an upstream may trust what its client (the gateway)
//!   echoes more than it would trust an end user;
//! - a session-era caller cannot repeat a request it never saw refused, so it is asked each
//!   question on its request's stream (as an upstream's mid-call ask would be put to it), and
//!   the gateway repeats the request with the answers, for up to [`MAX_ROUNDS`] rounds;
//! - a caller that cannot be asked anything (the REST API) gets an error naming what the
//!   upstream wanted.

use std::time::Duration;

use app::api::Upstream;
use rmcp::ErrorData as McpError;
use rmcp::model::{
    ClientCapabilities, ClientResult, InputRequest, InputRequests, InputRequiredResult,
    InputResponses, ServerRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

mod questions;
mod state;

use super::asks::{Ask, Message};
use super::calls::{Caller, GatewayError};
use super::parked::{self, Next};
use super::pool::CallError;
use super::relay::Control;
use super::views::Item;
use crate::kv::Kv;
use crate::telemetry::Metrics;
use crate::vault::Vault;
pub use questions::kinds;
use questions::{check_declared, noun};
use state::{Sealed, binding, open, parked_key, seal};

/// Rounds a session-era caller is asked through before the gateway gives up (the Python and
/// Rust SDKs' clients stop at the same number).
pub const MAX_ROUNDS: usize = 10;
/// How long a `requestState` the gateway issued can be echoed back.
pub const STATE_TTL_SECS: i64 = 600;
/// First wait before repeating a request whose upstream sent only state (load shedding).
const STATE_ONLY_WAIT: Duration = Duration::from_millis(250);
/// Marks the gateway's own `requestState` (and its format's version).
const STATE_PREFIX: &str = "sy1.";

/// An upstream's answer: the result, or questions for the caller first.
pub enum Answer<T> {
    Complete(T),
    InputRequired(InputRequiredResult),
}

/// What goes to the upstream with a repeated request.
#[derive(Clone, Debug, Default)]
pub struct Resend {
    pub responses: Option<InputResponses>,
    pub state: Option<String>,
}

/// How the caller of one request takes an upstream's questions.
#[derive(Clone, Debug, Default)]
pub enum Rounds {
    /// It cannot be asked anything (the REST API).
    #[default]
    Closed,
    /// A session-era client: asked on its request's stream; the gateway repeats the request.
    Asked,
    /// A 2026-07-28 client, which repeats the request itself: it declared `capabilities`,
    /// and `echo` is what it sent back this time.
    Repeated {
        capabilities: ClientCapabilities,
        echo: Resend,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RoundsError {
    #[error(
        "requestState was not issued by this gateway for this request by this caller, or it \
         has expired: send the request again without it (SEP-2322)"
    )]
    BadState,
    #[error("the upstream needs {0} from the caller, which did not declare it")]
    Undeclared(String, Box<ClientCapabilities>),
    #[error("the upstream needs {0} from the caller, which this way in cannot ask for")]
    Closed(String),
    #[error("inputResponses has no answer under `{0}`, the question this requestState asked")]
    NoAnswer(String),
    #[error("the upstream still wanted input after {MAX_ROUNDS} rounds")]
    TooManyRounds,
    /// The caller refused or could not answer a question; the upstream is not asked again.
    #[error("the caller did not answer the upstream's {kind} request: {error}")]
    Unanswered { kind: &'static str, error: McpError },
}

/// One request's rounds with its upstream, for one caller.
pub struct Exchange<'a> {
    vault: &'a Vault,
    kv: &'a Kv,
    metrics: &'a Metrics,
    context: String,
    upstream: &'a Upstream,
    control: &'a Control,
}

/// How a request starts: sent to its upstream, or resuming a parked call.
enum Start {
    Send(Resend),
    Resume {
        parked: Uuid,
        round: u32,
        answer: Value,
    },
}

impl<'a> Exchange<'a> {
    /// `digest` is the request's arguments' ([`super::arguments::digest`]): a state is
    /// good only for the request it was issued for.
    pub fn new(
        (vault, kv, metrics): (&'a Vault, &'a Kv, &'a Metrics),
        caller: &Caller<'_>,
        kind: Item,
        name: &str,
        digest: &str,
        upstream: &'a Upstream,
        control: &'a Control,
    ) -> Self {
        Self {
            vault,
            kv,
            metrics,
            context: binding(caller, kind, name, digest),
            upstream,
            control,
        }
    }

    /// What a 2026-07-28 caller echoed, unsealed: the upstream's state to send on, or the
    /// parked call its answer is for.
    fn first(&self) -> Result<Start, RoundsError> {
        let Rounds::Repeated { echo, .. } = &self.control.rounds else {
            return Ok(Start::Send(Resend::default()));
        };
        let Some(echoed) = &echo.state else {
            return Ok(Start::Send(echo.clone()));
        };
        let sealed = open(self.vault, &self.context, self.upstream.id, echoed)?;
        let Some((parked, round)) = sealed.p else {
            return Ok(Start::Send(Resend {
                responses: echo.responses.clone(),
                state: sealed.s,
            }));
        };
        let key = parked_key(round);
        let answer = echo
            .responses
            .as_ref()
            .and_then(|r| r.get(&key))
            .cloned()
            .ok_or(RoundsError::NoAnswer(key))?;
        Ok(Start::Resume {
            parked,
            round,
            answer,
        })
    }

    /// Sends the request with `send` and takes the upstream's answer through the caller: a
    /// complete one as it is; questions to a 2026-07-28 caller with a sealed state;
    /// questions to a session-era caller asked, then answered by sending again. A
    /// 2026-07-28 caller's call whose upstream asks mid-call is parked ([`parked`]).
    pub async fn run<T, F, Fut>(&self, mut send: F) -> Result<Answer<T>, GatewayError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnMut(Resend, Control) -> Fut,
        Fut: Future<Output = Result<Answer<T>, CallError>> + Send + 'static,
    {
        let mut answer = match self.first()? {
            Start::Resume {
                parked,
                round,
                answer,
            } => return self.resume(parked, round, answer).await,
            Start::Send(resend) if matches!(self.control.rounds, Rounds::Repeated { .. }) => {
                let (control, questions) = self.parkable_control();
                return self
                    .parkable(Box::pin(send(resend, control)), questions)
                    .await;
            }
            Start::Send(resend) => send(resend, self.control.clone()).await?,
        };
        let mut rounds = 0;
        let mut wait = STATE_ONLY_WAIT;
        loop {
            let Answer::InputRequired(required) = answer else {
                return Ok(answer);
            };
            let requests = required.input_requests.clone().unwrap_or_default();
            match &self.control.rounds {
                Rounds::Closed => return Err(RoundsError::Closed(kinds(&requests)).into()),
                Rounds::Repeated { .. } => {
                    return self.pass_on(required).map(Answer::InputRequired);
                }
                Rounds::Asked => {
                    rounds += 1;
                    if rounds > MAX_ROUNDS {
                        return Err(RoundsError::TooManyRounds.into());
                    }
                    self.metrics.input_required("asked");
                    let responses = if requests.is_empty() {
                        // Only state: the upstream wants the request again later.
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(4));
                        None
                    } else {
                        Some(self.ask_all(requests).await?)
                    };
                    let resend = Resend {
                        responses,
                        state: required.request_state,
                    };
                    answer = send(resend, self.control.clone()).await?;
                }
            }
        }
    }

    /// An upstream's questions for a 2026-07-28 caller, its state sealed.
    fn pass_on(&self, required: InputRequiredResult) -> Result<InputRequiredResult, GatewayError> {
        if let Rounds::Repeated { capabilities, .. } = &self.control.rounds {
            check_declared(
                capabilities,
                &required.input_requests.clone().unwrap_or_default(),
            )?;
        }
        let sealed = Sealed::new(self.upstream.id, required.request_state, None);
        let state = seal(self.vault, &self.context, &sealed);
        Ok(InputRequiredResult::new(
            required.input_requests,
            Some(state),
        ))
    }

    /// The control of a call that may be parked: its questions come here, and it has a
    /// cancellation of its own (the caller's ends with the caller's request).
    fn parkable_control(&self) -> (Control, mpsc::UnboundedReceiver<Message>) {
        let (asker, questions) = mpsc::unbounded_channel();
        let mut control = self.control.clone();
        control.asks = Some(asker);
        control.cancel = CancellationToken::new();
        (control, questions)
    }

    /// Waits for the call, or parks it at its upstream's first question.
    /// The call runs here, boxed so that, parked, it moves into a task of its own without
    /// costing a task for every call that is never parked.
    async fn parkable<T, Fut>(
        &self,
        mut call: std::pin::Pin<Box<Fut>>,
        mut questions: mpsc::UnboundedReceiver<Message>,
    ) -> Result<Answer<T>, GatewayError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        Fut: Future<Output = Result<Answer<T>, CallError>> + Send + 'static,
    {
        let mut open = true;
        loop {
            let message = tokio::select! {
                answer = &mut call => {
                    return match answer? {
                        Answer::InputRequired(required) => Ok(Answer::InputRequired(self.pass_on(required)?)),
                        complete => Ok(complete),
                    };
                }
                // Dropping the call withdraws it at the upstream (`relay`).
                () = self.control.cancel.cancelled() => return Err(CallError::Cancelled.into()),
                message = questions.recv(), if open => message,
            };
            let ask = match message {
                Some(Message::Ask(ask)) => ask,
                Some(Message::Log(log)) => {
                    if let Some(asks) = &self.control.asks {
                        let _ = asks.send(Message::Log(log));
                    }
                    continue;
                }
                None => {
                    open = false;
                    continue;
                }
            };
            let Some(request) = parked::as_input(&ask.request) else {
                parked::refuse(ask, "the gateway's caller takes no such request");
                continue;
            };
            let requests = InputRequests::from([(parked_key(1), request)]);
            if let Rounds::Repeated { capabilities, .. } = &self.control.rounds
                && let Err(undeclared) = check_declared(capabilities, &requests)
            {
                parked::refuse(ask, &undeclared.to_string());
                continue;
            }
            let id = Uuid::new_v4();
            let holder = parked::Holder {
                kv: self.kv.clone(),
                metrics: self.metrics.clone(),
                id,
                call: tokio::spawn(call),
                asks: questions,
                logs: self.control.asks.clone(),
            };
            holder.start(ask).await?;
            self.metrics.input_required("parked");
            let sealed = Sealed::new(self.upstream.id, None, Some((id, 1)));
            let state = seal(self.vault, &self.context, &sealed);
            let asked = InputRequiredResult::new(Some(requests), Some(state));
            return Ok(Answer::InputRequired(asked));
        }
    }

    /// Hands a 2026-07-28 caller's answer to its parked call and answers what that did next.
    async fn resume<T: DeserializeOwned>(
        &self,
        parked: Uuid,
        round: u32,
        answer: Value,
    ) -> Result<Answer<T>, GatewayError> {
        let name = self.upstream.name.clone();
        self.metrics.input_required("resumed");
        match parked::resume(self.kv, parked, round, answer).await? {
            Next::Ask { round, request } => {
                let request: InputRequest = serde_json::from_value(request).map_err(|e| {
                    CallError::Unavailable(name, format!("a parked question is malformed: {e}"))
                })?;
                let requests = InputRequests::from([(parked_key(round), request)]);
                if let Rounds::Repeated { capabilities, .. } = &self.control.rounds {
                    check_declared(capabilities, &requests)?;
                }
                let sealed = Sealed::new(self.upstream.id, None, Some((parked, round)));
                let state = seal(self.vault, &self.context, &sealed);
                Ok(Answer::InputRequired(InputRequiredResult::new(
                    Some(requests),
                    Some(state),
                )))
            }
            Next::Done { result } => {
                let result = parked::result(result).map_err(|m| CallError::Unavailable(name, m))?;
                Ok(Answer::Complete(result))
            }
            Next::Refused { error } => Err(CallError::Refused(name, error).into()),
            Next::Failed { message } => Err(CallError::Unavailable(name, message).into()),
        }
    }

    /// Puts every question to the session-era caller at once (as the SDKs' clients do).
    async fn ask_all(&self, requests: InputRequests) -> Result<InputResponses, RoundsError> {
        let asks = requests.into_iter().map(|(key, request)| async move {
            let kind = noun(&request);
            let answer = self.ask(request).await;
            let answer = answer.map_err(|error| RoundsError::Unanswered { kind, error })?;
            let value = serde_json::to_value(answer).map_err(|e| RoundsError::Unanswered {
                kind,
                error: McpError::internal_error(e.to_string(), None),
            })?;
            Ok::<_, RoundsError>((key, value))
        });
        let answered = futures::future::try_join_all(asks).await?;
        Ok(answered.into_iter().collect())
    }

    async fn ask(&self, request: InputRequest) -> Result<ClientResult, McpError> {
        let gone = || McpError::internal_error("the caller's request has ended", None);
        let request = match request {
            InputRequest::CreateMessage(r) => ServerRequest::CreateMessageRequest(r),
            InputRequest::Elicitation(r) => ServerRequest::ElicitRequest(r),
            InputRequest::ListRoots(r) => ServerRequest::ListRootsRequest(r),
            _ => {
                return Err(McpError::invalid_request(
                    "an input request of an unknown kind",
                    None,
                ));
            }
        };
        let asker = self.control.asks.as_ref().ok_or_else(gone)?;
        let (answer, answered) = oneshot::channel();
        let ask = Ask {
            upstream: self.upstream.id,
            request,
            answer,
        };
        asker.send(Message::Ask(ask)).map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

/// The JSON-RPC error a caller gets for `error` (SEP-2322; -32021 from MCP 2026-07-28).
pub fn rpc_error(error: &RoundsError) -> McpError {
    match error {
        RoundsError::BadState | RoundsError::NoAnswer(_) => {
            McpError::invalid_params(error.to_string(), None)
        }
        RoundsError::Undeclared(_, missing) => {
            let mut e = McpError::missing_required_client_capability((**missing).clone());
            e.message = error.to_string().into();
            e
        }
        RoundsError::Unanswered { error: inner, .. } => {
            McpError::new(inner.code, error.to_string(), inner.data.clone())
        }
        RoundsError::Closed(_) | RoundsError::TooManyRounds => {
            McpError::internal_error(error.to_string(), None)
        }
    }
}
