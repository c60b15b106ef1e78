//! What an upstream asks of its client while one of our requests runs — sampling
//! (`sampling/createMessage`) and elicitation (`elicitation/create`), MCP 2025-11-25
//! client/sampling and client/elicitation — handed to the caller whose request it is, and
//! the log messages it sends meanwhile (server/utilities/logging), filtered by the level the
//! caller's session set.
//!
//! An upstream session is shared by every caller, so each ask must be tied to the request
//! that caused it before it goes anywhere: a user must never see another user's prompt. A
//! log message is a notification, which no stream marker names: it goes to the lone request
//! in flight, or nowhere.
//! - Streamable HTTP: the ask arrived on the response stream of one of our POSTs (SEP-2260;
//!   rmcp marks it with [`InboundStreamOrigin`]), which names the request exactly.
//! - stdio, or the standalone GET stream: nothing on the wire names the request, so the
//!   ask goes to the request in flight only when exactly one is (and none is being sent);
//!   otherwise the upstream is told the gateway cannot tell, and nobody is asked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use rmcp::ErrorData as McpError;
#[allow(deprecated)] // sampling: deprecated by SEP-2577, still in the session-era revisions
use rmcp::model::{
    ClientCapabilities, ClientResult, CreateMessageRequest, CreateMessageRequestParams,
    CreateMessageResult, ElicitRequest, ElicitRequestParams, ElicitResult, ErrorCode, LoggingLevel,
    LoggingMessageNotificationParam, RequestId, ServerRequest,
};
use rmcp::service::{
    InboundStreamOrigin, Peer, PeerRequestOptions, RequestContext, RoleClient, RoleServer,
    ServiceError,
};
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

use super::endpoint::Answers;

/// How long an ask waits for the request it belongs to be registered (it can arrive before
/// `send` has recorded the request id).
const REGISTRATION_WAIT: Duration = Duration::from_secs(1);

/// One ask, with where its answer goes.
pub struct Ask {
    /// The upstream that asked (nil for the stdio bridge, whose upstream is the gateway).
    pub upstream: Uuid,
    pub request: ServerRequest,
    pub answer: oneshot::Sender<Result<ClientResult, McpError>>,
}

/// What reaches a caller from the upstream during its request.
pub enum Message {
    Ask(Ask),
    #[allow(deprecated)] // logging: deprecated by SEP-2577, still in the session-era revisions
    Log(LoggingMessageNotificationParam),
}

/// Where a caller takes the asks and log messages of its request.
pub type Asker = mpsc::UnboundedSender<Message>;

/// An ask the caller answered (or could not), for its audit record.
#[derive(Debug)]
pub struct Asked {
    pub upstream: Uuid,
    /// `sampling` or `elicitation`.
    pub kind: &'static str,
    pub ok: bool,
    pub elapsed: Duration,
}

#[derive(Default)]
struct InFlight {
    /// Our requests in flight on the session; `None`: the caller takes no asks.
    requests: HashMap<RequestId, Option<Asker>>,
    /// Requests being sent whose id is not known yet.
    sending: usize,
}

/// The requests in flight on one upstream session, and who takes the asks made during each.
#[derive(Clone, Default)]
pub struct AskRoutes {
    inner: Arc<Mutex<InFlight>>,
    changed: Arc<Notify>,
}

/// Marks a request as being sent until [`AskRoutes::open`] records its id (or it is dropped).
pub struct Sending {
    routes: AskRoutes,
    open: bool,
}

impl Drop for Sending {
    fn drop(&mut self) {
        if !self.open {
            self.routes.lock().sending -= 1;
            self.routes.changed.notify_waiters();
        }
    }
}

enum Found {
    Asker(Asker),
    /// The request takes no asks.
    Refused,
    /// Not (yet) known: wait for a registration.
    Unknown,
}

impl AskRoutes {
    fn lock(&self) -> std::sync::MutexGuard<'_, InFlight> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Call before sending a request.
    pub fn sending(&self) -> Sending {
        self.lock().sending += 1;
        Sending {
            routes: self.clone(),
            open: false,
        }
    }

    /// The request `sending` became is `id`; its asks go to `asker`.
    pub fn open(&self, mut sending: Sending, id: RequestId, asker: Option<Asker>) {
        let mut inner = self.lock();
        inner.sending -= 1;
        inner.requests.insert(id, asker);
        sending.open = true;
        drop(inner);
        self.changed.notify_waiters();
    }

    pub fn close(&self, id: &RequestId) {
        self.lock().requests.remove(id);
    }

    fn find(&self, origin: Option<&InboundStreamOrigin>) -> Found {
        let inner = self.lock();
        let found = match origin {
            Some(InboundStreamOrigin::OutboundRequest(id)) => inner.requests.get(id),
            // No stream names the request: only a lone request in flight can own the ask.
            _ if inner.sending == 0 && inner.requests.len() == 1 => inner.requests.values().next(),
            _ if inner.sending > 0 => return Found::Unknown,
            _ => return Found::Refused,
        };
        match found {
            Some(Some(asker)) => Found::Asker(asker.clone()),
            Some(None) => Found::Refused,
            None => Found::Unknown,
        }
    }

    /// The caller a message that arrived with `origin` belongs to, waiting a little for a
    /// request still being registered.
    async fn caller(&self, origin: Option<&InboundStreamOrigin>) -> Option<Asker> {
        let deadline = tokio::time::Instant::now() + REGISTRATION_WAIT;
        loop {
            // Registered before looking, so a registration in between is not missed.
            let changed = self.changed.notified();
            match self.find(origin) {
                Found::Asker(asker) => return Some(asker),
                Found::Refused => return None,
                Found::Unknown => {
                    if tokio::time::timeout_at(deadline, changed).await.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    /// Hands a log message to the caller it belongs to, if one can be told.
    #[allow(deprecated)]
    pub async fn log(&self, message: LoggingMessageNotificationParam) {
        match self.caller(None).await {
            Some(asker) => {
                let _ = asker.send(Message::Log(message));
            }
            None => tracing::debug!("an upstream log message belongs to no single request"),
        }
    }

    /// Hands `request` to the caller whose request it belongs to and waits for its answer.
    pub async fn ask(
        &self,
        upstream: Uuid,
        origin: Option<&InboundStreamOrigin>,
        request: ServerRequest,
    ) -> Result<ClientResult, McpError> {
        let Some(asker) = self.caller(origin).await else {
            return Err(unroutable(&request));
        };
        let (answer, answered) = oneshot::channel();
        let ask = Ask {
            upstream,
            request,
            answer,
        };
        asker.send(Message::Ask(ask)).map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

/// What a client session that relays asks declares: every caller is offered the same
/// upstream session, so whether this caller takes an ask is known only when it comes (one
/// that does not gets a clear error, passed to the upstream).
#[allow(deprecated)]
pub fn capabilities() -> ClientCapabilities {
    ClientCapabilities::builder()
        .enable_sampling()
        .enable_elicitation()
        .build()
}

/// A client handler's `sampling/createMessage`, put to the caller whose request it is.
#[allow(deprecated)]
pub async fn create_message(
    routes: &AskRoutes,
    upstream: Uuid,
    params: CreateMessageRequestParams,
    context: &RequestContext<RoleClient>,
) -> Result<CreateMessageResult, McpError> {
    let request = ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params));
    let origin = context.extensions.get::<InboundStreamOrigin>();
    match routes.ask(upstream, origin, request).await? {
        ClientResult::CreateMessageResult(result) => Ok(*result),
        _ => Err(wrong_answer()),
    }
}

/// A client handler's `elicitation/create`, put to the caller whose request it is.
pub async fn create_elicitation(
    routes: &AskRoutes,
    upstream: Uuid,
    params: ElicitRequestParams,
    context: &RequestContext<RoleClient>,
) -> Result<ElicitResult, McpError> {
    let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
    let origin = context.extensions.get::<InboundStreamOrigin>();
    match routes.ask(upstream, origin, request).await? {
        ClientResult::ElicitResult(result) => Ok(result),
        _ => Err(wrong_answer()),
    }
}

fn wrong_answer() -> McpError {
    McpError::internal_error("the caller answered with a result of another kind", None)
}

#[allow(deprecated)]
fn noun(request: &ServerRequest) -> &'static str {
    match request {
        ServerRequest::CreateMessageRequest(_) => "sampling",
        ServerRequest::ElicitRequest(_) => "elicitation",
        ServerRequest::ListRootsRequest(_) => "roots",
        _ => "request",
    }
}

fn unroutable(request: &ServerRequest) -> McpError {
    McpError::new(
        ErrorCode::INTERNAL_ERROR,
        format!(
            "the gateway cannot relay this {} request: it is not tied to a request of the \
             gateway's that takes it (send it on that request's response stream)",
            noun(request)
        ),
        None,
    )
}

fn gone() -> McpError {
    McpError::new(
        ErrorCode::INTERNAL_ERROR,
        "the request this was asked for has ended",
        None,
    )
}

/// Whether the client declared it takes `request`.
#[allow(deprecated)]
fn declared(peer: &Peer<RoleServer>, request: &ServerRequest) -> bool {
    let Some(info) = peer.peer_info() else {
        return false;
    };
    match request {
        ServerRequest::CreateMessageRequest(_) => info.capabilities.sampling.is_some(),
        ServerRequest::ElicitRequest(_) => info.capabilities.elicitation.is_some(),
        _ => false,
    }
}

/// The severity rank of `level` (RFC 5424 order, MCP 2025-11-25 server/utilities/logging).
#[allow(deprecated)]
fn rank(level: LoggingLevel) -> u8 {
    level as u8
}

/// Runs `work` while passing every ask it receives on `asks` to `peer`, the caller's
/// client, and every log message at or above the session's level (`level`, looked up when
/// the first message comes; `None`: never set, so all pass). The asks are sent from this
/// task, inside rmcp's handler for the caller's request, so they ride that request's
/// response stream (SEP-2260).
#[allow(deprecated)]
pub async fn answering<F: Future>(
    peer: &Peer<RoleServer>,
    mut asks: mpsc::UnboundedReceiver<Message>,
    elsewhere: Option<(&Answers, &str)>,
    level: impl Future<Output = Option<LoggingLevel>>,
    work: F,
) -> (F::Output, Vec<Asked>) {
    let mut work = std::pin::pin!(work);
    let mut level = Some(level);
    let mut threshold = None;
    let mut pending = FuturesUnordered::new();
    let mut asked = Vec::new();
    let mut open = true;
    loop {
        tokio::select! {
            output = &mut work => return (output, asked),
            message = asks.recv(), if open => match message {
                Some(Message::Ask(ask)) => pending.push(put(peer, elsewhere, ask)),
                Some(Message::Log(log)) => {
                    if let Some(level) = level.take() {
                        threshold = level.await;
                    }
                    if threshold.is_none_or(|t| rank(log.level) >= rank(t)) {
                        let _ = peer.notify_logging_message(log).await;
                    }
                }
                None => open = false,
            },
            Some(done) = pending.next(), if !pending.is_empty() => asked.push(done),
        }
    }
}

/// Asks the caller's client and hands back its answer, which comes through rmcp or, when
/// the client POSTed it to another replica, through `elsewhere`.
async fn put(peer: &Peer<RoleServer>, elsewhere: Option<(&Answers, &str)>, ask: Ask) -> Asked {
    let started = Instant::now();
    let kind = noun(&ask.request);
    let answer = if declared(peer, &ask.request) {
        ask_client(peer, elsewhere, ask.request).await
    } else {
        Err(McpError::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("the gateway's caller does not support {kind}"),
            None,
        ))
    };
    let ok = answer.is_ok();
    let _ = ask.answer.send(answer);
    Asked {
        upstream: ask.upstream,
        kind,
        ok,
        elapsed: started.elapsed(),
    }
}

async fn ask_client(
    peer: &Peer<RoleServer>,
    elsewhere: Option<(&Answers, &str)>,
    request: ServerRequest,
) -> Result<ClientResult, McpError> {
    let passed = |e| match e {
        ServiceError::McpError(e) => e,
        other => McpError::internal_error(format!("the caller did not answer: {other}"), None),
    };
    let handle = peer
        .send_request_with_option(request, PeerRequestOptions::no_options())
        .await
        .map_err(passed)?;
    let Some((answers, session)) = elsewhere else {
        return handle.await_response().await.map_err(passed);
    };
    let mut waiting = answers.wait(session, &handle.id);
    tokio::select! {
        answer = handle.await_response() => answer.map_err(passed),
        answer = waiting.answer() => answer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{NumberOrString, PingRequest};

    fn id(n: i64) -> RequestId {
        NumberOrString::Number(n)
    }

    fn ping() -> ServerRequest {
        ServerRequest::PingRequest(PingRequest::default())
    }

    fn expect_ask(message: Option<Message>) -> Ask {
        match message {
            Some(Message::Ask(ask)) => ask,
            _ => panic!("expected an ask"),
        }
    }

    #[tokio::test]
    async fn an_ask_reaches_only_the_request_it_belongs_to() {
        let routes = AskRoutes::default();
        let (a, mut a_asks) = mpsc::unbounded_channel();
        let (b, mut b_asks) = mpsc::unbounded_channel();
        routes.open(routes.sending(), id(1), Some(a));
        // A lone request in flight owns an ask nothing names.
        let asking = tokio::spawn({
            let routes = routes.clone();
            async move { routes.ask(Uuid::nil(), None, ping()).await }
        });
        let ask = expect_ask(a_asks.recv().await);
        ask.answer.send(Ok(ClientResult::empty(()))).unwrap();
        assert!(asking.await.unwrap().is_ok());

        // Two in flight: only the stream's own request is asked; unnamed asks are refused.
        routes.open(routes.sending(), id(2), Some(b));
        let err = routes.ask(Uuid::nil(), None, ping()).await.unwrap_err();
        assert!(err.message.contains("not tied"), "{err:?}");
        let origin = InboundStreamOrigin::OutboundRequest(id(2));
        let asking = tokio::spawn({
            let routes = routes.clone();
            async move { routes.ask(Uuid::nil(), Some(&origin), ping()).await }
        });
        let ask = expect_ask(b_asks.recv().await);
        drop(ask); // the caller went away
        assert!(asking.await.unwrap().is_err());
        assert!(a_asks.try_recv().is_err(), "the other caller heard nothing");

        // A request that takes no asks refuses them.
        routes.close(&id(1));
        routes.close(&id(2));
        routes.open(routes.sending(), id(3), None);
        assert!(routes.ask(Uuid::nil(), None, ping()).await.is_err());
    }

    #[tokio::test]
    async fn an_ask_waits_for_a_request_still_being_sent() {
        let routes = AskRoutes::default();
        let sending = routes.sending();
        let origin = InboundStreamOrigin::OutboundRequest(id(7));
        let asking = tokio::spawn({
            let routes = routes.clone();
            async move { routes.ask(Uuid::nil(), Some(&origin), ping()).await }
        });
        tokio::task::yield_now().await;
        let (asker, mut asks) = mpsc::unbounded_channel();
        routes.open(sending, id(7), Some(asker));
        let ask = expect_ask(asks.recv().await);
        ask.answer.send(Ok(ClientResult::empty(()))).unwrap();
        assert!(asking.await.unwrap().is_ok());
        // While another request is being sent, an unnamed ask is not given to the lone one.
        let _sending = routes.sending();
        let err = routes.ask(Uuid::nil(), None, ping()).await.unwrap_err();
        assert!(err.message.contains("not tied"), "{err:?}");
    }
}
