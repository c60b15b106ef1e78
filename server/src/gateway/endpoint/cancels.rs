//! Cancellation across replicas. A session-era client may send `notifications/cancelled`
//! (MCP 2025-11-25 basic/utilities/cancellation) to any replica — without sticky load
//! balancing its POSTs land anywhere — while the request it withdraws runs on another. rmcp
//! cancels only what its own session task holds, so every replica keeps its requests in
//! flight here by session and JSON-RPC id; a cancellation for a request this replica does
//! not hold is published on one kv channel, and the replica holding it cancels it: the call
//! stops and its upstream is told in turn (`relay`).
//!
//! The key carries the session id, and only the session's owner gets a notification through
//! (`http::mcp` admits it), so a caller can withdraw only its own requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rmcp::model::RequestId;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::kv::Kv;

const CHANNEL: &str = "mcp:cancel";

/// (session id, request id as JSON: `7` and `"7"` are different ids).
type Key = (String, String);

#[derive(Serialize, Deserialize)]
struct Withdrawal {
    session: String,
    request: String,
}

/// This replica's requests in flight, and the channel to the others; cheap to clone.
#[derive(Clone)]
pub struct Cancels {
    kv: Kv,
    inflight: Arc<Mutex<HashMap<Key, CancellationToken>>>,
}

/// A tracked request; dropping it (the request answered or abandoned) forgets it.
pub struct Tracked {
    key: Option<Key>,
    inflight: Arc<Mutex<HashMap<Key, CancellationToken>>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.inflight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
        }
    }
}

fn key(session: &str, id: &RequestId) -> Key {
    (
        session.to_owned(),
        serde_json::to_string(id).unwrap_or_default(),
    )
}

impl Cancels {
    pub fn new(kv: Kv) -> Self {
        Self {
            kv,
            inflight: Arc::default(),
        }
    }

    /// Holds `token` as the way to cancel request `id` of `session` (`None`: a stateless
    /// request, which its client withdraws by closing the connection instead).
    pub fn track(
        &self,
        session: Option<&str>,
        id: &RequestId,
        token: CancellationToken,
    ) -> Tracked {
        let key = session.map(|session| key(session, id));
        if let Some(key) = &key {
            self.inflight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.clone(), token);
        }
        Tracked {
            key,
            inflight: Arc::clone(&self.inflight),
        }
    }

    /// Cancels `id` of `session` here if it runs here, or else wherever it runs.
    pub async fn cancel(&self, session: &str, id: &RequestId) {
        if self.cancel_local(&key(session, id)) {
            return;
        }
        let (session, request) = key(session, id);
        let Ok(message) = serde_json::to_vec(&Withdrawal { session, request }) else {
            return;
        };
        if let Err(error) = self.kv.publish(CHANNEL, &message).await {
            tracing::warn!(%error, "cancellation not passed to the other replicas");
        }
    }

    fn cancel_local(&self, key: &Key) -> bool {
        let token = self
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned();
        token.map(|t| t.cancel()).is_some()
    }

    /// Listens for other replicas' cancellations until `shutdown`.
    pub fn spawn_listener(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let cancels = self.clone();
        let what = "cross-replica cancellation";
        self.kv.listen(CHANNEL, what, shutdown, move |message| {
            if let Ok(w) = serde_json::from_slice::<Withdrawal>(&message) {
                cancels.cancel_local(&(w.session, w.request));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_cancellation_reaches_the_replica_that_holds_the_request() {
        let kv = Kv::open(&crate::config::Secret::new(String::new()), "t:")
            .await
            .unwrap();
        let (here, there) = (Cancels::new(kv.clone()), Cancels::new(kv));
        let shutdown = CancellationToken::new();
        let listener = there.spawn_listener(shutdown.clone());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (seven, quoted) = (CancellationToken::new(), CancellationToken::new());
        let _a = there.track(Some("s1"), &RequestId::Number(7), seven.clone());
        let _b = there.track(Some("s1"), &RequestId::String("7".into()), quoted.clone());
        // Another session's id 7 is not this one's.
        here.cancel("s2", &RequestId::Number(7)).await;
        here.cancel("s1", &RequestId::Number(7)).await;
        tokio::time::timeout(Duration::from_secs(5), seven.cancelled())
            .await
            .expect("cancelled through the channel");
        assert!(!quoted.is_cancelled(), "\"7\" is another request");
        // Answered requests are forgotten.
        drop(_b);
        assert!(!there.cancel_local(&key("s1", &RequestId::String("7".into()))));
        shutdown.cancel();
        listener.await.unwrap();
    }
}
