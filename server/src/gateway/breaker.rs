//! A circuit breaker per upstream: after `threshold` consecutive failures it opens and
//! refuses calls for `cooldown`; then one call is let through (half-open); its success
//! closes the breaker, its failure opens it again. Callers never wait on a dead upstream.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen,
}

#[derive(Clone, Copy, Debug)]
struct State {
    phase: Phase,
    /// Consecutive failures; reset by a success.
    failures: u32,
}

#[derive(Debug)]
pub struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    cooldown: Duration,
}

/// The breaker as the API and console show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakerView {
    /// `closed`, `open` or `half_open`.
    pub state: &'static str,
    pub consecutive_failures: u32,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            state: Mutex::new(State {
                phase: Phase::Closed,
                failures: 0,
            }),
            threshold: threshold.max(1),
            cooldown,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of a Copy value.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// May a call go out at `now`? `Err` carries how long until the next probe.
    pub fn admit(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self.lock();
        match state.phase {
            Phase::Closed => Ok(()),
            Phase::Open { until } if now >= until => {
                state.phase = Phase::HalfOpen;
                Ok(())
            }
            Phase::Open { until } => Err(until - now),
            // One probe is already out.
            Phase::HalfOpen => Err(self.cooldown),
        }
    }

    pub fn success(&self) {
        *self.lock() = State {
            phase: Phase::Closed,
            failures: 0,
        };
    }

    /// Counts a failure; returns true when this one opened the breaker.
    pub fn failure(&self, now: Instant) -> bool {
        let mut state = self.lock();
        state.failures = state.failures.saturating_add(1);
        let opens = match state.phase {
            Phase::Closed => state.failures >= self.threshold,
            Phase::HalfOpen => true,
            Phase::Open { .. } => false,
        };
        if opens {
            state.phase = Phase::Open {
                until: now + self.cooldown,
            };
        }
        opens
    }

    pub fn view(&self) -> BreakerView {
        let state = *self.lock();
        BreakerView {
            state: match state.phase {
                Phase::Closed => "closed",
                Phase::Open { .. } => "open",
                Phase::HalfOpen => "half_open",
            },
            consecutive_failures: state.failures,
        }
    }
}

/// Reconnect pacing: after the `n`th consecutive failure to open a session, the next
/// attempt waits a random time between half and all of `min(200 ms × 2ⁿ⁻¹, 30 s)`
/// ("equal jitter"), so replicas and upstreams recovering together do not reconnect in step.
#[derive(Debug, Default)]
pub struct Backoff {
    state: Mutex<(u32, Option<Instant>)>,
}

const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// The delay before attempt `failures + 1`, for a `jitter` in [0, 1].
fn backoff_delay(failures: u32, jitter: f64) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let ceiling = exp.min(BACKOFF_CAP);
    ceiling.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

impl Backoff {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u32, Option<Instant>)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long until another attempt may be made, if it may not be made now.
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        let (_, not_before) = *self.lock();
        not_before.filter(|t| *t > now).map(|t| t - now)
    }

    pub fn failed(&self, now: Instant) {
        let mut state = self.lock();
        state.0 = state.0.saturating_add(1);
        state.1 = Some(now + backoff_delay(state.0, rand::random::<f64>()));
    }

    pub fn reset(&self) {
        *self.lock() = (0, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_a_cap() {
        assert_eq!(backoff_delay(1, 1.0), Duration::from_millis(200));
        assert_eq!(backoff_delay(1, 0.0), Duration::from_millis(100));
        assert_eq!(backoff_delay(3, 1.0), Duration::from_millis(800));
        assert_eq!(backoff_delay(40, 1.0), Duration::from_secs(30));
        assert_eq!(backoff_delay(40, 0.0), Duration::from_secs(15));
        let backoff = Backoff::default();
        let now = Instant::now();
        assert_eq!(backoff.wait(now), None);
        backoff.failed(now);
        let wait = backoff.wait(now).unwrap();
        assert!(wait >= Duration::from_millis(100) && wait <= Duration::from_millis(200));
        assert_eq!(backoff.wait(now + Duration::from_millis(201)), None);
        backoff.reset();
        assert_eq!(backoff.wait(now), None);
    }

    #[test]
    fn opens_after_consecutive_failures_then_probes_once() {
        let b = Breaker::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..2 {
            b.failure(t0);
            assert!(b.admit(t0).is_ok());
        }
        // A success in between resets the count.
        b.success();
        for n in 1..=3 {
            assert!(b.admit(t0).is_ok());
            assert_eq!(b.failure(t0), n == 3, "only the third failure opens it");
        }
        assert_eq!(
            b.view(),
            BreakerView {
                state: "open",
                consecutive_failures: 3
            }
        );
        assert_eq!(
            b.admit(t0 + Duration::from_secs(4)),
            Err(Duration::from_secs(6))
        );
        // After the cooldown one probe goes out; a second caller waits for its outcome.
        let later = t0 + Duration::from_secs(10);
        assert!(b.admit(later).is_ok());
        assert_eq!(b.view().state, "half_open");
        assert!(b.admit(later).is_err());
        // The probe fails: open again for a full cooldown.
        assert!(b.failure(later));
        assert!(b.admit(later + Duration::from_secs(9)).is_err());
        assert!(b.admit(later + Duration::from_secs(10)).is_ok());
        // The next probe succeeds: closed.
        b.success();
        assert_eq!(
            b.view(),
            BreakerView {
                state: "closed",
                consecutive_failures: 0
            }
        );
        assert!(b.admit(later).is_ok());
    }
}
