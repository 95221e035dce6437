//! Counts over a sliding time window, for the circuit breaker's failure rate
//! and the retry budget. The window is cut into a few buckets: old buckets
//! drop out whole, which keeps the memory fixed and the sums cheap at the
//! price of a bucket's width of imprecision.
//!
//! Times are passed in, so callers test without sleeping.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

const BUCKETS: u64 = 10;

/// What one window counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    pub failures: u64,
    pub retries: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.requests = self.requests.saturating_add(other.requests);
        self.failures = self.failures.saturating_add(other.failures);
        self.retries = self.retries.saturating_add(other.retries);
    }
}

pub struct Window {
    span: Duration,
    bucket_nanos: u128,
    origin: Instant,
    /// (bucket number since `origin`, its counts), oldest first.
    buckets: VecDeque<(u128, Counts)>,
}

impl Window {
    pub fn new(span: Duration, now: Instant) -> Window {
        Window {
            span,
            bucket_nanos: (span.as_nanos() / u128::from(BUCKETS)).max(1),
            origin: now,
            buckets: VecDeque::new(),
        }
    }

    pub fn span(&self) -> Duration {
        self.span
    }

    fn bucket(&self, now: Instant) -> u128 {
        now.saturating_duration_since(self.origin).as_nanos() / self.bucket_nanos
    }

    fn evict(&mut self, now: Instant) {
        let current = self.bucket(now);
        while let Some(&(n, _)) = self.buckets.front() {
            if n + u128::from(BUCKETS) > current {
                break;
            }
            self.buckets.pop_front();
        }
    }

    pub fn add(&mut self, now: Instant, counts: Counts) {
        self.evict(now);
        let current = self.bucket(now);
        match self.buckets.back_mut() {
            Some((n, c)) if *n >= current => c.add(counts),
            _ => self.buckets.push_back((current, counts)),
        }
    }

    pub fn total(&mut self, now: Instant) -> Counts {
        self.evict(now);
        let mut total = Counts::default();
        for (_, c) in &self.buckets {
            total.add(*c);
        }
        total
    }

    pub fn clear(&mut self) {
        self.buckets.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: Counts = Counts {
        requests: 1,
        failures: 1,
        retries: 0,
    };

    #[test]
    fn counts_drop_out_after_the_span() {
        let t = Instant::now();
        let mut w = Window::new(Duration::from_millis(1000), t);
        w.add(t, ONE);
        w.add(t + Duration::from_millis(500), ONE);
        assert_eq!(w.total(t + Duration::from_millis(999)).requests, 2);
        assert_eq!(w.total(t + Duration::from_millis(1000)).requests, 1);
        assert_eq!(w.total(t + Duration::from_millis(1500)).requests, 0);
        w.add(t + Duration::from_millis(1600), ONE);
        assert_eq!(w.total(t + Duration::from_millis(1600)).failures, 1);
        w.clear();
        assert_eq!(w.total(t + Duration::from_millis(1600)), Counts::default());
    }

    #[test]
    fn a_long_idle_gap_keeps_memory_fixed() {
        let t = Instant::now();
        let mut w = Window::new(Duration::from_millis(100), t);
        for i in 0..1000 {
            w.add(t + Duration::from_millis(i), ONE);
        }
        assert!(w.buckets.len() <= BUCKETS as usize);
        assert!(w.total(t + Duration::from_secs(3600)).requests == 0);
    }
}
