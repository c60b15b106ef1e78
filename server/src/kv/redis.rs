//! Shared state in Redis, for several replicas. Every check-and-update is one Lua script, so
//! replicas never interleave between a read and its write.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use super::KvError;
use super::gcra::{RateDecision, RateLimit};

/// GCRA as in `gcra.rs`, on Redis' own clock so replicas with skewed clocks agree.
/// KEYS[1] = cell; ARGV = period (µs), interval (µs). Returns allowed, remaining,
/// retry-after (µs), reset-after (µs).
const GCRA: &str = r#"
local period = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
local used = new_tat - now
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.max(1, math.ceil(used / 1000)))
return {1, math.floor((period - math.min(used, period)) / interval), 0, used}
"#;

/// KEYS[1] = lease; ARGV = holder, ttl (ms). Takes a free lease or extends our own.
const ACQUIRE: &str = r#"
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if current then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"#;

/// KEYS[1] = lease; ARGV = holder, ttl (ms). Extends the lease only if we hold it.
const RENEW: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

/// KEYS[1] = lease; ARGV = holder. Deletes the lease only if we hold it.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

pub struct RedisKv {
    client: redis::Client,
    connection: ConnectionManager,
    gcra: Script,
    acquire: Script,
    renew: Script,
    release: Script,
}

impl RedisKv {
    pub async fn connect(url: &str) -> Result<Self, KvError> {
        let client = redis::Client::open(url)?;
        let connection = ConnectionManager::new(client.clone()).await?;
        Ok(Self {
            client,
            connection,
            gcra: Script::new(GCRA),
            acquire: Script::new(ACQUIRE),
            renew: Script::new(RENEW),
            release: Script::new(RELEASE),
        })
    }

    fn conn(&self) -> ConnectionManager {
        self.connection.clone()
    }

    pub async fn ping(&self) -> Result<(), KvError> {
        let _: String = redis::cmd("PING").query_async(&mut self.conn()).await?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.conn().get(key).await?)
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError> {
        let mut conn = self.conn();
        match ttl {
            Some(ttl) => {
                let ms = ttl.as_millis().max(1) as u64;
                let _: () = conn.pset_ex(key, value, ms).await?;
            }
            None => {
                let _: () = conn.set(key, value).await?;
            }
        }
        Ok(())
    }

    pub async fn delete(&self, key: &str) -> Result<bool, KvError> {
        let removed: u64 = self.conn().del(key).await?;
        Ok(removed > 0)
    }

    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.conn().get_del(key).await?)
    }

    pub async fn rate_limit(&self, key: &str, rate: &RateLimit) -> Result<RateDecision, KvError> {
        let (allowed, remaining, retry_us, reset_us): (i64, i64, i64, i64) = self
            .gcra
            .key(key)
            .arg(rate.period_us())
            .arg(rate.interval_us())
            .invoke_async(&mut self.conn())
            .await?;
        Ok(RateDecision {
            allowed: allowed == 1,
            limit: rate.limit,
            remaining: remaining.max(0) as u32,
            retry_after: Duration::from_micros(retry_us.max(0) as u64),
            reset_after: Duration::from_micros(reset_us.max(0) as u64),
        })
    }

    pub async fn acquire_lease(
        &self,
        key: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, KvError> {
        let ms = ttl.as_millis().max(1) as u64;
        let got: i64 = self
            .acquire
            .key(key)
            .arg(holder)
            .arg(ms)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(got == 1)
    }

    pub async fn renew_lease(
        &self,
        key: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, KvError> {
        let ms = ttl.as_millis().max(1) as u64;
        let got: i64 = self
            .renew
            .key(key)
            .arg(holder)
            .arg(ms)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(got == 1)
    }

    pub async fn release_lease(&self, key: &str, holder: &str) -> Result<bool, KvError> {
        let got: i64 = self
            .release
            .key(key)
            .arg(holder)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(got == 1)
    }

    pub async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), KvError> {
        let _: i64 = self.conn().publish(channel, payload).await?;
        Ok(())
    }

    /// A dedicated connection that receives `channel`'s messages until dropped.
    pub async fn subscribe(&self, channel: &str) -> Result<redis::aio::PubSub, KvError> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok(pubsub)
    }
}
