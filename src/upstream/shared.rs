//! The shared cache (L2): upstream answers in a Redis that several
//! instances share, behind each one's own cache. Keys are namespaced and
//! versioned, `lagql:v1:<credential fingerprint>:<sha256 of the URL>`,
//! never a token. Every command is bounded by `redis_timeout_ms`; a failed
//! or slow one counts as an error and the request goes on without L2. After
//! an error the cache rests (no commands) for a backoff that doubles up to
//! a few seconds, so that a Redis that is down is not hammered.
//!
//! Cross-instance coalescing: the instance that misses first takes a short
//! lease (`SET NX PX`, at most the answer's TTL) and fetches; the others
//! poll for its write until the lease is gone, then fetch themselves. A
//! written answer leaves its lease to expire: an instance that missed just
//! before the write then waits one poll for it instead of fetching again.

use super::fingerprint::Fingerprint;
use crate::config::RedisSettings;
use crate::metrics::Metrics;
use redis::aio::MultiplexedConnection;
use ring::digest;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bumped whenever the stored value's form changes: instances of two
/// versions then never read each other's entries.
const NAMESPACE: &str = "lagql:v1";
const FIRST_REST: Duration = Duration::from_millis(250);
const LONGEST_REST: Duration = Duration::from_secs(4);
/// Between two looks for the answer another instance is fetching.
const POLL: Duration = Duration::from_millis(20);

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// What an instance that missed learns when it asks for the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// This instance fetches, and writes the answer for the others.
    Held,
    /// Another instance is fetching: wait for its answer.
    Taken,
    /// Redis did not answer: fetch without coordination.
    Unavailable,
}

/// No commands until `until`; `rest` is the next backoff.
struct Resting {
    until: Option<Instant>,
    rest: Duration,
}

pub struct SharedCache {
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    resting: Mutex<Resting>,
    timeout: Duration,
    lease: Duration,
    metrics: Arc<Metrics>,
}

/// An entry's key in Redis: the fingerprint and a digest of the URL (URLs
/// can be long; their text stays out of Redis's memory and `MONITOR`).
pub fn key(fingerprint: &Fingerprint, url: &str) -> String {
    let url_digest = digest::digest(&digest::SHA256, url.as_bytes());
    let hex: String = url_digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{NAMESPACE}:{}:{hex}", fingerprint.hex())
}

fn lease_key(key: &str) -> String {
    format!("{key}:lease")
}

impl SharedCache {
    pub fn new(settings: &RedisSettings, metrics: Arc<Metrics>) -> Result<SharedCache, String> {
        let client =
            redis::Client::open(settings.url.as_str()).map_err(|e| format!("redis_url: {e}"))?;
        Ok(SharedCache {
            client,
            connection: tokio::sync::Mutex::new(None),
            resting: Mutex::new(Resting {
                until: None,
                rest: FIRST_REST,
            }),
            timeout: settings.timeout,
            lease: settings.lease,
            metrics,
        })
    }

    /// The stored bytes at `key`; `None` when absent or Redis failed.
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        self.run::<Option<Vec<u8>>>(cmd).await.flatten()
    }

    /// Stores `value` for `keep_for` (Redis expires it), in the background:
    /// an answer never waits for Redis.
    pub fn put(self: &Arc<Self>, key: String, value: Vec<u8>, keep_for: Duration) {
        let millis = u64::try_from(keep_for.as_millis()).unwrap_or(u64::MAX);
        if millis == 0 {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let mut set = redis::cmd("SET");
            set.arg(&key).arg(value).arg("PX").arg(millis);
            let _ = this.run::<()>(set).await;
        });
    }

    /// Gives the lease up (the fetch failed), in the background, so that
    /// the instances waiting on it fetch themselves at once.
    pub fn release(self: &Arc<Self>, key: String) {
        let this = self.clone();
        tokio::spawn(async move { this.release_now(&key).await });
    }

    async fn release_now(&self, key: &str) {
        let mut del = redis::cmd("DEL");
        del.arg(lease_key(key));
        let _ = self.run::<()>(del).await;
    }

    /// The lease of an answer fresh for `ttl`: no longer than that, so
    /// that an unreleased lease never outlives the answer it guards.
    pub fn lease_for(&self, ttl: Duration) -> Duration {
        self.lease.min(ttl)
    }

    /// Asks for the right to fetch the answer at `key` for every instance,
    /// for `lease` (see `lease_for`).
    pub async fn lease(&self, key: &str, lease: Duration) -> Lease {
        let millis = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
        if millis == 0 {
            return Lease::Unavailable;
        }
        let mut set = redis::cmd("SET");
        set.arg(lease_key(key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(millis);
        match self.run::<Option<String>>(set).await {
            Some(Some(_)) => Lease::Held,
            Some(None) => Lease::Taken,
            None => Lease::Unavailable,
        }
    }

    /// Waits, at most `lease`, for an entry at `key` that `accept` takes
    /// (fresh: not the stale one a miss may have found); `None` once the
    /// lease is gone without one, or Redis fails.
    pub async fn wait_for(
        &self,
        key: &str,
        lease: Duration,
        accept: impl Fn(&[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        let deadline = Instant::now() + lease;
        let lease = lease_key(key);
        let mut first = true;
        while Instant::now() < deadline {
            if !first {
                tokio::time::sleep(POLL).await;
            }
            first = false;
            let mut mget = redis::cmd("MGET");
            mget.arg(key).arg(&lease);
            let (value, leased) = self.run::<(Option<Vec<u8>>, Option<Vec<u8>>)>(mget).await?;
            if let Some(value) = value.filter(|v| accept(v)) {
                self.metrics.cache_l2_coalesced.inc();
                return Some(value);
            }
            leased.as_ref()?;
        }
        None
    }

    /// One command, bounded by the timeout, timed, and counted when it
    /// fails; `None` on failure or while resting after one.
    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Option<T> {
        if self.is_resting() {
            return None;
        }
        let started = Instant::now();
        let outcome = tokio::time::timeout(self.timeout, self.query::<T>(&cmd))
            .await
            .unwrap_or(Err(Failure::Timeout(self.timeout)));
        self.metrics
            .redis_duration
            .observe(started.elapsed().as_secs_f64());
        match outcome {
            Ok(value) => {
                self.recovered();
                Some(value)
            }
            Err(e) => {
                self.failed(&e).await;
                None
            }
        }
    }

    /// On the kept connection; once more on a new one when the kept one
    /// turns out dropped (Redis restarted since).
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, Failure> {
        let (mut connection, reused) = self.connection().await?;
        match cmd.query_async(&mut connection).await {
            Err(e) if reused && (e.is_connection_dropped() || e.is_io_error()) => {
                *self.connection.lock().await = None;
                let (mut connection, _) = self.connection().await?;
                Ok(cmd.query_async(&mut connection).await?)
            }
            outcome => Ok(outcome?),
        }
    }

    /// The kept connection, or a new one; and whether it was kept.
    async fn connection(&self) -> Result<(MultiplexedConnection, bool), Failure> {
        let mut slot = self.connection.lock().await;
        if let Some(c) = &*slot {
            return Ok((c.clone(), true));
        }
        let c = self.client.get_multiplexed_async_connection().await?;
        *slot = Some(c.clone());
        Ok((c, false))
    }

    fn is_resting(&self) -> bool {
        let resting = self.resting.lock().unwrap_or_else(|p| p.into_inner());
        resting.until.is_some_and(|until| Instant::now() < until)
    }

    fn recovered(&self) {
        let mut resting = self.resting.lock().unwrap_or_else(|p| p.into_inner());
        if resting.until.is_some() {
            tracing::info!("redis answers again; the shared cache is back");
        }
        resting.until = None;
        resting.rest = FIRST_REST;
    }

    /// Counts the failure, drops the connection (the next command makes a
    /// new one) and rests, longer after each failure in a row.
    async fn failed(&self, error: &Failure) {
        self.metrics.redis_errors.inc();
        *self.connection.lock().await = None;
        let mut resting = self.resting.lock().unwrap_or_else(|p| p.into_inner());
        if resting.until.is_none() {
            tracing::warn!(error = %error, "redis failed; going on without the shared cache");
        }
        resting.until = Some(Instant::now() + resting.rest);
        resting.rest = (resting.rest * 2).min(LONGEST_REST);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::fingerprint::Fingerprinter;
    use crate::upstream::Credential;

    #[test]
    fn keys_are_namespaced_and_hold_no_token_nor_url() {
        let f = Fingerprinter::with_secret(b"0123456789abcdef");
        let fp = f.of(&Credential::Bearer("admin-token-1".into()));
        let k = key(&fp, "http://h/v1.1/odata/Inbox?$top=1");
        assert!(k.starts_with("lagql:v1:"), "{k}");
        assert_eq!(k.len(), "lagql:v1:".len() + 64 + 1 + 64);
        assert!(!k.contains("admin") && !k.contains("Inbox"));
        assert_ne!(k, key(&fp, "http://h/v1.1/odata/Inbox?$top=2"));
        assert_eq!(lease_key(&k), format!("{k}:lease"));
    }

    #[tokio::test]
    async fn a_redis_that_is_down_fails_nothing_and_rests() {
        let metrics = Arc::new(Metrics::new());
        let settings = RedisSettings {
            // Port 1: nothing listens there.
            url: "redis://127.0.0.1:1/0".into(),
            timeout: Duration::from_millis(50),
            lease: Duration::from_millis(100),
        };
        let l2 = SharedCache::new(&settings, metrics.clone()).expect("client");
        assert_eq!(l2.get("k").await, None);
        assert_eq!(metrics.redis_errors.get(), 1);
        // Resting: no second attempt, no second error.
        assert_eq!(
            l2.lease("k", Duration::from_millis(100)).await,
            Lease::Unavailable
        );
        assert_eq!(metrics.redis_errors.get(), 1);
    }
}
