//! A circuit breaker per upstream: after `threshold` consecutive failures it opens and
//! refuses calls for `cooldown`; then one call is let through (half-open); its success
//! closes the breaker, its failure opens it again. Callers never wait on a dead upstream.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
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
            state: Mutex::new(State::Closed { failures: 0 }),
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
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } if now >= until => {
                *state = State::HalfOpen;
                Ok(())
            }
            State::Open { until } => Err(until - now),
            // One probe is already out.
            State::HalfOpen => Err(self.cooldown),
        }
    }

    pub fn success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    pub fn failure(&self, now: Instant) {
        let mut state = self.lock();
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until: now + self.cooldown,
            },
        };
    }

    pub fn view(&self, failures_if_open: u32) -> BreakerView {
        match *self.lock() {
            State::Closed { failures } => BreakerView {
                state: "closed",
                consecutive_failures: failures,
            },
            State::Open { .. } => BreakerView {
                state: "open",
                consecutive_failures: failures_if_open,
            },
            State::HalfOpen => BreakerView {
                state: "half_open",
                consecutive_failures: failures_if_open,
            },
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
        for _ in 0..3 {
            assert!(b.admit(t0).is_ok());
            b.failure(t0);
        }
        assert_eq!(b.view(3).state, "open");
        assert_eq!(
            b.admit(t0 + Duration::from_secs(4)),
            Err(Duration::from_secs(6))
        );
        // After the cooldown one probe goes out; a second caller waits for its outcome.
        let later = t0 + Duration::from_secs(10);
        assert!(b.admit(later).is_ok());
        assert_eq!(b.view(3).state, "half_open");
        assert!(b.admit(later).is_err());
        // The probe fails: open again for a full cooldown.
        b.failure(later);
        assert!(b.admit(later + Duration::from_secs(9)).is_err());
        assert!(b.admit(later + Duration::from_secs(10)).is_ok());
        // The next probe succeeds: closed.
        b.success();
        assert_eq!(
            b.view(0),
            BreakerView {
                state: "closed",
                consecutive_failures: 0
            }
        );
        assert!(b.admit(later).is_ok());
    }
}
