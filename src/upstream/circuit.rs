//! The upstream circuit breaker. After `threshold` consecutive failures
//! (5xx answers, timeouts, connect errors; never 4xx, which are the client's
//! business) the circuit opens: requests fail at once instead of piling onto
//! a struggling upstream. After the cool-down one request goes through as a
//! probe; its success closes the circuit, its failure opens it again.
//!
//! Times are passed in, so the state machine is tested without sleeping.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// The cool-down is over; `probing` while the one probe is out.
    HalfOpen {
        probing: bool,
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
    /// Time left until a probe may go out (zero while a probe is out).
    pub retry_in: Duration,
}

pub struct CircuitBreaker {
    /// 0: never opens.
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

/// Leave to send one request. Report its outcome with [`Permit::record`];
/// a permit dropped unreported (the request was cancelled) frees the probe
/// slot without judging the upstream.
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    recorded: bool,
}

/// What a recorded outcome changed, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    Opened,
    Closed,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, cooldown: Duration) -> CircuitBreaker {
        CircuitBreaker {
            threshold,
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value: a panic elsewhere cannot leave it torn.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn admit(&self, now: Instant) -> Result<Permit<'_>, Refused> {
        let mut state = self.lock();
        let probe = match *state {
            State::Closed { .. } => false,
            State::Open { until } if now < until => {
                return Err(Refused {
                    retry_in: until - now,
                })
            }
            State::Open { .. } | State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                true
            }
            State::HalfOpen { probing: true } => {
                return Err(Refused {
                    retry_in: Duration::ZERO,
                })
            }
        };
        Ok(Permit {
            breaker: self,
            probe,
            recorded: false,
        })
    }

    pub fn state(&self, now: Instant) -> CircuitState {
        match *self.lock() {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { until } if now < until => CircuitState::Open,
            State::Open { .. } | State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    fn record(&self, probe: bool, success: bool, now: Instant) -> Transition {
        if self.threshold == 0 {
            return Transition::None;
        }
        let mut state = self.lock();
        let open = State::Open {
            until: now + self.cooldown,
        };
        match (*state, probe, success) {
            (_, true, true) => {
                *state = State::Closed { failures: 0 };
                Transition::Closed
            }
            (_, true, false) => {
                *state = open;
                Transition::Opened
            }
            (State::Closed { .. }, false, true) => {
                *state = State::Closed { failures: 0 };
                Transition::None
            }
            (State::Closed { failures }, false, false) => {
                let failures = failures.saturating_add(1);
                if failures >= self.threshold {
                    *state = open;
                    Transition::Opened
                } else {
                    *state = State::Closed { failures };
                    Transition::None
                }
            }
            // A request let through before the circuit opened: its outcome
            // is old news, the probe decides.
            (State::Open { .. } | State::HalfOpen { .. }, false, _) => Transition::None,
        }
    }

    fn abandon(&self, probe: bool) {
        if !probe {
            return;
        }
        let mut state = self.lock();
        if *state == (State::HalfOpen { probing: true }) {
            *state = State::HalfOpen { probing: false };
        }
    }
}

impl Permit<'_> {
    pub fn record(mut self, success: bool, now: Instant) -> Transition {
        self.recorded = true;
        self.breaker.record(self.probe, success, now)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.recorded {
            self.breaker.abandon(self.probe);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_millis(100);

    fn fail(b: &CircuitBreaker, now: Instant) -> Transition {
        b.admit(now).expect("admitted").record(false, now)
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let b = CircuitBreaker::new(3, COOL);
        let t = Instant::now();
        assert_eq!(fail(&b, t), Transition::None);
        assert_eq!(fail(&b, t), Transition::None);
        // A success in between starts the count again.
        b.admit(t).expect("admitted").record(true, t);
        assert_eq!(fail(&b, t), Transition::None);
        assert_eq!(fail(&b, t), Transition::None);
        assert_eq!(b.state(t), CircuitState::Closed);
        assert_eq!(fail(&b, t), Transition::Opened);
        assert_eq!(b.state(t), CircuitState::Open);
        let refused = b.admit(t + Duration::from_millis(40)).err();
        assert_eq!(refused.map(|r| r.retry_in), Some(Duration::from_millis(60)));
    }

    #[test]
    fn one_probe_after_the_cooldown_closes_on_success() {
        let b = CircuitBreaker::new(1, COOL);
        let t = Instant::now();
        assert_eq!(fail(&b, t), Transition::Opened);
        let later = t + COOL;
        assert_eq!(b.state(later), CircuitState::HalfOpen);
        let probe = b.admit(later).expect("the probe");
        assert!(b.admit(later).is_err(), "only one probe at a time");
        assert_eq!(probe.record(true, later), Transition::Closed);
        assert_eq!(b.state(later), CircuitState::Closed);
        assert!(b.admit(later).is_ok());
    }

    #[test]
    fn a_failed_probe_opens_again_for_a_full_cooldown() {
        let b = CircuitBreaker::new(1, COOL);
        let t = Instant::now();
        fail(&b, t);
        let later = t + COOL;
        assert_eq!(fail(&b, later), Transition::Opened);
        assert!(b.admit(later + COOL / 2).is_err());
        assert!(b.admit(later + COOL).is_ok());
    }

    #[test]
    fn a_cancelled_probe_frees_the_slot() {
        let b = CircuitBreaker::new(1, COOL);
        let t = Instant::now();
        fail(&b, t);
        drop(b.admit(t + COOL).expect("probe"));
        assert!(b.admit(t + COOL).is_ok(), "another probe may go");
    }

    #[test]
    fn late_outcomes_of_earlier_requests_do_not_decide() {
        let b = CircuitBreaker::new(1, COOL);
        let t = Instant::now();
        let early = b.admit(t).expect("closed");
        fail(&b, t);
        assert_eq!(early.record(true, t), Transition::None);
        assert_eq!(b.state(t), CircuitState::Open);
    }

    #[test]
    fn threshold_zero_never_opens() {
        let b = CircuitBreaker::new(0, COOL);
        let t = Instant::now();
        for _ in 0..10 {
            fail(&b, t);
        }
        assert_eq!(b.state(t), CircuitState::Closed);
    }
}
