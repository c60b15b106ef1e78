//! The generic cell rate algorithm (GCRA), a token bucket kept as one number: the theoretical
//! arrival time (TAT) of the next request. The Redis backend runs the same arithmetic in Lua
//! (`redis.rs`) so that check-and-update is one atomic step there.

use std::time::Duration;

/// `limit` requests per `period`, of which all `limit` may come at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u32,
    pub period: Duration,
}

impl RateLimit {
    pub fn per_second(limit: u32) -> Self {
        Self {
            limit,
            period: Duration::from_secs(1),
        }
    }

    pub fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            period: Duration::from_secs(60),
        }
    }

    pub(crate) fn period_us(&self) -> u64 {
        self.period.as_micros().max(1) as u64
    }

    pub(crate) fn interval_us(&self) -> u64 {
        (self.period_us() / u64::from(self.limit.max(1))).max(1)
    }
}

/// The answer for one request, with what the `RateLimit-*` headers need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    /// Requests that could still be made right now.
    pub remaining: u32,
    /// When a denied request may be retried (zero when allowed).
    pub retry_after: Duration,
    /// When the bucket is full again.
    pub reset_after: Duration,
}

/// One GCRA step at time `now_us`: the decision and, when allowed, the TAT to store.
pub(crate) fn step(
    tat_us: Option<u64>,
    now_us: u64,
    rate: &RateLimit,
) -> (RateDecision, Option<u64>) {
    let (period, interval) = (rate.period_us(), rate.interval_us());
    let tat = tat_us.unwrap_or(now_us).max(now_us);
    let new_tat = tat + interval;
    let allow_at = new_tat.saturating_sub(period);
    if now_us < allow_at {
        let decision = RateDecision {
            allowed: false,
            limit: rate.limit,
            remaining: 0,
            retry_after: Duration::from_micros(allow_at - now_us),
            reset_after: Duration::from_micros(tat - now_us),
        };
        return (decision, None);
    }
    let used = new_tat - now_us;
    let decision = RateDecision {
        allowed: true,
        limit: rate.limit,
        remaining: ((period - used.min(period)) / interval) as u32,
        retry_after: Duration::ZERO,
        reset_after: Duration::from_micros(used),
    };
    (decision, Some(new_tat))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_allows_a_burst_then_refills_at_the_rate() {
        let rate = RateLimit::per_second(5);
        let mut tat = None;
        for expected_remaining in (0..5).rev() {
            let (d, new) = step(tat, 0, &rate);
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
            tat = new;
        }
        let (d, new) = step(tat, 0, &rate);
        assert!(!d.allowed && new.is_none());
        assert_eq!(d.retry_after, Duration::from_millis(200));
        // One interval later exactly one more request fits.
        let (d, new) = step(tat, 200_000, &rate);
        assert!(d.allowed);
        let (d, _) = step(new, 200_000, &rate);
        assert!(!d.allowed);
        // After a whole period the bucket is full again.
        let (d, _) = step(tat, 2_000_000, &rate);
        assert_eq!((d.allowed, d.remaining), (true, 4));
    }
}
