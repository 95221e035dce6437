//! One cohort: its members' inboxes, the last result pushed, and the
//! poller that evaluates the operation once per interval for all of them.

use super::inbox::{End, Inbox, Pushed};
use super::operation::LiveOperation;
use crate::metrics::{Metrics, ReasonLabel};
use crate::upstream::Caller;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// One evaluation of an operation: the execution result as JSON text
/// (`data`, `errors`, `extensions`), and whether the upstream refused the
/// credential (401/403) on the way.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub result: Arc<str>,
    pub refused: bool,
}

/// Evaluates an operation once as `caller`. Given by the server, which
/// owns the execution pipeline.
pub type Evaluate =
    Arc<dyn Fn(async_graphql::Request, Caller) -> BoxFuture<'static, Evaluation> + Send + Sync>;

pub struct Cohort {
    members: Mutex<Members>,
    /// Set when the poller ends: the last member left, or the upstream
    /// refused the credential (then nobody may join it any more).
    stopped: AtomicBool,
    stop: Notify,
}

#[derive(Default)]
struct Members {
    inboxes: HashMap<u64, Arc<Inbox>>,
    /// The digest and text of the last result pushed.
    last: Option<([u8; 32], Arc<str>)>,
    /// The result that ended the cohort when the upstream refused its
    /// credential: a member joining after that gets it as its end.
    refused: Option<Arc<str>>,
}

impl Cohort {
    /// A cohort and its poller, running until `stop`.
    pub fn start(poll: Poll) -> Arc<Cohort> {
        let cohort = Arc::new(Cohort::new());
        tokio::spawn(run(cohort.clone(), poll));
        cohort
    }

    fn new() -> Cohort {
        Cohort {
            members: Mutex::default(),
            stopped: AtomicBool::new(false),
            stop: Notify::new(),
        }
    }

    fn members(&self) -> MutexGuard<'_, Members> {
        // A panic while holding the lock leaves plain data behind; go on.
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a member; it gets the last result at once, when there is one.
    pub fn join(&self, id: u64, inbox: Arc<Inbox>, metrics: &Metrics) {
        let mut members = self.members();
        if let Some(refused) = &members.refused {
            inbox.end(End::Refused(refused.clone()));
        } else if let Some((_, last)) = &members.last {
            if inbox.push(last.clone()) == Pushed::Yes {
                metrics.live_pushes.inc();
            }
        }
        members.inboxes.insert(id, inbox);
    }

    /// Removes a member; true when none is left.
    pub fn leave(&self, id: u64) -> bool {
        let mut members = self.members();
        if let Some(inbox) = members.inboxes.remove(&id) {
            inbox.close();
        }
        if members.inboxes.is_empty() {
            // Nothing kept for nobody (`HashMap` keeps its table otherwise).
            members.inboxes = HashMap::new();
            return true;
        }
        false
    }

    /// Completes every member's subscription (the server shuts down).
    pub fn complete_all(&self) {
        self.stop();
        for inbox in self.members().inboxes.values() {
            inbox.end(End::Completed);
        }
    }

    /// Whether the poller has ended: a new subscriber starts a new cohort.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// The upstream refused the cohort's credential: every member ends
    /// with `result`, and the poller sends nothing more upstream.
    fn refuse(&self, result: Arc<str>) {
        let mut members = self.members();
        self.stop();
        for inbox in members.inboxes.values() {
            inbox.end(End::Refused(result.clone()));
        }
        members.refused = Some(result);
    }

    /// Ends the poller (the last member left).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.stop.notify_one();
    }

    /// Pushes `result` to every member when it differs from the last one
    /// pushed; members with a full queue are dropped. Returns the pushes.
    fn offer(&self, result: Arc<str>, metrics: &Metrics) -> usize {
        let digest = digest(&result);
        let mut members = self.members();
        if members.last.as_ref().is_some_and(|(d, _)| *d == digest) {
            return 0;
        }
        members.last = Some((digest, result.clone()));
        let mut pushed = 0;
        members
            .inboxes
            .retain(|_, inbox| match inbox.push(result.clone()) {
                Pushed::Yes => {
                    pushed += 1;
                    true
                }
                Pushed::Full => {
                    metrics
                        .live_refused
                        .get_or_create(&ReasonLabel { reason: "slow" })
                        .inc();
                    false
                }
                // The subscriber is gone; its leave is on the way.
                Pushed::Closed => false,
            });
        metrics.live_pushes.inc_by(pushed as u64);
        pushed
    }
}

fn digest(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref());
    out
}

/// What a poller needs besides its cohort.
pub struct Poll {
    pub evaluate: Evaluate,
    pub metrics: Arc<Metrics>,
    pub caller: Caller,
    pub operation: LiveOperation,
    pub interval: Duration,
}

/// Evaluates once per interval until the cohort stops. Each evaluation
/// may take cached answers younger than half the interval (so that the
/// poller's own previous answers never are), else goes upstream.
async fn run(cohort: Arc<Cohort>, poll: Poll) {
    let caller = Caller {
        max_age: Some(poll.interval / 2),
        request_id: Some(Arc::from("live")),
        ..poll.caller
    };
    let mut next = Instant::now();
    while !cohort.is_stopped() {
        // Each evaluation reports afresh (the evaluator makes its report).
        let evaluation = (poll.evaluate)(poll.operation.request(), caller.clone()).await;
        poll.metrics.live_polls.inc();
        if evaluation.refused {
            poll.metrics
                .live_refused
                .get_or_create(&ReasonLabel {
                    reason: "credential",
                })
                .inc();
            cohort.refuse(evaluation.result);
            return;
        }
        cohort.offer(evaluation.result, &poll.metrics);
        next += poll.interval;
        let now = Instant::now();
        if next < now {
            // An evaluation longer than the interval: start again now, not
            // with a burst of catching up.
            next = now;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = cohort.stop.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::inbox::{Delivery, QUEUE};

    #[tokio::test]
    async fn only_changes_are_pushed_and_late_members_get_the_last() {
        let metrics = Metrics::new();
        let cohort = Cohort::new();
        let a = Inbox::new();
        cohort.join(1, a.clone(), &metrics);
        assert_eq!(cohort.offer(Arc::from("r1"), &metrics), 1);
        assert_eq!(cohort.offer(Arc::from("r1"), &metrics), 0);
        let b = Inbox::new();
        cohort.join(2, b.clone(), &metrics);
        assert_eq!(b.next().await, Some(Delivery::Result(Arc::from("r1"))));
        assert_eq!(cohort.offer(Arc::from("r2"), &metrics), 2);
        assert_eq!(a.next().await, Some(Delivery::Result(Arc::from("r1"))));
        assert_eq!(a.next().await, Some(Delivery::Result(Arc::from("r2"))));
        assert_eq!(b.next().await, Some(Delivery::Result(Arc::from("r2"))));
        assert!(!cohort.leave(1));
        assert!(cohort.leave(2));
    }

    #[test]
    fn a_member_with_a_full_inbox_is_dropped() {
        let metrics = Metrics::new();
        let cohort = Cohort::new();
        cohort.join(1, Inbox::new(), &metrics);
        for i in 0..QUEUE {
            assert_eq!(cohort.offer(Arc::from(format!("r{i}")), &metrics), 1);
        }
        assert_eq!(cohort.offer(Arc::from("late"), &metrics), 0);
        assert!(metrics
            .render()
            .contains("gateway_live_refused_total{reason=\"slow\"} 1"));
    }

    #[tokio::test]
    async fn a_refusal_ends_every_member_and_stops_the_poller() {
        let metrics = Metrics::new();
        let cohort = Cohort::new();
        let a = Inbox::new();
        cohort.join(1, a.clone(), &metrics);
        cohort.refuse(Arc::from("refused"));
        assert!(cohort.is_stopped());
        let end = End::Refused(Arc::from("refused"));
        assert_eq!(a.next().await, Some(Delivery::Ended(end)));
        assert_eq!(a.next().await, None);
    }
}
