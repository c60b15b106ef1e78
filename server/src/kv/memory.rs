//! In-process shared state for a single replica: the embedded default.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use super::gcra::{self, RateDecision, RateLimit};

/// Sweep expired entries after this many writes, so abandoned keys do not pile up.
const SWEEP_EVERY: u64 = 1024;
/// Messages a slow subscriber may fall behind before it skips ahead.
const CHANNEL_CAPACITY: usize = 1024;

struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

#[derive(Default)]
struct Values {
    map: HashMap<String, Entry>,
    writes: u64,
}

/// Keys with expiry, GCRA cells, leases and broadcast channels, all behind short locks that
/// are never held across an `.await`.
pub struct MemoryKv {
    epoch: Instant,
    values: Mutex<Values>,
    channels: Mutex<HashMap<String, broadcast::Sender<Vec<u8>>>>,
}

impl Default for MemoryKv {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            values: Mutex::default(),
            channels: Mutex::default(),
        }
    }
}

impl MemoryKv {
    fn with_values<T>(&self, f: impl FnOnce(&mut Values, Instant) -> T) -> T {
        let mut values = self
            .values
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        values.writes += 1;
        if values.writes.is_multiple_of(SWEEP_EVERY) {
            values.map.retain(|_, entry| entry.live(now));
        }
        f(&mut values, now)
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.with_values(|v, now| {
            v.map
                .get(key)
                .filter(|e| e.live(now))
                .map(|e| e.value.clone())
        })
    }

    pub fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) {
        self.with_values(|v, now| {
            let entry = Entry {
                value: value.to_vec(),
                expires: ttl.map(|t| now + t),
            };
            v.map.insert(key.to_string(), entry);
        });
    }

    pub fn delete(&self, key: &str) -> bool {
        self.with_values(|v, now| v.map.remove(key).is_some_and(|e| e.live(now)))
    }

    pub fn take(&self, key: &str) -> Option<Vec<u8>> {
        self.with_values(|v, now| v.map.remove(key).filter(|e| e.live(now)).map(|e| e.value))
    }

    pub fn rate_limit(&self, key: &str, rate: &RateLimit) -> RateDecision {
        self.with_values(|v, now| {
            let now_us = now.duration_since(self.epoch).as_micros() as u64;
            let tat = v
                .map
                .get(key)
                .filter(|e| e.live(now))
                .and_then(|e| e.value.as_slice().try_into().ok())
                .map(u64::from_be_bytes);
            let (decision, new_tat) = gcra::step(tat, now_us, rate);
            if let Some(new_tat) = new_tat {
                let expires = Some(now + Duration::from_micros(new_tat - now_us));
                v.map.insert(
                    key.to_string(),
                    Entry {
                        value: new_tat.to_be_bytes().to_vec(),
                        expires,
                    },
                );
            }
            decision
        })
    }

    /// Takes the lease if it is free, expired or already ours (then extends it).
    pub fn acquire_lease(&self, key: &str, holder: &str, ttl: Duration) -> bool {
        self.with_values(|v, now| {
            let free = match v.map.get(key) {
                Some(e) if e.live(now) => e.value == holder.as_bytes(),
                _ => true,
            };
            if free {
                let entry = Entry {
                    value: holder.as_bytes().to_vec(),
                    expires: Some(now + ttl),
                };
                v.map.insert(key.to_string(), entry);
            }
            free
        })
    }

    pub fn renew_lease(&self, key: &str, holder: &str, ttl: Duration) -> bool {
        self.with_values(|v, now| match v.map.get_mut(key) {
            Some(e) if e.live(now) && e.value == holder.as_bytes() => {
                e.expires = Some(now + ttl);
                true
            }
            _ => false,
        })
    }

    pub fn release_lease(&self, key: &str, holder: &str) -> bool {
        self.with_values(|v, now| match v.map.get(key) {
            Some(e) if e.live(now) && e.value == holder.as_bytes() => {
                v.map.remove(key);
                true
            }
            _ => false,
        })
    }

    fn sender(&self, channel: &str) -> broadcast::Sender<Vec<u8>> {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        channels.retain(|_, sender| sender.receiver_count() > 0);
        channels
            .entry(channel.to_string())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .clone()
    }

    /// Delivers to current subscribers; like Redis, a message with no subscriber is dropped.
    pub fn publish(&self, channel: &str, payload: &[u8]) {
        let _no_subscribers_is_fine = self.sender(channel).send(payload.to_vec());
    }

    pub fn subscribe(&self, channel: &str) -> broadcast::Receiver<Vec<u8>> {
        self.sender(channel).subscribe()
    }
}
