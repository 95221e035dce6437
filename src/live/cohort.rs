//! One cohort: its members' queues, the last result pushed, and the poller
//! that evaluates the operation once per interval for all of them.

use super::operation::LiveOperation;
use crate::metrics::{Metrics, ReasonLabel};
use crate::upstream::Caller;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

/// Evaluates an operation once as `caller`: the execution result as JSON
/// text (`data`, `errors`, `extensions`). Given by the server, which owns
/// the execution pipeline.
pub type Evaluate =
    Arc<dyn Fn(async_graphql::Request, Caller) -> BoxFuture<'static, Arc<str>> + Send + Sync>;

/// A member's queue: results not yet written to its connection. Bounded:
/// a member that lets it fill up is dropped rather than buffered.
pub const QUEUE: usize = 16;

pub struct Cohort {
    members: Mutex<Members>,
    stopped: AtomicBool,
    stop: Notify,
}

#[derive(Default)]
struct Members {
    queues: HashMap<u64, Member>,
    /// The digest and text of the last result pushed.
    last: Option<([u8; 32], Arc<str>)>,
}

pub struct Member {
    pub queue: mpsc::Sender<Arc<str>>,
    /// Set when the member was dropped for a full queue.
    pub too_slow: Arc<AtomicBool>,
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
    pub fn join(&self, id: u64, member: Member, metrics: &Metrics) {
        let mut members = self.members();
        if let Some((_, last)) = &members.last {
            // The queue is new and empty: this cannot fail for lack of room.
            if member.queue.try_send(last.clone()).is_ok() {
                metrics.live_pushes.inc();
            }
        }
        members.queues.insert(id, member);
    }

    /// Removes a member; true when none is left.
    pub fn leave(&self, id: u64) -> bool {
        let mut members = self.members();
        members.queues.remove(&id);
        members.queues.is_empty()
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
        members.queues.retain(|_, member| {
            match member.queue.try_send(result.clone()) {
                Ok(()) => {
                    pushed += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    member.too_slow.store(true, Ordering::Release);
                    metrics
                        .live_refused
                        .get_or_create(&ReasonLabel { reason: "slow" })
                        .inc();
                    false
                }
                // The subscriber is gone; its leave is on the way.
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
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
    while !cohort.stopped.load(Ordering::Acquire) {
        // Each evaluation reports afresh (the evaluator makes its report).
        let result = (poll.evaluate)(poll.operation.request(), caller.clone()).await;
        poll.metrics.live_polls.inc();
        cohort.offer(result, &poll.metrics);
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

    fn member() -> (Member, mpsc::Receiver<Arc<str>>, Arc<AtomicBool>) {
        let (queue, rx) = mpsc::channel(2);
        let too_slow = Arc::new(AtomicBool::new(false));
        (
            Member {
                queue,
                too_slow: too_slow.clone(),
            },
            rx,
            too_slow,
        )
    }

    #[test]
    fn only_changes_are_pushed_and_late_members_get_the_last() {
        let metrics = Metrics::new();
        let cohort = Cohort::new();
        let (a, mut rx_a, _) = member();
        cohort.join(1, a, &metrics);
        assert_eq!(cohort.offer(Arc::from("r1"), &metrics), 1);
        assert_eq!(cohort.offer(Arc::from("r1"), &metrics), 0);
        let (b, mut rx_b, _) = member();
        cohort.join(2, b, &metrics);
        assert_eq!(rx_b.try_recv().as_deref(), Ok("r1"));
        assert_eq!(cohort.offer(Arc::from("r2"), &metrics), 2);
        assert_eq!(rx_a.try_recv().as_deref(), Ok("r1"));
        assert_eq!(rx_a.try_recv().as_deref(), Ok("r2"));
        assert_eq!(rx_b.try_recv().as_deref(), Ok("r2"));
        assert!(!cohort.leave(1));
        assert!(cohort.leave(2));
    }

    #[test]
    fn a_member_with_a_full_queue_is_dropped() {
        let metrics = Metrics::new();
        let cohort = Cohort::new();
        let (slow, _rx, too_slow) = member();
        cohort.join(1, slow, &metrics);
        for (i, pushed) in [(1, 1), (2, 1), (3, 0)] {
            assert_eq!(cohort.offer(Arc::from(format!("r{i}")), &metrics), pushed);
        }
        assert!(too_slow.load(Ordering::Acquire));
        assert!(metrics
            .render()
            .contains("gateway_live_refused_total{reason=\"slow\"} 1"));
    }
}
