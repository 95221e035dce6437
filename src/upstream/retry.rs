//! When and how long to wait before retrying an upstream request.
//!
//! Only failures that say nothing about the request itself are retried:
//! connect errors and 502/503/504. Timeouts are not (the client has already
//! waited the whole timeout), nor is anything else.
//!
//! A retry budget (as in Envoy and gRPC) bounds how much retries may add
//! to the load: over a sliding window, retries stay below a share of the
//! requests, plus a small floor so that a quiet gateway can still retry.
//! When the upstream is down, retries then add at most that share instead
//! of multiplying every request.

use super::window::{Counts, Window};
use ring::rand::{SecureRandom, SystemRandom};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    pub base: Duration,
    /// Caps the backoff and `Retry-After` alike.
    pub max_delay: Duration,
}

pub fn retryable_status(status: u16) -> bool {
    matches!(status, 502..=504)
}

/// `Retry-After` in its seconds form; the HTTP-date form is ignored (the
/// backoff applies).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0 for the first): exponential
    /// backoff with jitter in its upper half, so that many clients failing at
    /// once do not come back at once; at least the server's `Retry-After`,
    /// and never above the cap. `jitter` is in `[0, 1]`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let exponential = self
            .base
            .saturating_mul(2u32.saturating_pow(retry.min(20)))
            .min(self.max_delay);
        let jittered = exponential.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        jittered
            .max(retry_after.unwrap_or(Duration::ZERO))
            .min(self.max_delay)
    }

    /// [`RetryPolicy::delay`] with a random jitter.
    pub fn next_delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        self.delay(retry, retry_after, random_unit())
    }
}

pub struct RetryBudget {
    percent: u64,
    /// Retries always allowed per window, whatever the traffic.
    floor: u64,
    window: Mutex<Window>,
}

impl RetryBudget {
    /// `percent` of the requests in `window`, plus `min_per_second` retries
    /// per second of it.
    pub fn new(percent: u32, min_per_second: u32, window: Duration, now: Instant) -> RetryBudget {
        let floor = (f64::from(min_per_second) * window.as_secs_f64()).ceil();
        RetryBudget {
            percent: u64::from(percent),
            // Saturates: a float cast to an integer clamps.
            floor: floor as u64,
            window: Mutex::new(Window::new(window, now)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        // Plain counts: a panic elsewhere cannot leave them torn.
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A first attempt went out.
    pub fn request(&self, now: Instant) {
        self.lock().add(
            now,
            Counts {
                requests: 1,
                ..Counts::default()
            },
        );
    }

    /// Takes leave for one retry; `false` when the budget is spent.
    pub fn try_retry(&self, now: Instant) -> bool {
        let mut window = self.lock();
        let Counts {
            requests, retries, ..
        } = window.total(now);
        let allowed = requests.saturating_mul(self.percent) / 100 + self.floor;
        if retries >= allowed {
            return false;
        }
        window.add(
            now,
            Counts {
                retries: 1,
                ..Counts::default()
            },
        );
        true
    }

    /// Requests and retries in the current window.
    pub fn counts(&self, now: Instant) -> Counts {
        self.lock().total(now)
    }
}

fn random_unit() -> f64 {
    let mut bytes = [0u8; 4];
    // Without randomness the jitter is simply the middle of its range.
    if SystemRandom::new().fill(&mut bytes).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            retries: 3,
            base: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn backoff_doubles_with_jitter_in_the_upper_half() {
        let p = policy();
        assert_eq!(p.delay(0, None, 0.0), ms(50));
        assert_eq!(p.delay(0, None, 1.0), ms(100));
        assert_eq!(p.delay(1, None, 1.0), ms(200));
        assert_eq!(p.delay(2, None, 0.0), ms(200));
        assert_eq!(p.delay(3, None, 1.0), ms(800));
    }

    #[test]
    fn backoff_and_retry_after_are_capped() {
        let p = policy();
        assert_eq!(p.delay(4, None, 1.0), ms(1000));
        assert_eq!(p.delay(u32::MAX, None, 1.0), ms(1000));
        assert_eq!(p.delay(0, Some(ms(400)), 0.0), ms(400));
        assert_eq!(p.delay(0, Some(Duration::from_secs(30)), 0.0), ms(1000));
        let r = p.next_delay(1, None);
        assert!(r >= ms(100) && r <= ms(200), "{r:?}");
    }

    #[test]
    fn the_budget_is_a_share_of_requests_plus_a_floor() {
        let t = Instant::now();
        let window = Duration::from_secs(1);
        // Floor: 2 per second over a 1 s window.
        let b = RetryBudget::new(20, 2, window, t);
        assert!(b.try_retry(t) && b.try_retry(t));
        assert!(!b.try_retry(t), "the floor is spent");
        for _ in 0..10 {
            b.request(t);
        }
        // 20% of 10 requests: two more.
        assert!(b.try_retry(t) && b.try_retry(t));
        assert!(!b.try_retry(t));
        assert_eq!(b.counts(t).retries, 4);
        // The window moves on: the budget comes back.
        assert!(b.try_retry(t + window));
        assert_eq!(b.counts(t + window).requests, 0);
    }

    #[test]
    fn a_zero_budget_refuses_every_retry() {
        let t = Instant::now();
        let b = RetryBudget::new(0, 0, Duration::from_secs(1), t);
        for _ in 0..100 {
            b.request(t);
        }
        assert!(!b.try_retry(t));
    }

    #[test]
    fn what_is_retried() {
        assert!(retryable_status(502) && retryable_status(503) && retryable_status(504));
        assert!(!retryable_status(500) && !retryable_status(429) && !retryable_status(404));
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
