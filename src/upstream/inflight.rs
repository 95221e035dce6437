//! In-flight sharing: while an upstream request for a key is running,
//! identical requests wait for its answer instead of sending their own. Keys
//! hold the credential fingerprint, so only the same credential shares.
//!
//! The work runs in its own task: a client that disconnects does not cancel
//! it for the others waiting, and its answer still reaches the cache.

use futures::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

type Running<V> = Shared<BoxFuture<'static, Option<V>>>;

pub struct InFlight<K, V: Clone> {
    running: Arc<Mutex<HashMap<K, Running<V>>>>,
}

impl<K, V: Clone> Default for InFlight<K, V> {
    fn default() -> Self {
        InFlight {
            running: Arc::default(),
        }
    }
}

/// The shared answer, and whether this caller joined one already running.
pub struct Outcome<V> {
    /// `None` when the task died (a panic): callers report an error.
    pub value: Option<V>,
    pub joined: bool,
}

impl<K, V> InFlight<K, V>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Awaits the answer for `key`, starting `work` only when no identical
    /// request is running.
    pub async fn run<F>(&self, key: K, work: impl FnOnce() -> F) -> Outcome<V>
    where
        F: Future<Output = V> + Send + 'static,
    {
        let (shared, joined) = {
            let mut running = lock(&self.running);
            match running.get(&key) {
                Some(shared) => (shared.clone(), true),
                None => {
                    let fut = work();
                    let leave = Leave {
                        running: self.running.clone(),
                        key: key.clone(),
                    };
                    // The map lock is held until the entry is in, so the
                    // task's removal cannot come first.
                    let task = tokio::spawn(async move {
                        let _leave = leave;
                        fut.await
                    });
                    let shared = async move { task.await.ok() }.boxed().shared();
                    running.insert(key, shared.clone());
                    (shared, false)
                }
            }
        };
        Outcome {
            value: shared.await,
            joined,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.running).len()
    }
}

/// Removes the entry when the task ends, a panic included, so that a
/// failed request never blocks its key.
struct Leave<K: Hash + Eq, V: Clone> {
    running: Arc<Mutex<HashMap<K, Running<V>>>>,
    key: K,
}

impl<K: Hash + Eq, V: Clone> Drop for Leave<K, V> {
    fn drop(&mut self) {
        // Dropped outside the lock: the entry may be the last handle.
        let removed = lock(&self.running).remove(&self.key);
        drop(removed);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The map stays consistent under every operation: a panic elsewhere
    // while holding the lock cannot leave it torn.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn identical_concurrent_requests_run_once() {
        let inflight: Arc<InFlight<&str, u32>> = Arc::default();
        let started = Arc::new(AtomicUsize::new(0));
        let calls = (0..20).map(|_| {
            let inflight = inflight.clone();
            let started = started.clone();
            tokio::spawn(async move {
                inflight
                    .run("k", || async move {
                        started.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        7
                    })
                    .await
            })
        });
        let outcomes = futures::future::join_all(calls).await;
        assert_eq!(started.load(Ordering::SeqCst), 1);
        let values: Vec<_> = outcomes
            .into_iter()
            .map(|o| o.expect("task").value)
            .collect();
        assert!(values.iter().all(|v| *v == Some(7)));
        assert_eq!(inflight.len(), 0, "finished work leaves the map");
    }

    #[tokio::test]
    async fn different_keys_and_later_requests_run_again() {
        let inflight: InFlight<&str, u32> = InFlight::default();
        let a = inflight.run("a", || async { 1 }).await;
        let b = inflight.run("b", || async { 2 }).await;
        let a2 = inflight.run("a", || async { 3 }).await;
        assert_eq!((a.value, b.value, a2.value), (Some(1), Some(2), Some(3)));
        assert!(!a2.joined);
    }

    #[tokio::test]
    async fn a_panicking_task_is_an_answer_of_none() {
        let inflight: InFlight<&str, u32> = InFlight::default();
        let out = inflight
            .run("p", || async { panic!("upstream decoder bug") })
            .await;
        assert_eq!(out.value, None);
        let again = inflight.run("p", || async { 5 }).await;
        assert_eq!(again.value, Some(5), "the key is free again");
    }
}
