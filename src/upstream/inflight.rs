//! In-flight sharing: while an upstream request for a key is running,
//! identical requests wait for its answer instead of sending their own. Keys
//! hold the credential fingerprint, so only the same credential shares.
//!
//! The work runs in its own task, so that one waiter leaving (its client
//! gone, its request past `request_timeout_ms`) does not cancel it for the
//! others. When the last waiter leaves, nobody wants the answer any more:
//! the task is aborted and its upstream connection closed.

use futures::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use tokio::task::AbortHandle;

type Running<V> = Shared<BoxFuture<'static, Option<V>>>;

struct Entry<V: Clone> {
    answer: Running<V>,
    /// Tells this entry from a later one under the same key.
    generation: u64,
    waiters: usize,
    task: AbortHandle,
}

struct Table<K, V: Clone> {
    entries: HashMap<K, Entry<V>>,
    generations: u64,
}

pub struct InFlight<K, V: Clone> {
    table: Arc<Mutex<Table<K, V>>>,
}

impl<K, V: Clone> Default for InFlight<K, V> {
    fn default() -> Self {
        InFlight {
            table: Arc::new(Mutex::new(Table {
                entries: HashMap::new(),
                generations: 0,
            })),
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
        let (answer, waiter) = {
            let mut table = lock(&self.table);
            let generations = table.generations + 1;
            let (answer, generation, joined) = match table.entries.get_mut(&key) {
                Some(entry) => {
                    entry.waiters += 1;
                    (entry.answer.clone(), entry.generation, true)
                }
                None => {
                    table.generations = generations;
                    // The spans of the work join the trace of the call that
                    // started it.
                    let fut = crate::telemetry::carried(work());
                    let finished = Finished {
                        table: self.table.clone(),
                        key: key.clone(),
                        generation: generations,
                    };
                    // The table lock is held until the entry is in, so the
                    // task's removal cannot come first.
                    let task = tokio::spawn(async move {
                        let _finished = finished;
                        fut.await
                    });
                    let abort = task.abort_handle();
                    let answer = async move { task.await.ok() }.boxed().shared();
                    table.entries.insert(
                        key.clone(),
                        Entry {
                            answer: answer.clone(),
                            generation: generations,
                            waiters: 1,
                            task: abort,
                        },
                    );
                    (answer, generations, false)
                }
            };
            let waiter = Waiter {
                table: self.table.clone(),
                key,
                generation,
                joined,
            };
            (answer, waiter)
        };
        let value = answer.await;
        Outcome {
            value,
            joined: waiter.joined,
        }
    }
}

/// One caller waiting for an entry. Dropped when the caller has its answer
/// or is itself dropped; the last one to leave a running entry aborts it.
struct Waiter<K: Hash + Eq, V: Clone> {
    table: Arc<Mutex<Table<K, V>>>,
    key: K,
    generation: u64,
    joined: bool,
}

impl<K: Hash + Eq, V: Clone> Drop for Waiter<K, V> {
    fn drop(&mut self) {
        let removed = {
            let mut table = lock(&self.table);
            let Some(entry) = table.entries.get_mut(&self.key) else {
                return;
            };
            if entry.generation != self.generation {
                return;
            }
            entry.waiters -= 1;
            if entry.waiters > 0 {
                return;
            }
            table.entries.remove(&self.key)
        };
        // The task ended by now if the answer was taken; otherwise nobody
        // waits for it. Dropped outside the lock: it may be the last handle.
        if let Some(entry) = removed {
            entry.task.abort();
        }
    }
}

/// Removes the entry when the task ends, a panic included, so that a
/// failed request never blocks its key.
struct Finished<K: Hash + Eq, V: Clone> {
    table: Arc<Mutex<Table<K, V>>>,
    key: K,
    generation: u64,
}

impl<K: Hash + Eq, V: Clone> Drop for Finished<K, V> {
    fn drop(&mut self) {
        let removed = {
            let mut table = lock(&self.table);
            match table.entries.get(&self.key) {
                Some(entry) if entry.generation == self.generation => {
                    table.entries.remove(&self.key)
                }
                _ => None,
            }
        };
        drop(removed);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The table stays consistent under every operation: a panic elsewhere
    // while holding the lock cannot leave it torn.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    impl<K, V: Clone> InFlight<K, V> {
        fn len(&self) -> usize {
            lock(&self.table).entries.len()
        }
    }
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

    /// Work that counts its start and its completion, taking `ms`.
    fn counted(
        started: &Arc<AtomicUsize>,
        finished: &Arc<AtomicUsize>,
        ms: u64,
    ) -> impl Future<Output = u32> + Send + 'static {
        let (started, finished) = (started.clone(), finished.clone());
        async move {
            started.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            finished.fetch_add(1, Ordering::SeqCst);
            9
        }
    }

    #[tokio::test]
    async fn the_last_waiter_leaving_aborts_the_work() {
        let inflight: Arc<InFlight<&str, u32>> = Arc::default();
        let (started, finished) = (Arc::default(), Arc::default());
        let work = counted(&started, &finished, 200);
        let gave_up =
            tokio::time::timeout(Duration::from_millis(30), inflight.run("k", move || work)).await;
        assert!(gave_up.is_err(), "the caller timed out");
        assert_eq!(inflight.len(), 0, "the entry left with its last waiter");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(started.load(Ordering::SeqCst), 1);
        assert_eq!(finished.load(Ordering::SeqCst), 0, "the work was aborted");
        let again = inflight.run("k", || async { 4 }).await;
        assert_eq!((again.value, again.joined), (Some(4), false));
    }

    #[tokio::test]
    async fn work_goes_on_while_one_waiter_remains() {
        let inflight: Arc<InFlight<&str, u32>> = Arc::default();
        let (started, finished) = (Arc::default(), Arc::default());
        let work = counted(&started, &finished, 150);
        let patient = {
            let inflight = inflight.clone();
            tokio::spawn(async move { inflight.run("k", move || work).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let impatient =
            tokio::time::timeout(Duration::from_millis(30), inflight.run("k", || async { 0 }))
                .await;
        assert!(impatient.is_err());
        let outcome = patient.await.expect("task");
        assert_eq!(outcome.value, Some(9));
        assert_eq!(
            finished.load(Ordering::SeqCst),
            1,
            "one waiter left: not aborted"
        );
        assert_eq!(inflight.len(), 0);
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
