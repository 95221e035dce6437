//! Who a request acts as upstream, and how it may use the caches. What the
//! request reports back (stale answers, freshness, explain) is not here but
//! in its `Report`, so a copy with another cache policy is just that.

use super::credential::Credential;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Caller {
    pub credential: Credential,
    /// Collections this caller may read (service mode API keys); `None`:
    /// all. Checked at the front door, for every request.
    pub collections: Option<Arc<[String]>>,
    /// Service mode: the name of the API key the client showed, which
    /// per-client limits count by (all keys share one upstream credential);
    /// never part of a cache or sharing key.
    pub api_key: Option<Arc<str>>,
    /// The client request's id, sent upstream as `x-request-id`; never
    /// part of a cache or sharing key (identical requests of several
    /// clients go upstream once, with the first one's id).
    pub request_id: Option<Arc<str>>,
    /// The client sent `Cache-Control: no-cache`: skip cached answers.
    pub no_cache: bool,
    /// Neither read nor store cached answers: one-off bulk reads (aggregate
    /// scans) would otherwise fill the cache with pages nobody asks again.
    pub bypass_cache: bool,
    /// Cached answers older than this are not served fresh (a live query
    /// evaluated every N seconds takes nothing older than N seconds).
    pub max_age: Option<Duration>,
}

impl Caller {
    pub fn new(credential: Credential) -> Self {
        Caller {
            credential,
            collections: None,
            api_key: None,
            request_id: None,
            no_cache: false,
            bypass_cache: false,
            max_age: None,
        }
    }

    /// The same caller for a one-off read: no cache read or write.
    pub fn uncached(&self) -> Caller {
        Caller {
            bypass_cache: true,
            ..self.clone()
        }
    }

    /// Whether this caller may read `collection`: a key limited to some
    /// collections reads only those.
    pub fn may_read(&self, collection: &str) -> bool {
        self.collections
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|c| c == collection))
    }
}
