//! The cache tiers in front of the upstream, read in order: the process's
//! own cache (L1), then the cache several instances share in Redis (L2),
//! which refills L1. A miss remembers the expired answer it saw, for
//! stale-if-error when the upstream then fails.

use super::answer::Answer;
use super::cache::{AnswerCache, CacheKey, Stored};
use super::caller::Caller;
use super::shared::{self, SharedCache};
use super::shared_entry;
use crate::metrics::{CollectionLabel, Metrics};
use crate::telemetry;
use std::sync::Arc;
use std::time::Instant;

/// The tiers one call may use: none for a caller that bypasses the cache;
/// L2 only behind L1.
pub(super) struct Tiers<'a> {
    pub local: Option<&'a AnswerCache<Answer>>,
    /// The shared cache and this answer's key there.
    pub shared: Option<(&'a Arc<SharedCache>, String)>,
    pub metrics: &'a Metrics,
}

pub(super) type Entry = Arc<Stored<Answer>>;

/// What the tiers hold for a call.
pub(super) enum Lookup {
    Fresh(Entry),
    /// Nothing fresh; an expired answer seen on the way, if any.
    Missed(Option<Entry>),
}

impl<'a> Tiers<'a> {
    pub fn new(
        local: Option<&'a AnswerCache<Answer>>,
        shared: Option<&'a Arc<SharedCache>>,
        caller: &Caller,
        key: &CacheKey,
        metrics: &'a Metrics,
    ) -> Tiers<'a> {
        let local = local.filter(|_| !caller.bypass_cache);
        let shared = shared
            .filter(|_| local.is_some())
            .map(|l2| (l2, shared::key(&key.fingerprint, &key.url)));
        Tiers {
            local,
            shared,
            metrics,
        }
    }

    /// A fresh answer from L1, else from L2; `no-cache` reads neither.
    pub async fn fresh(&self, key: &CacheKey, caller: &Caller, collection: &'static str) -> Lookup {
        let Some(local) = self.local else {
            return Lookup::Missed(None);
        };
        let label = CollectionLabel { collection };
        let mut fallback = None;
        if !caller.no_cache {
            if let Some(stored) = local.get(key).await {
                if stored.is_fresh_for(Instant::now(), caller.max_age) {
                    self.metrics.cache_hits.get_or_create(&label).inc();
                    telemetry::cache_marker("hit", collection, stored.value.rows());
                    return Lookup::Fresh(stored);
                }
                fallback = Some(stored);
            }
        }
        self.metrics.cache_misses.get_or_create(&label).inc();
        if caller.no_cache {
            return Lookup::Missed(fallback);
        }
        let Some((l2, l2_key)) = &self.shared else {
            return Lookup::Missed(fallback);
        };
        let found = l2.get(l2_key).await;
        match found.and_then(|bytes| restore(local, collection, &bytes)) {
            Some(stored) if stored.is_fresh(Instant::now()) => {
                local.insert(key.clone(), stored.clone()).await;
                if stored.is_fresh_for(Instant::now(), caller.max_age) {
                    self.metrics.cache_l2_hits.get_or_create(&label).inc();
                    telemetry::cache_marker("l2", collection, stored.value.rows());
                    return Lookup::Fresh(stored);
                }
                self.metrics.cache_l2_misses.get_or_create(&label).inc();
                Lookup::Missed(Some(stored))
            }
            stale => {
                self.metrics.cache_l2_misses.get_or_create(&label).inc();
                Lookup::Missed(fallback.or(stale))
            }
        }
    }

    /// An expired answer still within its stale window, for a call whose
    /// fetch failed: the one the lookup saw, else (a `no-cache` call read
    /// nothing on the way) a look now, in `stale_local` (the process's
    /// cache, even for a call that bypassed it) and L2.
    pub async fn stale(
        &self,
        key: &CacheKey,
        caller: &Caller,
        collection: &'static str,
        seen: Option<Entry>,
        stale_local: Option<&AnswerCache<Answer>>,
    ) -> Option<Entry> {
        let mut stale = match (seen, stale_local) {
            (Some(stored), _) => Some(stored),
            (None, Some(local)) if caller.no_cache => local.get(key).await,
            (None, _) => None,
        };
        if let (None, Some(local), Some((l2, l2_key)), true) =
            (&stale, stale_local, &self.shared, caller.no_cache)
        {
            let found = l2.get(l2_key).await;
            stale = found.and_then(|bytes| restore(local, collection, &bytes));
        }
        stale.filter(|s| s.is_servable_stale(Instant::now()))
    }
}

/// An answer read from the shared cache, as the local cache would hold it.
pub(super) fn restore(
    cache: &AnswerCache<Answer>,
    collection: &str,
    bytes: &[u8],
) -> Option<Entry> {
    let (answer, age) = shared_entry::decode(bytes)?;
    cache.restored(collection, answer, bytes.len(), age)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::cache::Ttls;
    use crate::upstream::credential::Credential;
    use crate::upstream::fingerprint::Fingerprinter;
    use std::time::Duration;

    fn key() -> CacheKey {
        let f = Fingerprinter::with_secret(b"k");
        CacheKey {
            fingerprint: f.of(&Credential::Bearer("t".into())),
            url: "http://h/v1.1/odata/Inbox?$top=1&$skip=0".into(),
        }
    }

    fn cache(ttl_ms: u64, stale_ms: u64, metrics: &Arc<Metrics>) -> AnswerCache<Answer> {
        let d = Duration::from_millis(ttl_ms);
        let ttls = Ttls::uniform(d);
        AnswerCache::new(
            1 << 20,
            ttls,
            Duration::from_millis(stale_ms),
            metrics.clone(),
        )
        .expect("cache on")
    }

    fn caller() -> Caller {
        Caller::new(Credential::Bearer("t".into()))
    }

    #[tokio::test]
    async fn a_fresh_local_answer_is_a_hit_and_no_cache_skips_it() {
        let metrics = Arc::new(Metrics::new());
        let local = cache(60_000, 0, &metrics);
        local.put(key(), "Inbox", Answer::Entity(None), 10).await;
        let tiers = Tiers::new(Some(&local), None, &caller(), &key(), &metrics);
        assert!(matches!(
            tiers.fresh(&key(), &caller(), "Inbox").await,
            Lookup::Fresh(_)
        ));
        let fresh_only = Caller {
            no_cache: true,
            ..caller()
        };
        assert!(matches!(
            tiers.fresh(&key(), &fresh_only, "Inbox").await,
            Lookup::Missed(None)
        ));
        let bypass = caller().uncached();
        let none = Tiers::new(Some(&local), None, &bypass, &key(), &metrics);
        assert!(none.local.is_none());
        assert!(matches!(
            none.fresh(&key(), &bypass, "Inbox").await,
            Lookup::Missed(None)
        ));
    }

    #[tokio::test]
    async fn an_expired_answer_is_remembered_for_stale_if_error() {
        let metrics = Arc::new(Metrics::new());
        let local = cache(20, 60_000, &metrics);
        local.put(key(), "Inbox", Answer::Entity(None), 10).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
        let tiers = Tiers::new(Some(&local), None, &caller(), &key(), &metrics);
        let Lookup::Missed(seen) = tiers.fresh(&key(), &caller(), "Inbox").await else {
            panic!("expired answers are not fresh");
        };
        assert!(seen.is_some());
        let stale = tiers
            .stale(&key(), &caller(), "Inbox", seen, Some(&local))
            .await;
        assert!(stale.is_some());
        // A no-cache call saw nothing on its way, and looks now.
        let fresh_only = Caller {
            no_cache: true,
            ..caller()
        };
        let stale = tiers
            .stale(&key(), &fresh_only, "Inbox", None, Some(&local))
            .await;
        assert!(stale.is_some());
        assert!(tiers
            .stale(&key(), &caller(), "Inbox", None, Some(&local))
            .await
            .is_none());
    }

    #[tokio::test]
    async fn a_live_query_takes_nothing_older_than_its_bound() {
        let metrics = Arc::new(Metrics::new());
        let local = cache(60_000, 0, &metrics);
        local.put(key(), "Inbox", Answer::Entity(None), 10).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        let live = Caller {
            max_age: Some(Duration::from_millis(10)),
            ..caller()
        };
        let tiers = Tiers::new(Some(&local), None, &live, &key(), &metrics);
        assert!(matches!(
            tiers.fresh(&key(), &live, "Inbox").await,
            Lookup::Missed(Some(_))
        ));
    }
}
