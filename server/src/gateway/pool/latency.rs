//! Each upstream's recent answer times on this replica, for its status in the API and the
//! console: the median and 95th percentile over the last answered requests.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// How many answers the percentiles are taken over.
const WINDOW: usize = 256;

#[derive(Default)]
pub(super) struct Latencies {
    recent: Mutex<VecDeque<Duration>>,
}

impl Latencies {
    pub(super) fn record(&self, took: Duration) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == WINDOW {
            recent.pop_front();
        }
        recent.push_back(took);
    }

    /// (p50, p95) in milliseconds, once anything was answered.
    pub(super) fn percentiles(&self) -> Option<(f64, f64)> {
        let mut sorted: Vec<Duration> = self
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_unstable();
        let at = |q: f64| {
            let i = ((sorted.len() - 1) as f64 * q).round() as usize;
            (sorted[i].as_secs_f64() * 1000.0 * 10.0).round() / 10.0
        };
        Some((at(0.50), at(0.95)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_the_last_window_of_answers() {
        let latencies = Latencies::default();
        assert_eq!(latencies.percentiles(), None);
        for ms in 1..=100 {
            latencies.record(Duration::from_millis(ms));
        }
        assert_eq!(latencies.percentiles(), Some((51.0, 95.0)));
        // Old answers leave the window.
        for _ in 0..WINDOW {
            latencies.record(Duration::from_millis(7));
        }
        assert_eq!(latencies.percentiles(), Some((7.0, 7.0)));
    }
}
