//! Shared state: sessions (keys with expiry), rate-limit cells, pub/sub and leases. Two
//! backends behind one type: in-process (the embedded default, one replica) and Redis (any
//! number of replicas). Every key and channel gets the configured prefix.

mod gcra;
mod memory;
mod redis;

pub use gcra::{RateDecision, RateLimit};

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};

use self::redis::RedisKv;
use crate::config::Secret;
use memory::MemoryKv;

/// Why a shared-state call failed.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// Redis refused or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
}

/// Which backend a [`Kv`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvBackend {
    Memory,
    Redis,
}

#[derive(Clone)]
enum Inner {
    Memory(Arc<MemoryKv>),
    Redis(Arc<RedisKv>),
}

/// The shared-state handle; cheap to clone.
#[derive(Clone)]
pub struct Kv {
    inner: Inner,
    prefix: Arc<str>,
}

impl std::fmt::Debug for Kv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kv")
            .field("backend", &self.backend())
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Messages of one channel, in publish order.
pub struct Subscription {
    stream: Pin<Box<dyn Stream<Item = Vec<u8>> + Send>>,
}

impl Subscription {
    /// The next message; `None` once the channel is gone.
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        self.stream.next().await
    }
}

impl Kv {
    /// Redis when `url` is set, otherwise in-process.
    pub async fn open(url: &Secret, prefix: &str) -> Result<Self, KvError> {
        let inner = if url.is_empty() {
            Inner::Memory(Arc::new(MemoryKv::default()))
        } else {
            Inner::Redis(Arc::new(RedisKv::connect(url.expose()).await?))
        };
        Ok(Self {
            inner,
            prefix: prefix.into(),
        })
    }

    /// An in-process store (tests, single-replica deployments).
    pub fn memory(prefix: &str) -> Self {
        Self {
            inner: Inner::Memory(Arc::new(MemoryKv::default())),
            prefix: prefix.into(),
        }
    }

    pub fn backend(&self) -> KvBackend {
        match self.inner {
            Inner::Memory(_) => KvBackend::Memory,
            Inner::Redis(_) => KvBackend::Redis,
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// A round trip to the backend, for readiness checks.
    pub async fn ping(&self) -> Result<(), KvError> {
        match &self.inner {
            Inner::Memory(_) => Ok(()),
            Inner::Redis(r) => r.ping().await,
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let key = self.key(key);
        match &self.inner {
            Inner::Memory(m) => Ok(m.get(&key)),
            Inner::Redis(r) => r.get(&key).await,
        }
    }

    /// Stores `value`, expiring after `ttl` when given.
    pub async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError> {
        let key = self.key(key);
        match &self.inner {
            Inner::Memory(m) => {
                m.set(&key, value, ttl);
                Ok(())
            }
            Inner::Redis(r) => r.set(&key, value, ttl).await,
        }
    }

    /// Removes `key`; says whether it existed.
    pub async fn delete(&self, key: &str) -> Result<bool, KvError> {
        let key = self.key(key);
        match &self.inner {
            Inner::Memory(m) => Ok(m.delete(&key)),
            Inner::Redis(r) => r.delete(&key).await,
        }
    }

    /// Removes `key` and returns its value, atomically: of two concurrent takers exactly one
    /// gets it (single-use codes and requests).
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let key = self.key(key);
        match &self.inner {
            Inner::Memory(m) => Ok(m.take(&key)),
            Inner::Redis(r) => r.take(&key).await,
        }
    }

    /// Counts one request against `key`'s bucket and says whether it may proceed.
    pub async fn rate_limit(&self, key: &str, rate: &RateLimit) -> Result<RateDecision, KvError> {
        let key = self.key(&format!("rl:{key}"));
        match &self.inner {
            Inner::Memory(m) => Ok(m.rate_limit(&key, rate)),
            Inner::Redis(r) => r.rate_limit(&key, rate).await,
        }
    }

    /// Takes lease `name` for `holder` for `ttl` if nobody else holds it (re-acquiring our own
    /// lease extends it).
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, KvError> {
        let key = self.key(&format!("lease:{name}"));
        match &self.inner {
            Inner::Memory(m) => Ok(m.acquire_lease(&key, holder, ttl)),
            Inner::Redis(r) => r.acquire_lease(&key, holder, ttl).await,
        }
    }

    /// Extends a lease we still hold; `false` means it was lost.
    pub async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, KvError> {
        let key = self.key(&format!("lease:{name}"));
        match &self.inner {
            Inner::Memory(m) => Ok(m.renew_lease(&key, holder, ttl)),
            Inner::Redis(r) => r.renew_lease(&key, holder, ttl).await,
        }
    }

    /// Gives a lease back early; `false` if we no longer held it.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<bool, KvError> {
        let key = self.key(&format!("lease:{name}"));
        match &self.inner {
            Inner::Memory(m) => Ok(m.release_lease(&key, holder)),
            Inner::Redis(r) => r.release_lease(&key, holder).await,
        }
    }

    /// Sends `payload` to everyone subscribed to `channel` now (on every replica with Redis).
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), KvError> {
        let channel = self.key(&format!("ch:{channel}"));
        match &self.inner {
            Inner::Memory(m) => {
                m.publish(&channel, payload);
                Ok(())
            }
            Inner::Redis(r) => r.publish(&channel, payload).await,
        }
    }

    /// Receives what is published to `channel` from now on.
    pub async fn subscribe(&self, channel: &str) -> Result<Subscription, KvError> {
        let channel = self.key(&format!("ch:{channel}"));
        let stream: Pin<Box<dyn Stream<Item = Vec<u8>> + Send>> = match &self.inner {
            Inner::Memory(m) => {
                let receiver = m.subscribe(&channel);
                Box::pin(futures::stream::unfold(
                    receiver,
                    |mut receiver| async move {
                        loop {
                            match receiver.recv().await {
                                Ok(message) => return Some((message, receiver)),
                                // A subscriber that fell behind skips ahead, as Redis would drop it.
                                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                                    continue;
                                }
                                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                                    return None;
                                }
                            }
                        }
                    },
                ))
            }
            Inner::Redis(r) => {
                let pubsub = r.subscribe(&channel).await?;
                Box::pin(
                    pubsub
                        .into_on_message()
                        .map(|msg| msg.get_payload_bytes().to_vec()),
                )
            }
        };
        Ok(Subscription { stream })
    }

    /// Hands every message published to `channel` to `on_message` until `shutdown`,
    /// subscribing again a second after a lost connection (`what` names the listener in
    /// the warning). Messages published while it was away are not replayed.
    pub fn listen(
        &self,
        channel: &'static str,
        what: &'static str,
        shutdown: tokio_util::sync::CancellationToken,
        on_message: impl Fn(Vec<u8>) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let kv = self.clone();
        tokio::spawn(async move {
            while !shutdown.is_cancelled() {
                match kv.subscribe(channel).await {
                    Ok(mut subscription) => loop {
                        let message = tokio::select! {
                            message = subscription.next() => message,
                            () = shutdown.cancelled() => return,
                        };
                        let Some(message) = message else { break };
                        on_message(message);
                    },
                    Err(error) => tracing::warn!(%error, "{what} not heard; retrying"),
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        })
    }
}
