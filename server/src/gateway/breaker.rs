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

#[cfg(test)]
mod tests {
    use super::*;

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
