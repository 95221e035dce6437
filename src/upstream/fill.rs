//! The work behind one cache miss, run once however many callers wait for
//! it (`inflight`): with a shared cache, first the lease that lets one
//! instance of a fleet fetch for all (or the answer another instance just
//! wrote), then the upstream request, then the answer written back to both
//! tiers. Only successes are kept: never an error, never under another
//! credential's key.

use super::answer::{Answer, Fetch};
use super::cache::{AnswerCache, CacheKey};
use super::credential::Credential;
use super::fetch::{fetch_answer, Who};
use super::shared::{Lease, SharedCache};
use super::shared_entry;
use super::tiers::restore;
use super::transport::Transport;
use crate::error::GatewayError;
use std::sync::Arc;
use std::time::Instant;

/// Everything the work needs, owned: it runs in its own task.
pub(super) struct Fill {
    pub transport: Arc<Transport>,
    pub local: Option<AnswerCache<Answer>>,
    pub shared: Option<(Arc<SharedCache>, String)>,
    pub credential: Credential,
    pub request_id: Option<Arc<str>>,
    pub key: CacheKey,
    pub collection: &'static str,
    pub fetch: Fetch,
}

/// How the lease went: fetch (holding it or not), or take what another
/// instance wrote meanwhile.
enum Turn {
    Fetch(Lease),
    Written(Answer),
}

impl Fill {
    pub async fn run(self) -> Result<Answer, GatewayError> {
        let lease = match self.take_turn().await {
            Turn::Written(answer) => return Ok(answer),
            Turn::Fetch(lease) => lease,
        };
        let who = Who {
            cred: &self.credential,
            request_id: self.request_id.as_deref(),
        };
        let fetched = fetch_answer(
            &self.transport,
            who,
            &self.key.url,
            self.collection,
            self.fetch,
        )
        .await;
        match fetched {
            Ok((answer, bytes)) => {
                self.write_back(&answer, bytes).await;
                Ok(answer)
            }
            Err(error) => {
                if let (Some((l2, l2_key)), Lease::Held) = (&self.shared, lease) {
                    // The instances waiting on the lease fetch themselves now.
                    l2.release(l2_key.clone());
                }
                Err(error)
            }
        }
    }

    /// Asks for the lease; when another instance holds it, waits for the
    /// answer it writes, as long as the lease lasts.
    async fn take_turn(&self) -> Turn {
        let (Some((l2, l2_key)), Some(local)) = (&self.shared, &self.local) else {
            return Turn::Fetch(Lease::Unavailable);
        };
        let span = l2.lease_for(local.ttl_for(self.collection));
        let lease = l2.lease(l2_key, span).await;
        if lease != Lease::Taken {
            return Turn::Fetch(lease);
        }
        let fresh = |bytes: &[u8]| {
            restore(local, self.collection, bytes).filter(|s| s.is_fresh(Instant::now()))
        };
        let written = l2.wait_for(l2_key, span, |b| fresh(b).is_some()).await;
        match written.and_then(|b| fresh(&b)) {
            Some(stored) => {
                local.insert(self.key.clone(), stored.clone()).await;
                Turn::Written(stored.value.clone())
            }
            None => Turn::Fetch(lease),
        }
    }

    async fn write_back(&self, answer: &Answer, bytes: usize) {
        let Some(local) = &self.local else {
            return;
        };
        if let Some((l2, l2_key)) = &self.shared {
            if let Some(value) = shared_entry::encode(answer) {
                l2.put(l2_key.clone(), value, local.keep_for(self.collection));
            }
        }
        local
            .put(self.key.clone(), self.collection, answer.clone(), bytes)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::metrics::Metrics;
    use crate::upstream::cache::Ttls;
    use crate::upstream::fingerprint::Fingerprinter;
    use axum::http::StatusCode;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// An upstream that answers `status` with a one-row page, counting.
    async fn upstream(status: u16) -> (String, Arc<AtomicUsize>) {
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        let app = axum::Router::new().fallback(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                (status, r#"{"value": [{"id": 1}]}"#)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (format!("http://{addr}/v1.1/odata"), asked)
    }

    async fn fill(base: &str, local: &AnswerCache<Answer>) -> Fill {
        let config = Config {
            upstream: Some(base.to_string()),
            upstream_retries: 0,
            ..Config::default()
        };
        let settings = config.validate().expect("settings");
        let transport =
            Transport::new(&settings.upstream, Arc::new(Metrics::new())).expect("transport");
        let credential = Credential::Bearer("t".into());
        Fill {
            transport: Arc::new(transport),
            local: Some(local.clone()),
            shared: None,
            key: CacheKey {
                fingerprint: Fingerprinter::with_secret(b"k").of(&credential),
                url: format!("{base}/Label?$top=1&$skip=0").into(),
            },
            credential,
            request_id: None,
            collection: "Label",
            fetch: Fetch::Collection { want: 1 },
        }
    }

    fn cache() -> AnswerCache<Answer> {
        let d = Duration::from_secs(60);
        let ttls = Ttls::uniform(d);
        AnswerCache::new(1 << 20, ttls, Duration::ZERO, Arc::new(Metrics::new())).expect("cache")
    }

    #[tokio::test]
    async fn an_answer_is_fetched_once_and_written_back() {
        let (base, asked) = upstream(200).await;
        let local = cache();
        let work = fill(&base, &local).await;
        let key = work.key.clone();
        let answer = work.run().await.expect("answer");
        assert_eq!(answer.rows(), 1);
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        assert!(local.get(&key).await.is_some(), "kept for the next call");
    }

    #[tokio::test]
    async fn a_failure_is_never_kept() {
        let (base, asked) = upstream(503).await;
        let local = cache();
        let work = fill(&base, &local).await;
        let key = work.key.clone();
        let error = work.run().await.expect_err("503");
        assert!(error.is_transient());
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        assert!(local.get(&key).await.is_none());
    }
}
