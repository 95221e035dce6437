//! Stage 3c: whole responses reused. A dashboard panel asks the very same
//! operation again and again; its rendered response is kept under (client,
//! document hash, operation name, variables) and answered as bytes, with no
//! parsing, validation or execution. An entry lives as long as the
//! freshest-expiring upstream answer it was built from (`Freshness`), so it
//! is never older than the upstream cache would serve. Only clean answers
//! are kept: no errors, not stale, no explain. `Cache-Control: no-cache`
//! skips the lookup and stores the fresh answer. Bounded in bytes
//! (`response_cache_bytes`). An entry keeps the body's compressed forms
//! too, each made once, so a hot hit does no compression work.

use super::identity::ClientKey;
use super::params::Params;
use super::respond::Rendered;
use moka::future::Cache;
use moka::Expiry;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One operation of one client. The endpoint version is the process's own,
/// so it needs no place in the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    client: ClientKey,
    document: [u8; 32],
    operation: Option<String>,
    variables: String,
}

impl Key {
    pub fn new(client: ClientKey, params: &Params) -> Key {
        let digest = ring::digest::digest(&ring::digest::SHA256, params.query.as_bytes());
        let mut document = [0u8; 32];
        document.copy_from_slice(digest.as_ref());
        Key {
            client,
            document,
            operation: params.operation_name.clone(),
            // Variables in the order sent: another order is only a miss.
            variables: serde_json::to_string(&params.variables).unwrap_or_default(),
        }
    }

    fn weight(&self) -> usize {
        ENTRY_OVERHEAD + self.variables.len() + self.operation.as_ref().map_or(0, String::len)
    }
}

struct Entry {
    rendered: Rendered,
    until: Instant,
}

/// Key, instants and moka's node besides the body.
const ENTRY_OVERHEAD: usize = 160;

struct UntilFresh;

impl Expiry<Key, Arc<Entry>> for UntilFresh {
    fn expire_after_create(&self, _: &Key, entry: &Arc<Entry>, now: Instant) -> Option<Duration> {
        Some(entry.until.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _: &Key,
        entry: &Arc<Entry>,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.until.saturating_duration_since(now))
    }
}

pub struct ResponseCache {
    entries: Cache<Key, Arc<Entry>>,
}

impl ResponseCache {
    /// `None` when `max_bytes` is 0: no response is reused.
    pub fn new(max_bytes: u64) -> Option<ResponseCache> {
        if max_bytes == 0 {
            return None;
        }
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &Key, entry: &Arc<Entry>| {
                // The compressed forms come later, as clients ask for
                // them; half the body's size is room for them (JSON
                // compresses to a tenth or less in each coding).
                let body = entry.rendered.body.len();
                let bytes = key.weight().saturating_add(body + body / 2);
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .expire_after(UntilFresh)
            .build();
        Some(ResponseCache { entries })
    }

    /// The response kept for `key`, while still fresh.
    pub async fn get(&self, key: &Key) -> Option<Rendered> {
        let entry = self.entries.get(key).await?;
        (Instant::now() < entry.until).then(|| entry.rendered.clone())
    }

    /// Keeps `rendered` until `until`, if that is still ahead.
    pub async fn put(&self, key: Key, rendered: &Rendered, until: Instant) {
        if until <= Instant::now() {
            return;
        }
        let entry = Entry {
            rendered: rendered.clone(),
            until,
        };
        self.entries.insert(key, Arc::new(entry)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::{Caller, Credential, Upstream};
    use async_graphql::Variables;
    use axum::http::HeaderValue;
    use bytes::Bytes;

    fn upstream() -> Upstream {
        let config = crate::config::Config {
            upstream: Some("http://127.0.0.1:9/odata".into()),
            ..Default::default()
        };
        let settings = config.validate().expect("settings");
        Upstream::new(&settings.upstream).expect("upstream")
    }

    fn params(query: &str, variables: serde_json::Value) -> Params {
        Params {
            query: query.into(),
            operation_name: None,
            variables: Variables::from_json(variables),
        }
    }

    fn rendered(body: &'static str) -> Rendered {
        Rendered {
            body: Bytes::from_static(body.as_bytes()),
            etag: HeaderValue::from_static("\"t\""),
            codes: Vec::new(),
            encoded: Arc::default(),
        }
    }

    #[tokio::test]
    async fn kept_per_client_document_and_variables_until_fresh() {
        let up = upstream();
        let cache = ResponseCache::new(1 << 20).expect("on");
        let client =
            |token: &str| ClientKey::of(&Caller::new(Credential::Bearer(token.into())), &up);
        let q = params("{ a }", serde_json::json!({"x": 1}));
        let until = Instant::now() + Duration::from_secs(60);
        cache
            .put(Key::new(client("t1"), &q), &rendered("{\"data\":1}"), until)
            .await;
        let hit = cache.get(&Key::new(client("t1"), &q)).await.expect("hit");
        assert_eq!(hit.body, Bytes::from_static(b"{\"data\":1}"));
        assert!(
            cache.get(&Key::new(client("t2"), &q)).await.is_none(),
            "another token"
        );
        let other_vars = params("{ a }", serde_json::json!({"x": 2}));
        assert!(cache
            .get(&Key::new(client("t1"), &other_vars))
            .await
            .is_none());
        let other_doc = params("{ a b }", serde_json::json!({"x": 1}));
        assert!(cache
            .get(&Key::new(client("t1"), &other_doc))
            .await
            .is_none());
        let service = ClientKey::ApiKey("wallboard".into());
        assert!(
            cache.get(&Key::new(service, &q)).await.is_none(),
            "an API key"
        );
    }

    #[tokio::test]
    async fn expired_or_already_stale_answers_are_not_served() {
        let up = upstream();
        let cache = ResponseCache::new(1 << 20).expect("on");
        let client = ClientKey::of(&Caller::new(Credential::Bearer("t".into())), &up);
        let q = params("{ a }", serde_json::json!({}));
        cache
            .put(Key::new(client.clone(), &q), &rendered("x"), Instant::now())
            .await;
        assert!(cache.get(&Key::new(client.clone(), &q)).await.is_none());
        let soon = Instant::now() + Duration::from_millis(30);
        cache
            .put(Key::new(client.clone(), &q), &rendered("y"), soon)
            .await;
        assert!(cache.get(&Key::new(client.clone(), &q)).await.is_some());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(cache.get(&Key::new(client, &q)).await.is_none());
    }

    #[test]
    fn off_at_zero_bytes() {
        assert!(ResponseCache::new(0).is_none());
    }
}
