//! The response cache: successful upstream answers, keyed by (credential
//! fingerprint, upstream URL), fresh for a TTL per collection, then kept for
//! the stale-if-error window so that an upstream failure can still be
//! answered (marked stale). Bounded in bytes, not entries: one `first: 1000`
//! page weighs as much as hundreds of small ones.

use super::fingerprint::Fingerprint;
use crate::config::CacheSettings;
use crate::metrics::{Metrics, ReasonLabel};
use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::policy::EvictionPolicy;
use moka::Expiry;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The upstream URL is the one the gateway built, before an `apikey` is
/// added: the credential is in the fingerprint, never in the key's text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub fingerprint: Fingerprint,
    pub url: Arc<str>,
}

/// Freshness per collection (`Inbox`, `Label` and `User` change rarely;
/// conversations and their events change all the time).
#[derive(Debug, Clone, PartialEq)]
pub struct Ttls {
    pub conversation: Duration,
    pub message: Duration,
    pub reporting_event: Duration,
    pub inbox: Duration,
    pub label: Duration,
    pub user: Duration,
}

impl Ttls {
    pub fn from_config(c: &CacheSettings) -> Ttls {
        Ttls {
            conversation: c.ttl_conversation,
            message: c.ttl_message,
            reporting_event: c.ttl_reporting_event,
            inbox: c.ttl_inbox,
            label: c.ttl_label,
            user: c.ttl_user,
        }
    }

    pub fn for_collection(&self, collection: &str) -> Duration {
        match collection {
            "Conversation" => self.conversation,
            "Message" => self.message,
            "ReportingEvent" => self.reporting_event,
            "Inbox" => self.inbox,
            "Label" => self.label,
            "User" => self.user,
            // Not a collection the model knows: the shortest freshness.
            _ => [
                self.conversation,
                self.message,
                self.reporting_event,
                self.inbox,
                self.label,
                self.user,
            ]
            .into_iter()
            .min()
            .unwrap_or_default(),
        }
    }
}

/// One cached answer and the instants that decide how it may be used.
#[derive(Debug)]
pub struct Stored<V> {
    pub value: V,
    bytes: usize,
    stored_at: Instant,
    fresh_until: Instant,
    stale_until: Instant,
    /// TTL + stale window: how long moka keeps the entry.
    keep_for: Duration,
}

impl<V> Stored<V> {
    pub fn is_fresh(&self, now: Instant) -> bool {
        now < self.fresh_until
    }

    pub fn fresh_until(&self) -> Instant {
        self.fresh_until
    }

    /// Fresh, and stored less than `max_age` ago when the caller bounds
    /// the age (live queries: younger than their interval).
    pub fn is_fresh_for(&self, now: Instant, max_age: Option<std::time::Duration>) -> bool {
        self.is_fresh(now)
            && max_age.is_none_or(|age| now.saturating_duration_since(self.stored_at) < age)
    }

    /// Still within the stale-if-error window.
    pub fn is_servable_stale(&self, now: Instant) -> bool {
        now < self.stale_until
    }
}

/// Fixed cost of an entry besides its body: key, instants, moka's node.
const ENTRY_OVERHEAD: usize = 128;

/// An entry's weight in bytes: the upstream body it came from plus its URL.
pub fn weigh(key: &CacheKey, body_bytes: usize) -> u32 {
    let total = ENTRY_OVERHEAD
        .saturating_add(key.url.len())
        .saturating_add(body_bytes);
    u32::try_from(total).unwrap_or(u32::MAX)
}

struct KeepFor;

impl<V> Expiry<CacheKey, Arc<Stored<V>>> for KeepFor {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &Arc<Stored<V>>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.keep_for)
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        value: &Arc<Stored<V>>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        // A refreshed entry starts its own life.
        Some(value.keep_for)
    }
}

pub struct AnswerCache<V> {
    entries: Cache<CacheKey, Arc<Stored<V>>>,
    max_bytes: u64,
    ttls: Ttls,
    stale_window: Duration,
    metrics: Arc<Metrics>,
}

impl<V> Clone for AnswerCache<V> {
    fn clone(&self) -> Self {
        AnswerCache {
            entries: self.entries.clone(),
            max_bytes: self.max_bytes,
            ttls: self.ttls.clone(),
            stale_window: self.stale_window,
            metrics: self.metrics.clone(),
        }
    }
}

impl<V: Send + Sync + 'static> AnswerCache<V> {
    /// `None` when the configured capacity is 0 (cache off).
    pub fn new(
        max_bytes: u64,
        ttls: Ttls,
        stale_window: Duration,
        metrics: Arc<Metrics>,
    ) -> Option<AnswerCache<V>> {
        if max_bytes == 0 {
            return None;
        }
        let evictions = metrics.cache_evictions.clone();
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &CacheKey, stored: &Arc<Stored<V>>| weigh(key, stored.bytes))
            .expire_after(KeepFor)
            // Least recently used goes first: predictable, and what a
            // dashboard looked at last is what it asks for next.
            .eviction_policy(EvictionPolicy::lru())
            .eviction_listener(move |_key, _value, cause| {
                let reason = match cause {
                    RemovalCause::Size => "size",
                    RemovalCause::Expired => "expired",
                    RemovalCause::Explicit | RemovalCause::Replaced => return,
                };
                evictions.get_or_create(&ReasonLabel { reason }).inc();
            })
            .build();
        Some(AnswerCache {
            entries,
            max_bytes,
            ttls,
            stale_window,
            metrics,
        })
    }

    /// The entry, fresh or within its stale window.
    pub async fn get(&self, key: &CacheKey) -> Option<Arc<Stored<V>>> {
        let now = Instant::now();
        self.entries
            .get(key)
            .await
            .filter(|stored| stored.is_servable_stale(now))
    }

    /// Stores a successful answer made from `body_bytes` of upstream bodies.
    /// How long a new answer for `collection` stays fresh.
    pub fn ttl_for(&self, collection: &str) -> Duration {
        self.ttls.for_collection(collection)
    }

    pub async fn put(&self, key: CacheKey, collection: &str, value: V, body_bytes: usize) {
        let ttl = self.ttls.for_collection(collection);
        let keep_for = ttl.saturating_add(self.stale_window);
        if keep_for.is_zero() || u64::from(weigh(&key, body_bytes)) > self.max_bytes {
            return;
        }
        let now = Instant::now();
        let stored = Stored {
            value,
            bytes: body_bytes,
            stored_at: now,
            fresh_until: now + ttl,
            stale_until: now + keep_for,
            keep_for,
        };
        self.entries.insert(key, Arc::new(stored)).await;
    }

    /// How long an answer for `collection` is kept: TTL + stale window.
    pub fn keep_for(&self, collection: &str) -> Duration {
        self.ttls
            .for_collection(collection)
            .saturating_add(self.stale_window)
    }

    /// An answer stored `age` ago elsewhere (the shared cache), with the
    /// instants it would have had here; `None` past its stale window.
    pub fn restored(
        &self,
        collection: &str,
        value: V,
        body_bytes: usize,
        age: Duration,
    ) -> Option<Arc<Stored<V>>> {
        let ttl = self.ttls.for_collection(collection);
        let left = self.keep_for(collection).checked_sub(age)?;
        if left.is_zero() {
            return None;
        }
        let now = Instant::now();
        let stored_at = now.checked_sub(age).unwrap_or(now);
        Some(Arc::new(Stored {
            value,
            bytes: body_bytes,
            stored_at,
            fresh_until: stored_at + ttl,
            stale_until: now + left,
            keep_for: left,
        }))
    }

    /// Keeps a restored answer, as `put` would.
    pub async fn insert(&self, key: CacheKey, stored: Arc<Stored<V>>) {
        if u64::from(weigh(&key, stored.bytes)) <= self.max_bytes {
            self.entries.insert(key, stored).await;
        }
    }

    /// Applies pending evictions and publishes size and entry count.
    pub async fn publish_metrics(&self) {
        self.entries.run_pending_tasks().await;
        let bytes = i64::try_from(self.entries.weighted_size()).unwrap_or(i64::MAX);
        let count = i64::try_from(self.entries.entry_count()).unwrap_or(i64::MAX);
        self.metrics.cache_bytes.set(bytes);
        self.metrics.cache_entries.set(count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Ttls {
        /// The same freshness for every collection (other modules' tests).
        pub(crate) fn uniform(ttl: Duration) -> Ttls {
            Ttls {
                conversation: ttl,
                message: ttl,
                reporting_event: ttl,
                inbox: ttl,
                label: ttl,
                user: ttl,
            }
        }
    }
    use crate::upstream::fingerprint::Fingerprinter;
    use crate::upstream::Credential;

    fn key(url: &str) -> CacheKey {
        static F: std::sync::OnceLock<Fingerprinter> = std::sync::OnceLock::new();
        let f = F.get_or_init(|| Fingerprinter::random().expect("randomness"));
        CacheKey {
            fingerprint: f.of(&Credential::Bearer("t".into())),
            url: url.into(),
        }
    }

    fn ttls(ms: u64) -> Ttls {
        let d = Duration::from_millis(ms);
        Ttls {
            conversation: d,
            message: d,
            reporting_event: d,
            inbox: d * 10,
            label: d,
            user: d,
        }
    }

    #[test]
    fn the_weigher_counts_body_and_url_bytes() {
        let k = key("http://h/v1.1/odata/Inbox?$top=1&$skip=0");
        assert_eq!(weigh(&k, 0), (ENTRY_OVERHEAD + k.url.len()) as u32);
        assert_eq!(weigh(&k, 1000) - weigh(&k, 0), 1000);
        assert_eq!(weigh(&k, usize::MAX), u32::MAX);
    }

    #[test]
    fn ttls_follow_the_collection() {
        let settings = crate::config::Config::default()
            .validate()
            .expect("defaults are valid");
        let t = Ttls::from_config(&settings.upstream.cache);
        assert_eq!(t.for_collection("Inbox"), Duration::from_secs(300));
        assert_eq!(t.for_collection("Message"), Duration::from_secs(30));
        assert_eq!(t.for_collection("$metadata"), Duration::from_secs(30));
    }

    #[tokio::test]
    async fn entries_are_fresh_then_stale_then_gone() {
        let cache = AnswerCache::new(
            1 << 20,
            ttls(40),
            Duration::from_millis(80),
            Arc::new(Metrics::new()),
        )
        .expect("cache on");
        let k = key("u");
        cache.put(k.clone(), "Message", 7u8, 10).await;
        let now = Instant::now();
        let got = cache.get(&k).await.expect("entry");
        assert!(got.is_fresh(now));
        tokio::time::sleep(Duration::from_millis(60)).await;
        let got = cache.get(&k).await.expect("kept for stale-if-error");
        assert!(!got.is_fresh(Instant::now()));
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(cache.get(&k).await.is_none());
    }

    #[tokio::test]
    async fn restored_answers_keep_their_age() {
        let cache = AnswerCache::new(
            1 << 20,
            ttls(1000),
            Duration::from_millis(1000),
            Arc::new(Metrics::new()),
        )
        .expect("cache on");
        let now = Instant::now();
        let young = cache
            .restored("Message", 1u8, 10, Duration::from_millis(100))
            .expect("fresh");
        assert!(young.is_fresh(now));
        assert!(!young.is_fresh_for(now, Some(Duration::from_millis(50))));
        let old = cache
            .restored("Message", 2u8, 10, Duration::from_millis(1500))
            .expect("stale");
        assert!(!old.is_fresh(now) && old.is_servable_stale(now));
        assert!(cache
            .restored("Message", 3u8, 10, Duration::from_millis(2500))
            .is_none());
        cache.insert(key("r"), young).await;
        assert!(cache.get(&key("r")).await.is_some());
    }

    #[tokio::test]
    async fn capacity_is_in_bytes() {
        let metrics = Arc::new(Metrics::new());
        let cache = AnswerCache::new(3000, ttls(60_000), Duration::ZERO, metrics.clone())
            .expect("cache on");
        for i in 0..3 {
            cache.put(key(&format!("u{i}")), "Message", i, 1000).await;
        }
        cache.publish_metrics().await;
        assert!(metrics.cache_bytes.get() <= 3000);
        assert_eq!(
            metrics.cache_entries.get(),
            2,
            "one of three 1 KB answers went"
        );
        // An answer bigger than the whole cache is not kept at all.
        cache.put(key("big"), "Message", 9, 5000).await;
        assert!(cache.get(&key("big")).await.is_none());
        assert!(cache.get(&key("u2")).await.is_some(), "and evicts nothing");
        assert!(AnswerCache::<u8>::new(0, ttls(1), Duration::ZERO, metrics).is_none());
    }
}
