//! The upstream circuit breaker. It judges whole requests, retries
//! included: a request that succeeded after a retry is a success, and a 4xx
//! is the client's business, never a failure. The circuit opens when, over
//! a sliding window, at least `min_requests` were judged and at least
//! `failure_rate` percent of them failed, or when `consecutive` requests in
//! a row failed (which catches an outage on a quiet gateway). While open,
//! requests fail at once instead of piling onto a struggling upstream.
//! After the cool-down up to `trials` requests go through: when all of them
//! succeed the circuit closes, the first failure opens it again.
//!
//! Times are passed in, so the state machine is tested without sleeping.

use super::window::{Counts, Window};
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitSettings {
    /// Failed requests in a row that open the circuit; 0 turns the whole
    /// breaker off.
    pub consecutive: u32,
    /// Percent of failed requests in the window that opens it; 0 turns the
    /// rate rule off.
    pub failure_rate: u32,
    pub min_requests: u32,
    pub window: Duration,
    pub cooldown: Duration,
    /// Trial requests let through while half-open; at least 1.
    pub trials: u32,
}

/// Why the circuit opened, for `/readyz` and the error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Rate {
        failures: u64,
        requests: u64,
        window: Duration,
    },
    Consecutive(u32),
    TrialFailed,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Rate {
                failures,
                requests,
                window,
            } => write!(
                f,
                "{failures} of {requests} upstream requests failed in the last {} ms",
                window.as_millis()
            ),
            Reason::Consecutive(n) => write!(f, "{n} upstream requests in a row failed"),
            Reason::TrialFailed => f.write_str("a trial request after the cool-down failed"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open {
        until: Instant,
        reason: Reason,
    },
    /// The cool-down is over: `out` trials are in flight, `passed` succeeded.
    HalfOpen {
        out: u32,
        passed: u32,
    },
}

/// What `/metrics` and `/readyz` see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    pub fn gauge(self) -> i64 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::Open => 1,
            CircuitState::HalfOpen => 2,
        }
    }
}

/// A request was refused because the circuit is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Time left until trials may go out (zero while all trials are out).
    pub retry_in: Duration,
    /// `None` while half-open.
    pub reason: Option<Reason>,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            Some(reason) => write!(
                f,
                "circuit open: {reason}; next try in {} ms",
                self.retry_in.as_millis()
            ),
            None => f.write_str("circuit open: trial requests after the cool-down are in flight"),
        }
    }
}

struct Inner {
    state: State,
    window: Window,
    failures_in_a_row: u32,
}

pub struct CircuitBreaker {
    settings: CircuitSettings,
    inner: Mutex<Inner>,
}

/// Leave to send one request (with its retries). Report its outcome with
/// [`Permit::record`]; a permit dropped unreported (the request was
/// cancelled) frees its trial slot without judging the upstream.
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    trial: bool,
    recorded: bool,
}

/// What a recorded outcome changed, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    Opened(Reason),
    Closed,
}

impl CircuitBreaker {
    pub fn new(settings: CircuitSettings, now: Instant) -> CircuitBreaker {
        CircuitBreaker {
            settings: CircuitSettings {
                trials: settings.trials.max(1),
                ..settings
            },
            inner: Mutex::new(Inner {
                state: State::Closed,
                window: Window::new(settings.window, now),
                failures_in_a_row: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The state is plain values: a panic elsewhere cannot leave it torn.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn admit(&self, now: Instant) -> Result<Permit<'_>, Refused> {
        let mut inner = self.lock();
        let trial = match inner.state {
            State::Closed => false,
            State::Open { until, reason } if now < until => {
                return Err(Refused {
                    retry_in: until - now,
                    reason: Some(reason),
                })
            }
            State::Open { .. } => {
                inner.state = State::HalfOpen { out: 1, passed: 0 };
                true
            }
            State::HalfOpen { out, passed } if out + passed < self.settings.trials => {
                inner.state = State::HalfOpen {
                    out: out + 1,
                    passed,
                };
                true
            }
            State::HalfOpen { .. } => {
                return Err(Refused {
                    retry_in: Duration::ZERO,
                    reason: None,
                })
            }
        };
        Ok(Permit {
            breaker: self,
            trial,
            recorded: false,
        })
    }

    pub fn state(&self, now: Instant) -> CircuitState {
        match self.lock().state {
            State::Closed => CircuitState::Closed,
            State::Open { until, .. } if now < until => CircuitState::Open,
            State::Open { .. } | State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Why the circuit is open, while it is.
    pub fn open_reason(&self, now: Instant) -> Option<Refused> {
        match self.lock().state {
            State::Open { until, reason } if now < until => Some(Refused {
                retry_in: until - now,
                reason: Some(reason),
            }),
            _ => None,
        }
    }

    /// Requests judged and failed in the current window.
    pub fn window_counts(&self, now: Instant) -> Counts {
        self.lock().window.total(now)
    }

    fn record(&self, trial: bool, success: bool, now: Instant) -> Transition {
        if self.settings.consecutive == 0 {
            return Transition::None;
        }
        let mut inner = self.lock();
        let open = |reason| State::Open {
            until: now + self.settings.cooldown,
            reason,
        };
        match (inner.state, trial) {
            (State::HalfOpen { out, passed }, true) if success => {
                let passed = passed + 1;
                if passed >= self.settings.trials {
                    inner.state = State::Closed;
                    inner.window.clear();
                    inner.failures_in_a_row = 0;
                    Transition::Closed
                } else {
                    inner.state = State::HalfOpen {
                        out: out.saturating_sub(1),
                        passed,
                    };
                    Transition::None
                }
            }
            (State::HalfOpen { .. }, true) => {
                inner.state = open(Reason::TrialFailed);
                Transition::Opened(Reason::TrialFailed)
            }
            (State::Closed, false) => {
                inner.window.add(
                    now,
                    Counts {
                        requests: 1,
                        failures: u64::from(!success),
                        retries: 0,
                    },
                );
                inner.failures_in_a_row = if success {
                    0
                } else {
                    inner.failures_in_a_row.saturating_add(1)
                };
                let reason = self.verdict(&mut inner, now);
                if let Some(reason) = reason {
                    inner.state = open(reason);
                    return Transition::Opened(reason);
                }
                Transition::None
            }
            // Outcomes of requests let through before the state changed
            // are old news: the trials decide.
            _ => Transition::None,
        }
    }

    fn verdict(&self, inner: &mut Inner, now: Instant) -> Option<Reason> {
        if inner.failures_in_a_row >= self.settings.consecutive {
            return Some(Reason::Consecutive(inner.failures_in_a_row));
        }
        let Counts {
            requests, failures, ..
        } = inner.window.total(now);
        let rate = u64::from(self.settings.failure_rate);
        let opens = rate > 0
            && requests >= u64::from(self.settings.min_requests)
            && failures.saturating_mul(100) >= rate.saturating_mul(requests);
        opens.then_some(Reason::Rate {
            failures,
            requests,
            window: inner.window.span(),
        })
    }

    fn abandon(&self, trial: bool) {
        if !trial {
            return;
        }
        let mut inner = self.lock();
        if let State::HalfOpen { out, passed } = inner.state {
            inner.state = State::HalfOpen {
                out: out.saturating_sub(1),
                passed,
            };
        }
    }
}

impl Permit<'_> {
    pub fn record(mut self, success: bool, now: Instant) -> Transition {
        self.recorded = true;
        self.breaker.record(self.trial, success, now)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.recorded {
            self.breaker.abandon(self.trial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_millis(100);

    fn settings() -> CircuitSettings {
        CircuitSettings {
            consecutive: 1000,
            failure_rate: 50,
            min_requests: 10,
            window: Duration::from_millis(1000),
            cooldown: COOL,
            trials: 3,
        }
    }

    fn breaker(consecutive: u32) -> (CircuitBreaker, Instant) {
        let t = Instant::now();
        let b = CircuitBreaker::new(
            CircuitSettings {
                consecutive,
                ..settings()
            },
            t,
        );
        (b, t)
    }

    fn outcome(b: &CircuitBreaker, success: bool, now: Instant) -> Transition {
        b.admit(now).expect("admitted").record(success, now)
    }

    fn fail(b: &CircuitBreaker, now: Instant) -> Transition {
        outcome(b, false, now)
    }

    #[test]
    fn opens_on_the_failure_rate_once_the_window_has_enough_requests() {
        let (b, t) = breaker(1000);
        // 9 failures of 9: too few requests to judge.
        for _ in 0..9 {
            assert_eq!(fail(&b, t), Transition::None);
        }
        assert_eq!(b.state(t), CircuitState::Closed);
        // They drop out of the window: a fresh start.
        let later = t + Duration::from_millis(1000);
        assert_eq!(b.window_counts(later).requests, 0);
        for _ in 0..5 {
            outcome(&b, true, later);
        }
        for _ in 0..4 {
            assert_eq!(fail(&b, later), Transition::None);
        }
        // 5 of 10 failed: 50% opens.
        let opened = fail(&b, later);
        assert_eq!(
            opened,
            Transition::Opened(Reason::Rate {
                failures: 5,
                requests: 10,
                window: Duration::from_millis(1000)
            })
        );
        assert_eq!(b.state(later), CircuitState::Open);
        let refused = b.admit(later + Duration::from_millis(40)).err();
        assert_eq!(refused.map(|r| r.retry_in), Some(Duration::from_millis(60)));
        assert!(refused.is_some_and(|r| r.to_string().contains("5 of 10 upstream requests failed")));
    }

    #[test]
    fn a_rate_below_the_threshold_never_opens() {
        let (b, t) = breaker(1000);
        for i in 0..1000u64 {
            // 30% failures.
            outcome(&b, i % 10 >= 3, t + Duration::from_millis(i));
        }
        assert_eq!(
            b.state(t + Duration::from_millis(1000)),
            CircuitState::Closed
        );
    }

    #[test]
    fn opens_after_consecutive_failures_on_a_quiet_gateway() {
        let (b, t) = breaker(3);
        assert_eq!(fail(&b, t), Transition::None);
        assert_eq!(fail(&b, t), Transition::None);
        // A success in between starts the count again.
        outcome(&b, true, t);
        assert_eq!(fail(&b, t), Transition::None);
        assert_eq!(fail(&b, t), Transition::None);
        assert_eq!(b.state(t), CircuitState::Closed);
        assert_eq!(fail(&b, t), Transition::Opened(Reason::Consecutive(3)));
        assert_eq!(b.state(t), CircuitState::Open);
    }

    #[test]
    fn bounded_trials_after_the_cooldown_close_when_all_succeed() {
        let (b, t) = breaker(1);
        fail(&b, t);
        let later = t + COOL;
        assert_eq!(b.state(later), CircuitState::HalfOpen);
        let trials: Vec<_> = (0..3).map(|_| b.admit(later).expect("trial")).collect();
        assert!(b.admit(later).is_err(), "only three trials at a time");
        let mut trials = trials.into_iter();
        for trial in trials.by_ref().take(2) {
            assert_eq!(trial.record(true, later), Transition::None);
        }
        assert_eq!(b.state(later), CircuitState::HalfOpen);
        assert!(b.admit(later).is_err(), "two passed, one still out");
        let last = trials.next().expect("third");
        assert_eq!(last.record(true, later), Transition::Closed);
        assert_eq!(b.state(later), CircuitState::Closed);
        assert_eq!(b.window_counts(later), Counts::default());
        assert!(b.admit(later).is_ok());
    }

    #[test]
    fn a_failed_trial_opens_again_for_a_full_cooldown() {
        let (b, t) = breaker(1);
        fail(&b, t);
        let later = t + COOL;
        let other = b.admit(later).expect("trial");
        assert_eq!(fail(&b, later), Transition::Opened(Reason::TrialFailed));
        // Another trial's late success changes nothing.
        assert_eq!(other.record(true, later), Transition::None);
        assert!(b.admit(later + COOL / 2).is_err());
        assert!(b.admit(later + COOL).is_ok());
    }

    #[test]
    fn a_cancelled_trial_frees_its_slot() {
        let (b, t) = breaker(1);
        fail(&b, t);
        let held: Vec<_> = (0..2).map(|_| b.admit(t + COOL).expect("trial")).collect();
        drop(b.admit(t + COOL).expect("third trial"));
        assert!(b.admit(t + COOL).is_ok(), "another trial may go");
        drop(held);
    }

    #[test]
    fn late_outcomes_of_earlier_requests_do_not_decide() {
        let (b, t) = breaker(1);
        let early = b.admit(t).expect("closed");
        fail(&b, t);
        assert_eq!(early.record(true, t), Transition::None);
        assert_eq!(b.state(t), CircuitState::Open);
    }

    #[test]
    fn threshold_zero_never_opens() {
        let (b, t) = breaker(0);
        for _ in 0..100 {
            fail(&b, t);
        }
        assert_eq!(b.state(t), CircuitState::Closed);
    }
}
