//! Resumable SSE streams (MCP 2025-11-25 basic/transports §Resumability and Redelivery;
//! SEP-1699): every event rmcp sends on a session's stream is kept in `kv` for a while under
//! an id of the form `{stream}.{seq}`, so a client whose stream broke, or that the gateway
//! closed mid-call ([`PollAfter`]), reconnects with `GET` + `Last-Event-ID` to **any** replica
//! and gets what it missed, then what follows, until the call's answer.
//!
//! Each stream is written by one replica (the one running the session's worker), in order,
//! so the sequence is counted locally. Every event is stored, then published on the stream's
//! channel: a replay subscribes first and reads the store second, so nothing falls between.
//! A stream id is rmcp's random UUID (or `{session}:common`), which only that session's
//! client is ever sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};

use rmcp::model::ServerJsonRpcMessage;
use rmcp::transport::common::server_side_http::ServerSseMessage;
use rmcp::transport::streamable_http_server::session::{
    EventId, EventStore, EventStoreError, EventStream,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::kv::Kv;

/// What is kept of one event.
#[derive(Serialize, Deserialize)]
struct Stored {
    seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<ServerJsonRpcMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_ms: Option<u64>,
}

impl Stored {
    fn into_sse(self, stream: &str) -> ServerSseMessage {
        let mut sse = match self.message {
            Some(message) => ServerSseMessage::from_message(message),
            None => ServerSseMessage::retry(Duration::ZERO),
        };
        sse.event_id = Some(event_id(stream, self.seq));
        sse.retry = self.retry_ms.map(Duration::from_millis);
        sse
    }

    /// The call's answer: a request's stream ends after it.
    fn is_final(&self) -> bool {
        matches!(
            self.message,
            Some(ServerJsonRpcMessage::Response(_) | ServerJsonRpcMessage::Error(_))
        )
    }
}

fn event_id(stream: &str, seq: u64) -> EventId {
    format!("{stream}.{seq}")
}

/// `{stream}.{seq}` → (stream, seq).
fn parse(id: &str) -> Option<(&str, u64)> {
    let (stream, seq) = id.rsplit_once('.')?;
    if stream.is_empty() {
        return None;
    }
    Some((stream, seq.parse().ok()?))
}

fn event_key(stream: &str, seq: u64) -> String {
    format!("mcp:event:{stream}:{seq}")
}

fn channel(stream: &str) -> String {
    format!("mcp:events:{stream}")
}

/// The session streams' events, shared by every replica through `kv`; cheap to clone.
#[derive(Clone)]
pub struct Events {
    kv: Kv,
    /// How long an event stays resumable, and how long a replay waits for the next one.
    ttl: Duration,
    /// The last sequence number given on each stream this replica writes.
    counters: Arc<Mutex<Counters>>,
}

#[derive(Default)]
struct Counters {
    last: HashMap<String, (u64, Instant)>,
    since_sweep: usize,
}

impl Counters {
    fn next(&mut self, stream: &str, ttl: Duration) -> u64 {
        // A stream unused for the TTL cannot be resumed any more: forget its counter.
        self.since_sweep += 1;
        if self.since_sweep >= 1024 {
            self.since_sweep = 0;
            self.last.retain(|_, (_, used)| used.elapsed() < ttl);
        }
        let now = Instant::now();
        let entry = self.last.entry(stream.to_owned()).or_insert((0, now));
        entry.0 += 1;
        entry.1 = now;
        entry.0
    }

    fn finish(&mut self, stream: &str) {
        self.last.remove(stream);
    }
}

impl Events {
    pub fn new(kv: Kv, ttl: Duration) -> Self {
        Self {
            kv,
            ttl,
            counters: Arc::default(),
        }
    }

    async fn load(&self, stream: &str, seq: u64) -> Result<Option<Stored>, EventStoreError> {
        let Some(bytes) = self.kv.get(&event_key(stream, seq)).await? else {
            return Ok(None);
        };
        Ok(Some(serde_json::from_slice(&bytes)?))
    }

    /// Sends the stored events of `stream` after `after` to `tx`, then those published from
    /// then on, until the call's answer, the client leaving, or `ttl` without an event.
    async fn follow(
        self,
        stream: String,
        mut after: u64,
        mut live: crate::kv::Subscription,
        tx: mpsc::Sender<ServerSseMessage>,
    ) {
        // Fills from the store everything up to `until` (inclusive, or until a gap).
        macro_rules! catch_up {
            ($until:expr) => {
                while after < $until {
                    match self.load(&stream, after + 1).await {
                        Ok(Some(event)) => {
                            after = event.seq;
                            let last = event.is_final();
                            if tx.send(event.into_sse(&stream)).await.is_err() || last {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(error) => {
                            tracing::warn!(%error, "SSE replay read failed");
                            return;
                        }
                    }
                }
            };
        }
        catch_up!(u64::MAX);
        loop {
            let published = tokio::select! {
                published = live.next() => published,
                () = tx.closed() => return,
                () = tokio::time::sleep(self.ttl) => return,
            };
            let Some(bytes) = published else { return };
            let Ok(event) = serde_json::from_slice::<Stored>(&bytes) else {
                continue;
            };
            if event.seq <= after {
                continue;
            }
            // A message the subscription missed is in the store.
            catch_up!(event.seq - 1);
            after = event.seq;
            let last = event.is_final();
            if tx.send(event.into_sse(&stream)).await.is_err() || last {
                return;
            }
        }
    }
}

#[async_trait::async_trait]
impl EventStore for Events {
    async fn store_event(
        &self,
        stream_id: &str,
        event: &ServerSseMessage,
    ) -> Result<EventId, EventStoreError> {
        let seq = self
            .counters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .next(stream_id, self.ttl);
        let stored = Stored {
            seq,
            message: event.message.as_deref().cloned(),
            retry_ms: event
                .retry
                .map(|r| u64::try_from(r.as_millis()).unwrap_or(u64::MAX)),
        };
        let bytes = serde_json::to_vec(&stored)?;
        self.kv
            .set(&event_key(stream_id, seq), &bytes, Some(self.ttl))
            .await?;
        self.kv.publish(&channel(stream_id), &bytes).await?;
        if stored.is_final() {
            self.counters
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .finish(stream_id);
        }
        Ok(event_id(stream_id, seq))
    }

    async fn replay_events_after(
        &self,
        last_event_id: &str,
    ) -> Result<EventStream, EventStoreError> {
        let (stream, after) =
            parse(last_event_id).ok_or_else(|| format!("not an event id: {last_event_id:?}"))?;
        // Subscribe before reading the store, so an event stored in between is heard.
        let live = self.kv.subscribe(&channel(stream)).await?;
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(self.clone().follow(stream.to_owned(), after, live, tx));
        Ok(Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|event| (event, rx))
        })))
    }
}

/// Where `Last-Event-ID` may lead: into the session's own standalone stream, or into a
/// request stream (a random id only its client was sent). A `{other-session}:common` id is
/// refused.
pub fn resumable_by(last_event_id: &str, session: &str) -> bool {
    match parse(last_event_id) {
        Some((stream, _)) => match stream.strip_suffix(":common") {
            Some(owner) => owner == session,
            None => !stream.contains(':'),
        },
        None => false,
    }
}

/// Ends a session POST's SSE answer once `after` has passed between two events, so a long
/// call does not hold a connection (through proxies that cut idle or long responses); the
/// client resumes from its last event id (SEP-1699 §server-initiated disconnect).
#[derive(Clone, Copy)]
pub struct PollAfter(pub Duration);

impl PollAfter {
    pub fn wrap(self, body: axum::body::Body) -> axum::body::Body {
        use futures::StreamExt;
        let deadline = tokio::time::sleep(self.0);
        axum::body::Body::from_stream(body.into_data_stream().take_until(deadline))
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use rmcp::model::{CallToolResult, ContentBlock, RequestId, ServerResult};

    use super::*;

    fn answer() -> ServerSseMessage {
        let result = CallToolResult::success(vec![ContentBlock::text("done")]);
        ServerSseMessage::from_message(ServerJsonRpcMessage::response(
            ServerResult::CallToolResult(result),
            RequestId::Number(1),
        ))
    }

    #[tokio::test]
    async fn a_replay_gives_what_followed_then_waits_for_the_answer() {
        let events = Events::new(Kv::memory("t:"), Duration::from_secs(5));
        let priming = events
            .store_event("s1", &ServerSseMessage::retry(Duration::from_millis(500)))
            .await
            .unwrap();
        assert_eq!(priming, "s1.1");
        let progress = ServerSseMessage::from_message(ServerJsonRpcMessage::notification(
            rmcp::model::ServerNotification::ToolListChangedNotification(Default::default()),
        ));
        events.store_event("s1", &progress).await.unwrap();
        let mut replay = events.replay_events_after(&priming).await.unwrap();
        let first = replay.next().await.unwrap();
        assert_eq!(first.event_id.as_deref(), Some("s1.2"));
        // The answer comes after the replay began, and ends it.
        let writer = events.clone();
        tokio::spawn(async move { writer.store_event("s1", &answer()).await.unwrap() });
        let last = replay.next().await.unwrap();
        assert_eq!(last.event_id.as_deref(), Some("s1.3"));
        let json = serde_json::to_value(last.message.unwrap().as_ref()).unwrap();
        let expected = serde_json::to_value(answer().message.unwrap().as_ref()).unwrap();
        assert_eq!(json, expected, "the answer is replayed unchanged");
        assert!(
            replay.next().await.is_none(),
            "the stream ends after the answer"
        );
        // Another stream's events are not this one's; an id of nothing is refused.
        events.store_event("s2", &answer()).await.unwrap();
        let mut other = events.replay_events_after("s2.0").await.unwrap();
        assert_eq!(
            other.next().await.unwrap().event_id.as_deref(),
            Some("s2.1")
        );
        assert!(events.replay_events_after("garbage").await.is_err());
    }

    #[test]
    fn a_client_resumes_only_its_own_standalone_stream() {
        assert!(resumable_by("abc:common.4", "abc"));
        assert!(!resumable_by("xyz:common.4", "abc"));
        assert!(resumable_by("5b1f-uuid.2", "abc"));
        assert!(!resumable_by("nonsense", "abc"));
        assert!(!resumable_by(".3", "abc"));
    }
}
