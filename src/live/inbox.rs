//! A subscriber's inbox: the results its cohort pushed that its connection
//! has not written yet, and why the subscription ended, when it did. It
//! is a few words per subscriber while empty (a channel would allocate its
//! blocks up front), bounded: a subscriber that lets it fill up is
//! dropped rather than buffered.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

/// Results an inbox holds at most.
pub const QUEUE: usize = 16;

/// Why a cohort ended a subscription.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// The subscriber let its inbox fill up.
    TooSlow,
    /// The upstream refused the credential (401/403): this execution
    /// result, with the error, is the last one.
    Refused(Arc<str>),
    /// The server shuts down: the subscription completes.
    Completed,
}

/// What a subscriber takes out of its inbox.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Result(Arc<str>),
    Ended(End),
}

#[derive(Default)]
pub struct Inbox {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    results: VecDeque<Arc<str>>,
    end: Option<End>,
    /// The subscriber waiting for a delivery.
    waker: Option<Waker>,
    /// The subscriber is gone: nothing more is kept for it.
    gone: bool,
}

/// Whether a push got in.
#[derive(Debug, PartialEq)]
pub enum Pushed {
    Yes,
    /// The inbox was full: the subscription ended as too slow.
    Full,
    /// The subscriber is gone or already ended.
    Closed,
}

impl Inbox {
    pub fn new() -> Arc<Inbox> {
        Arc::new(Inbox::default())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; go on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a result; a full inbox ends the subscription instead.
    pub fn push(&self, result: Arc<str>) -> Pushed {
        let mut state = self.state();
        if state.gone || state.end.is_some() {
            return Pushed::Closed;
        }
        let pushed = if state.results.len() >= QUEUE {
            // The results already in are still delivered, then the end.
            state.end = Some(End::TooSlow);
            Pushed::Full
        } else {
            state.results.push_back(result);
            Pushed::Yes
        };
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
        pushed
    }

    /// Ends the subscription after the results already in.
    pub fn end(&self, why: End) {
        let mut state = self.state();
        if state.gone || state.end.is_some() {
            return;
        }
        state.end = Some(why);
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }

    /// The subscriber left: its cohort stops pushing to it.
    pub fn close(&self) {
        let mut state = self.state();
        state.gone = true;
        state.results = VecDeque::new();
        state.waker = None;
    }

    /// The next delivery; `None` once the end was delivered.
    pub async fn next(&self) -> Option<Delivery> {
        poll_fn(|cx| {
            let mut state = self.state();
            if let Some(result) = state.results.pop_front() {
                if state.results.is_empty() {
                    // Give back what a burst made it grow to.
                    state.results.shrink_to(0);
                }
                return Poll::Ready(Some(Delivery::Result(result)));
            }
            if let Some(end) = state.end.take() {
                state.gone = true;
                return Poll::Ready(Some(Delivery::Ended(end)));
            }
            if state.gone {
                return Poll::Ready(None);
            }
            if !state
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                state.waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn results_then_the_end_in_order() {
        let inbox = Inbox::new();
        assert_eq!(inbox.push(Arc::from("a")), Pushed::Yes);
        inbox.end(End::Refused(Arc::from("no")));
        assert_eq!(inbox.push(Arc::from("b")), Pushed::Closed);
        assert_eq!(inbox.next().await, Some(Delivery::Result(Arc::from("a"))));
        assert_eq!(
            inbox.next().await,
            Some(Delivery::Ended(End::Refused(Arc::from("no"))))
        );
        assert_eq!(inbox.next().await, None);
    }

    #[tokio::test]
    async fn a_full_inbox_ends_as_too_slow() {
        let inbox = Inbox::new();
        for i in 0..QUEUE {
            assert_eq!(inbox.push(Arc::from(i.to_string())), Pushed::Yes);
        }
        assert_eq!(inbox.push(Arc::from("late")), Pushed::Full);
        for _ in 0..QUEUE {
            assert!(matches!(inbox.next().await, Some(Delivery::Result(_))));
        }
        assert_eq!(inbox.next().await, Some(Delivery::Ended(End::TooSlow)));
    }

    #[tokio::test]
    async fn a_waiting_subscriber_is_woken() {
        let inbox = Inbox::new();
        let reader = inbox.clone();
        let waiting = tokio::spawn(async move { reader.next().await });
        tokio::task::yield_now().await;
        inbox.push(Arc::from("x"));
        let got = waiting.await.expect("task");
        assert_eq!(got, Some(Delivery::Result(Arc::from("x"))));
        inbox.close();
        assert_eq!(inbox.push(Arc::from("y")), Pushed::Closed);
    }
}
