//! Sending one request to an MCP server on behalf of someone else (the gateway's caller, or
//! the stdio bridge's client): the server's progress goes back to whoever asked, and a
//! request abandoned for any reason (the caller cancelled, a timeout fired, the client went
//! away) is withdrawn with `notifications/cancelled` (MCP 2025-11-25,
//! basic/utilities/cancellation and basic/utilities/progress); what the server asks of its
//! client meanwhile (sampling, elicitation) is put to whoever asked ([`super::asks`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rmcp::model::{
    CancelledNotificationParam, ClientRequest, ProgressNotificationParam, ProgressToken, RequestId,
    ServerResult,
};
use rmcp::service::{
    Peer, PeerRequestOptions, RequestContext, RoleClient, RoleServer, ServiceError,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::asks::{self, AskRoutes, Asked, Asker, Message};
use super::endpoint::Answers;

/// Where requests in flight want their server's progress: keyed by the progress token the
/// client session gave each request.
pub type ProgressRoutes = Arc<Mutex<HashMap<ProgressToken, mpsc::UnboundedSender<Progress>>>>;

/// One progress report, without the token (the caller knows its own).
#[derive(Clone, Debug)]
pub struct Progress {
    pub progress: f64,
    pub total: Option<f64>,
    pub message: Option<String>,
}

/// Hands a progress notification to the request it belongs to, if one is waiting.
pub fn route(routes: &ProgressRoutes, params: ProgressNotificationParam) {
    let route = routes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&params.progress_token)
        .cloned();
    if let Some(route) = route {
        let _ = route.send(Progress {
            progress: params.progress,
            total: params.total,
            message: params.message,
        });
    }
}

/// How a caller steers its call: where progress and the server's asks go, and a token it
/// cancels to withdraw.
#[derive(Clone, Default)]
pub struct Control {
    pub progress: Option<mpsc::UnboundedSender<Progress>>,
    pub asks: Option<Asker>,
    pub cancel: CancellationToken,
    /// How the caller takes an upstream's questions (SEP-2322 input-required results).
    pub rounds: super::rounds::Rounds,
    /// W3C trace context (`traceparent`, `tracestate`) the request carries to its upstream:
    /// in its `_meta` (SEP-414), and as HTTP headers to a Streamable HTTP upstream.
    pub trace: Option<(String, String)>,
    /// The user confirmed this call: a tool rule that allows only after confirmation
    /// (`confirm`) lets it through. Only the chat sets it, after the user's approval.
    pub confirmed: bool,
}

impl Control {
    /// With the current span's trace context, unless it carries one already.
    pub fn traced(mut self) -> Self {
        if self.trace.is_none() {
            self.trace = crate::telemetry::otel::current_trace_context();
        }
        self
    }

    /// Puts the trace context into a request's `_meta` (SEP-414).
    pub fn mark(&self, params: &mut impl rmcp::model::RequestParamsMeta) {
        if let Some((parent, state)) = &self.trace {
            params.set_traceparent(parent);
            if !state.is_empty() {
                params.set_tracestate(state);
            }
        }
    }
}

/// A request sent to an upstream and not yet answered. Dropped before [`InFlight::done`],
/// it tells the upstream to stop; it always stops routing the request's progress.
struct InFlight {
    peer: Peer<RoleClient>,
    id: Option<RequestId>,
    token: ProgressToken,
    routes: ProgressRoutes,
    asks: AskRoutes,
    asked: RequestId,
}

impl InFlight {
    fn done(mut self) {
        self.id = None;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.token);
        self.asks.close(&self.asked);
        if let Some(id) = self.id.take() {
            let peer = self.peer.clone();
            tokio::spawn(async move {
                let reason = "the gateway's caller withdrew the request".to_owned();
                let note = CancelledNotificationParam::new(Some(id), Some(reason));
                let _ = peer.notify_cancelled(note).await;
            });
        }
    }
}

/// Sends `request` on the session whose asks `asks` routes, routes its progress to
/// `control.progress` and its asks to `control.asks`, and waits for the answer or for
/// `control.cancel`.
pub async fn send(
    peer: &Peer<RoleClient>,
    routes: ProgressRoutes,
    asks: &AskRoutes,
    request: ClientRequest,
    control: Control,
) -> Result<ServerResult, ServiceError> {
    let sending = asks.sending();
    let handle = peer
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await?;
    asks.open(sending, handle.id.clone(), control.asks);
    let flight = InFlight {
        peer: handle.peer.clone(),
        id: Some(handle.id.clone()),
        token: handle.progress_token.clone(),
        routes: Arc::clone(&routes),
        asks: asks.clone(),
        asked: handle.id.clone(),
    };
    if let Some(progress) = control.progress {
        routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(handle.progress_token.clone(), progress);
    }
    tokio::select! {
        answer = handle.await_response() => {
            flight.done();
            answer
        }
        () = control.cancel.cancelled() => {
            drop(flight);
            Err(ServiceError::Cancelled { reason: Some("cancelled by the caller".into()) })
        }
    }
}

/// The caller's side of one request: its progress relay and its asks.
pub struct Downstream {
    peer: Peer<RoleServer>,
    /// Where answers to asks taken by another replica arrive, with the session's id.
    elsewhere: Option<(Answers, String)>,
    progress: Option<tokio::task::JoinHandle<()>>,
    asks: mpsc::UnboundedReceiver<Message>,
}

impl Downstream {
    /// Answers to this request's asks may also come through `answers` (the session's client
    /// may POST them to another replica).
    pub fn answered_via(mut self, answers: &Answers, session: Option<&str>) -> Self {
        self.elsewhere = session.map(|s| (answers.clone(), s.to_owned()));
        self
    }

    /// Runs `work` (the request, sent with this control) while the server's asks and log
    /// messages go to the caller (logs at or above `level`, looked up on the first); then
    /// lets the progress relay flush (it ends when `work` drops its sender).
    ///
    /// `work` comes boxed: it is the gateway's whole path for the request, some 20 KiB of
    /// future state, which held inline made the handler's future over 64 KiB, copied in
    /// full each time it moved (rmcp spawns it); `memmove` was 6 % of the gateway's CPU.
    #[allow(deprecated)] // logging: deprecated by SEP-2577, still in the session-era revisions
    pub async fn serve<'a, T>(
        self,
        level: impl Future<Output = Option<rmcp::model::LoggingLevel>>,
        work: std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>,
    ) -> (T, Vec<Asked>) {
        let elsewhere = self.elsewhere.as_ref().map(|(a, s)| (a, s.as_str()));
        let answered = asks::answering(&self.peer, self.asks, elsewhere, level, work).await;
        if let Some(progress) = self.progress {
            let _ = progress.await;
        }
        answered
    }
}

/// A control for one request: its cancellation, its asks, and its progress relayed to the
/// client under the client's own token when it asked for progress.
pub fn control(context: &RequestContext<RoleServer>) -> (Control, Downstream) {
    let (asker, asks) = mpsc::unbounded_channel();
    let mut control = Control {
        progress: None,
        asks: Some(asker),
        cancel: context.ct.clone(),
        rounds: super::rounds::Rounds::Asked,
        trace: None,
        confirmed: false,
    };
    let peer: Peer<RoleServer> = context.peer.clone();
    let mut downstream = Downstream {
        peer: peer.clone(),
        elsewhere: None,
        progress: None,
        asks,
    };
    let Some(token) = context.meta.get_progress_token() else {
        return (control, downstream);
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    control.progress = Some(tx);
    downstream.progress = Some(tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            let mut note = ProgressNotificationParam::new(token.clone(), p.progress);
            note.total = p.total;
            note.message = p.message;
            if peer.notify_progress(note).await.is_err() {
                break;
            }
        }
    }));
    (control, downstream)
}
