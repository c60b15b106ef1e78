//! Answers to the gateway's own requests to a client (sampling, elicitation: `asks`) that
//! arrive on another replica. A session-era client POSTs its JSON-RPC response to whichever
//! replica its load balancer picks, while the request waiting for it — and rmcp's record of
//! it — is on the replica that sent it. Every replica keeps the asks it waits on here, by
//! session and JSON-RPC id; a response for an ask this replica does not wait on is published
//! on one kv channel, and the replica that does takes it from there.
//!
//! As with cancellations, the key carries the session id and only the session's owner gets
//! a message through (`http::mcp` admits it), so a caller can answer only its own asks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rmcp::ErrorData as McpError;
use rmcp::model::{ClientJsonRpcMessage, ClientResult, JsonRpcMessage, RequestId};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::kv::Kv;

const CHANNEL: &str = "mcp:answer";

/// (session id, request id as JSON).
type Key = (String, String);

type Answer = Result<ClientResult, McpError>;

#[derive(Serialize, Deserialize)]
struct Relayed {
    session: String,
    request: String,
    /// The client's JSON-RPC response, as it sent it.
    message: String,
}

/// The asks this replica waits on, and the channel to the others; cheap to clone.
#[derive(Clone)]
pub struct Answers {
    kv: Kv,
    waiting: Arc<Mutex<HashMap<Key, oneshot::Sender<Answer>>>>,
}

/// One ask's wait for an answer that another replica took; dropping it forgets the ask.
pub struct Waiting {
    key: Key,
    answer: oneshot::Receiver<Answer>,
    waiting: Arc<Mutex<HashMap<Key, oneshot::Sender<Answer>>>>,
}

impl Waiting {
    /// The answer, once another replica (or this one, outside rmcp) took it.
    pub async fn answer(&mut self) -> Answer {
        (&mut self.answer).await.unwrap_or_else(|_| {
            Err(McpError::internal_error(
                "the gateway stopped waiting",
                None,
            ))
        })
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

fn key(session: &str, id: &RequestId) -> Key {
    (
        session.to_owned(),
        serde_json::to_string(id).unwrap_or_default(),
    )
}

/// The request id and answer of a client's JSON-RPC response; `None` for anything else.
fn parse(message: &[u8]) -> Option<(RequestId, Answer)> {
    match serde_json::from_slice::<ClientJsonRpcMessage>(message).ok()? {
        JsonRpcMessage::Response(response) => Some((response.id, Ok(response.result))),
        JsonRpcMessage::Error(error) => Some((error.id?, Err(error.error))),
        _ => None,
    }
}

impl Answers {
    pub fn new(kv: Kv) -> Self {
        Self {
            kv,
            waiting: Arc::default(),
        }
    }

    /// Waits, besides rmcp, for the answer to ask `id` sent in `session`.
    pub fn wait(&self, session: &str, id: &RequestId) -> Waiting {
        let (tx, answer) = oneshot::channel();
        let key = key(session, id);
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), tx);
        Waiting {
            key,
            answer,
            waiting: Arc::clone(&self.waiting),
        }
    }

    /// Takes a POSTed message of `session` if it answers an ask, handing it to the replica
    /// that waits on it. `false`: not an answer, or one this replica's rmcp session may hold
    /// (rmcp gets it as usual, and it goes out on the channel too).
    pub async fn take(&self, session: &str, message: &[u8]) -> bool {
        // Most messages are requests and notifications: no need to parse those here.
        if message.windows(8).any(|w| w == b"\"method\"") {
            return false;
        }
        let Some((id, answer)) = parse(message) else {
            return false;
        };
        let key = key(session, &id);
        if self.deliver(&key, answer) {
            return true;
        }
        let relayed = Relayed {
            session: key.0,
            request: key.1,
            message: String::from_utf8_lossy(message).into_owned(),
        };
        let Ok(bytes) = serde_json::to_vec(&relayed) else {
            return false;
        };
        if let Err(error) = self.kv.publish(CHANNEL, &bytes).await {
            tracing::warn!(%error, "an answer was not passed to the other replicas");
        }
        false
    }

    fn deliver(&self, key: &Key, answer: Answer) -> bool {
        let waiter = self
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        waiter.map(|w| w.send(answer)).is_some()
    }

    /// Listens for answers other replicas took until `shutdown`.
    pub fn spawn_listener(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let answers = self.clone();
        let what = "cross-replica answers";
        self.kv.listen(CHANNEL, what, shutdown, move |message| {
            let Ok(relayed) = serde_json::from_slice::<Relayed>(&message) else {
                return;
            };
            // The key comes from the message itself, not from what was published beside it.
            if let Some((id, answer)) = parse(relayed.message.as_bytes()) {
                answers.deliver(&key(&relayed.session, &id), answer);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn an_answer_reaches_the_replica_that_waits_for_it() {
        let kv = Kv::open(&crate::config::Secret::new(String::new()), "t:")
            .await
            .unwrap();
        let (here, there) = (Answers::new(kv.clone()), Answers::new(kv));
        let shutdown = CancellationToken::new();
        let listener = there.spawn_listener(shutdown.clone());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut waiting = there.wait("s1", &RequestId::Number(3));
        // Not an answer: left to rmcp.
        let request = br#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#;
        assert!(!here.take("s1", request).await);
        // Another session's id 3 is not this one's.
        let answer = br#"{"jsonrpc":"2.0","id":3,"result":{}}"#;
        assert!(!here.take("s2", answer).await);
        assert!(!here.take("s1", answer).await, "published, not held here");
        let got = tokio::time::timeout(Duration::from_secs(5), waiting.answer())
            .await
            .expect("answered through the channel");
        assert!(got.is_ok(), "{got:?}");
        // An error answer, taken on the replica that waits.
        let mut waiting = there.wait("s1", &RequestId::String("e".into()));
        let error = br#"{"jsonrpc":"2.0","id":"e","error":{"code":-1,"message":"declined"}}"#;
        assert!(there.take("s1", error).await);
        assert_eq!(waiting.answer().await.unwrap_err().message, "declined");
        shutdown.cancel();
        listener.await.unwrap();
    }
}
