//! The upstream OData service: the front door the schema calls. Answers
//! come from the response cache when fresh, else from one upstream request
//! shared by every identical concurrent caller; upstream failures fall back
//! to a recently expired answer, marked stale. The pieces live beside it:
//! `fingerprint` (cache keys per credential), `cache`, `shared` (the
//! cache several replicas share in Redis, behind `cache`; `shared_entry`
//! its stored form), `inflight`,
//! `transport` (timeouts, retries, concurrency bound, circuit breaker),
//! `retry` (backoff, retry budget), `circuit`, `window` (their sliding
//! counts), `paging` (the page cap on `$top`), `scan` (whole
//! results page after page), `probes` (narrowing the capability set),
//! `explain` (what a caller that asks is shown of its answers).

mod cache;
mod circuit;
mod credential;
mod explain;
mod fingerprint;
mod freshness;
mod inflight;
mod paging;
mod probes;
mod retry;
mod scan;
mod shared;
mod shared_entry;
mod transport;
mod window;

pub use credential::Credential;
pub use explain::Explain;
pub use fingerprint::Fingerprint;
pub use freshness::{Freshness, ReplicaSynced};
pub use scan::with_key_order;

/// What one client request brings to its upstream calls.
#[derive(Debug, Clone)]
pub struct Caller {
    pub credential: Credential,
    /// The client sent `Cache-Control: no-cache`: skip cached answers.
    pub no_cache: bool,
    /// Set when an answer was served from an expired entry (stale-if-error).
    pub served_stale: Arc<AtomicBool>,
    /// Collections this caller may read (service mode API keys); `None`:
    /// all. Checked here, at the front door, for every request.
    pub collections: Option<Arc<[String]>>,
    /// The client request's id, sent upstream as `x-request-id`; never
    /// part of a cache or sharing key (identical requests of several
    /// clients go upstream once, with the first one's id).
    pub request_id: Option<Arc<str>>,
    /// Neither read nor store cached answers: one-off bulk reads (aggregate
    /// scans) would otherwise fill the cache with pages nobody asks again.
    pub bypass_cache: bool,
    /// The client asked to see its upstream requests (`X-Explain`); like
    /// the request id, never part of a cache or sharing key.
    pub explain: Option<Arc<Explain>>,
    /// Cached answers older than this are not served fresh (a live query
    /// evaluated every N seconds takes nothing older than N seconds).
    pub max_age: Option<Duration>,
    /// Service mode: the name of the API key the client showed, which
    /// per-client limits count by (all keys share one upstream credential);
    /// never part of a cache or sharing key.
    pub api_key: Option<Arc<str>>,
    /// The earliest expiry of the answers this request used, which bounds
    /// how long its whole response may be reused.
    pub freshness: Arc<Freshness>,
    /// Set when an aggregate was answered by the analytics replica.
    pub replica_synced: Arc<ReplicaSynced>,
}

impl Caller {
    pub fn new(credential: Credential) -> Self {
        Caller {
            credential,
            no_cache: false,
            served_stale: Arc::default(),
            collections: None,
            request_id: None,
            bypass_cache: false,
            explain: None,
            max_age: None,
            api_key: None,
            freshness: Arc::default(),
            replica_synced: Arc::default(),
        }
    }
}

use crate::config::{ConfigError, InOperator, UpstreamSettings};
use crate::error::GatewayError;
use crate::metrics::{CollectionLabel, Metrics};
use crate::odata::{
    self, CollectionPage, CollectionQuery, Dialect, DialectName, EntityQuery, Metadata, Row,
};
use cache::{CacheKey, ResponseCache, Ttls};
use explain::{Served, Trace};
use fingerprint::Fingerprinter;
use futures::StreamExt;
use inflight::InFlight;
use reqwest::StatusCode;
use shared::{Lease, SharedCache};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;
use transport::Transport;

const JSON: &str = "application/json";

/// Pages of one read above the page cap in flight at once (after the
/// first); every request still takes a slot under the concurrency bound.
const PAGES_IN_FLIGHT: usize = 4;

/// A decoded upstream answer, cheap to share between callers and the cache.
#[derive(Debug, Clone)]
enum Answer {
    Page(Arc<CollectionPage>),
    Entity(Option<Arc<Row>>),
}

/// What to make of the body at a URL.
#[derive(Debug, Clone, Copy)]
enum Fetch {
    /// A collection, following next links until `want` rows are in.
    Collection { want: usize },
    /// A key lookup; 404 is an answer (`None`).
    Entity,
}

type Shared = Result<Answer, GatewayError>;

pub struct Upstream {
    transport: Arc<Transport>,
    cache: Option<ResponseCache<Answer>>,
    /// Behind `cache`, only with it.
    shared: Option<Arc<SharedCache>>,
    inflight: InFlight<CacheKey, Shared>,
    fingerprints: Fingerprinter,
    max_url_length: usize,
    page_cap: u64,
    in_operator: InOperator,
    dialect: Dialect,
    probes: bool,
    probed: OnceCell<probes::Findings>,
    metadata: OnceCell<Arc<Metadata>>,
}

impl Upstream {
    /// The credential's fingerprint, as the cache files its answers under:
    /// a key for per-credential state that holds no token (rate buckets,
    /// reused responses, live cohorts).
    pub fn fingerprint(&self, credential: &Credential) -> Fingerprint {
        self.fingerprints.of(credential)
    }

    pub fn new(settings: &UpstreamSettings) -> Result<Upstream, ConfigError> {
        Upstream::with_metrics(settings, Arc::new(Metrics::new()))
    }

    pub fn with_metrics(
        settings: &UpstreamSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Upstream, ConfigError> {
        let cache = ResponseCache::new(
            settings.cache.max_bytes,
            Ttls::from_config(&settings.cache),
            settings.cache.stale_if_error,
            metrics.clone(),
        );
        let shared = match (&settings.shared_cache.redis, &cache) {
            (Some(redis), Some(_)) => Some(Arc::new(
                SharedCache::new(redis, metrics.clone()).map_err(ConfigError::System)?,
            )),
            _ => None,
        };
        let fingerprints = match &settings.shared_cache.key_secret {
            Some(secret) => Fingerprinter::with_secret(secret),
            None => Fingerprinter::random().map_err(ConfigError::System)?,
        };
        Ok(Upstream {
            transport: Arc::new(Transport::new(settings, metrics)?),
            cache,
            shared,
            inflight: InFlight::default(),
            fingerprints,
            max_url_length: settings.max_url_length,
            page_cap: settings.page_cap,
            in_operator: settings.in_operator,
            dialect: settings.dialect,
            probes: settings.probes,
            probed: OnceCell::new(),
            metadata: OnceCell::new(),
        })
    }

    pub fn base(&self) -> &str {
        &self.transport.base
    }

    /// The largest `$top` of one upstream request.
    pub fn page_cap(&self) -> u64 {
        self.page_cap
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.transport.metrics
    }

    /// Brings the gauges (cache size, circuit state) up to date for a scrape.
    pub async fn publish_metrics(&self) {
        if let Some(cache) = &self.cache {
            cache.publish_metrics().await;
        }
        self.transport.circuit_state();
    }

    /// The upstream's `$metadata`, read once with the first credential that
    /// works (not through the response cache: once per process is enough).
    /// `None` while it cannot be read: callers then use the documented model
    /// as it is.
    pub async fn metadata(&self, caller: &Caller) -> Option<Arc<Metadata>> {
        let cred = &caller.credential;
        let request_id = caller.request_id.as_deref();
        let loaded = self
            .metadata
            .get_or_try_init(|| async {
                let url = format!("{}/$metadata", self.transport.base);
                let (status, body) = self
                    .transport
                    .get(cred, request_id, &url, "application/xml", "$metadata")
                    .await?;
                check_status(status, &body, cred)?;
                let text = String::from_utf8_lossy(&body);
                Metadata::parse(&text)
                    .map(Arc::new)
                    .map_err(GatewayError::UpstreamInvalidResponse)
            })
            .await;
        match loaded {
            Ok(md) => Some(md.clone()),
            Err(e) => {
                tracing::warn!(error = %e, "upstream $metadata unavailable; using the documented model");
                None
            }
        }
    }

    /// Any HTTP answer from the service root counts: readiness needs no
    /// token. Refused while the circuit is open.
    pub async fn probe(&self) -> Result<u16, GatewayError> {
        self.transport.probe().await
    }

    /// The capability set for a request, `in` settled by `in_operator`
    /// and the `$metadata` version.
    pub fn dialect(&self, metadata: Option<&Metadata>) -> Dialect {
        let in_list = match self.in_operator {
            InOperator::Or => false,
            InOperator::In => true,
            InOperator::Auto => {
                self.dialect.in_list
                    || (self.dialect.name == DialectName::Odata4
                        && metadata.is_some_and(Metadata::supports_in))
            }
        };
        Dialect {
            in_list,
            ..self.dialect
        }
    }

    /// The capability set for a request: [`Upstream::dialect`], narrowed
    /// by the probes (run once, with the first caller's credential).
    pub async fn dialect_for(&self, caller: &Caller, metadata: Option<&Metadata>) -> Dialect {
        let dialect = self.dialect(metadata);
        if !self.probes {
            return dialect;
        }
        let probed = self
            .probed
            .get_or_try_init(|| probes::run(self, caller, dialect))
            .await;
        match probed {
            Ok(findings) => findings.narrow(dialect),
            Err(e) => {
                tracing::warn!(error = %e, "capability probes failed; probing again later");
                dialect
            }
        }
    }

    /// The capability set as configured and, once probed, as in force.
    pub fn capabilities(&self) -> serde_json::Value {
        let in_force = self.probed.get().map(|f| f.narrow(self.dialect));
        serde_json::json!({
            "dialect": self.dialect.name,
            "page_cap": self.page_cap,
            "in_operator": self.in_operator,
            "configured": self.dialect,
            "probes": self.probes,
            "probed": in_force.is_some(),
            "in_force": in_force.unwrap_or(self.dialect),
        })
    }

    /// Whether a request relative to the service root stays within the URL
    /// length limit.
    pub fn fits(&self, relative: &str) -> bool {
        self.base().len() + 1 + relative.len() <= self.max_url_length
    }

    /// Builds the full URL of a request relative to the service root,
    /// refusing one longer than the configured limit before anything is sent.
    pub fn url_for(&self, relative: &str) -> Result<String, GatewayError> {
        let url = format!("{}/{}", self.transport.base, relative);
        if url.len() > self.max_url_length {
            return Err(GatewayError::bad_input(format!(
                "the upstream request would be {} bytes long, above the limit of {} bytes (max_url_length); narrow the filter",
                url.len(),
                self.max_url_length
            )));
        }
        Ok(url)
    }

    /// Fetches a collection page, following `@odata.nextLink` until `top`
    /// rows are in or the server has no more. A `top` above the page cap is
    /// read as consecutive pages (each cached under its own URL) and merged
    /// in order; a nested `$expand` `$top` is clamped to the cap.
    pub async fn fetch_collection(
        &self,
        caller: &Caller,
        query: &CollectionQuery,
        style: Dialect,
    ) -> Result<Arc<CollectionPage>, GatewayError> {
        let query = paging::clamp_collection(query, self.page_cap);
        match paging::pages(&query, self.page_cap) {
            None => self.fetch_page(caller, &query, style).await,
            Some(pages) => self.fetch_paged(caller, pages, style).await,
        }
    }

    /// The first page alone (most reads end there, short), then the rest a
    /// few at a time, in order, until one comes back short.
    async fn fetch_paged(
        &self,
        caller: &Caller,
        mut pages: impl Iterator<Item = CollectionQuery>,
        style: Dialect,
    ) -> Result<Arc<CollectionPage>, GatewayError> {
        let full =
            |query: &CollectionQuery, page: &CollectionPage| page.rows.len() as u64 >= query.top;
        let Some(first_query) = pages.next() else {
            return Err(GatewayError::Internal("a paged read without pages".into()));
        };
        let first = self.fetch_page(caller, &first_query, style).await?;
        if !full(&first_query, &first) {
            return Ok(first);
        }
        let mut merged = CollectionPage {
            rows: first.rows.clone(),
            count: first.count,
            next_link: None,
        };
        let mut rest = futures::stream::iter(pages)
            .map(|query| async move {
                let page = self.fetch_page(caller, &query, style).await;
                (query, page)
            })
            .buffered(PAGES_IN_FLIGHT);
        // Dropping the stream at a short page cancels the pages after it.
        while let Some((query, page)) = rest.next().await {
            let page = page?;
            merged.rows.extend(page.rows.iter().cloned());
            if !full(&query, &page) {
                break;
            }
        }
        Ok(Arc::new(merged))
    }

    /// One request's worth (next links aside): `query.top` within the cap.
    async fn fetch_page(
        &self,
        caller: &Caller,
        query: &CollectionQuery,
        style: Dialect,
    ) -> Result<Arc<CollectionPage>, GatewayError> {
        let url = self.url_for(&query.to_relative_url(style))?;
        let want = usize::try_from(query.top).unwrap_or(usize::MAX);
        let fetch = Fetch::Collection { want };
        match self.answer(caller, query.entity_set, url, fetch).await? {
            Answer::Page(page) => Ok(page),
            Answer::Entity(_) => Err(mixed_up()),
        }
    }

    /// Fetches one entity by key; `None` when the upstream answers 404.
    pub async fn fetch_entity(
        &self,
        caller: &Caller,
        query: &EntityQuery,
        style: Dialect,
    ) -> Result<Option<Arc<Row>>, GatewayError> {
        let query = paging::clamp_entity(query, self.page_cap);
        let url = self.url_for(&query.to_relative_url(style))?;
        match self
            .answer(caller, query.entity_set, url, Fetch::Entity)
            .await?
        {
            Answer::Entity(row) => Ok(row),
            Answer::Page(_) => Err(mixed_up()),
        }
    }

    /// The answer at `url` for this caller: fresh from the cache, else from
    /// one upstream request shared with identical concurrent callers, else,
    /// when the upstream fails, a stale answer marked as such. Each outcome
    /// goes to the caller's explain, when it asked for one.
    async fn answer(
        &self,
        caller: &Caller,
        collection: &'static str,
        url: String,
        fetch: Fetch,
    ) -> Result<Answer, GatewayError> {
        if let Some(allowed) = &caller.collections {
            if !allowed.iter().any(|c| c == collection) {
                return Err(GatewayError::Forbidden(format!(
                    "this API key may not read {collection} (allowed: {})",
                    allowed.join(", ")
                )));
            }
        }
        let trace = Trace::start(caller, self.base(), &url, collection);
        let metrics = self.metrics();
        let label = CollectionLabel { collection };
        let key = CacheKey {
            fingerprint: self.fingerprints.of(&caller.credential),
            url: url.into(),
        };
        let mut fallback = None;
        let cache = self.cache.as_ref().filter(|_| !caller.bypass_cache);
        let shared = self.shared.as_ref().filter(|_| cache.is_some());
        let shared_key = shared.map(|_| shared::key(&key.fingerprint, &key.url));
        if let Some(cache) = cache {
            if !caller.no_cache {
                if let Some(stored) = cache.get(&key).await {
                    if stored.is_fresh_for(Instant::now(), caller.max_age) {
                        caller.freshness.record(stored.fresh_until());
                        metrics.cache_hits.get_or_create(&label).inc();
                        return trace.finish(Served::Hit, Ok(stored.value.clone()));
                    }
                    fallback = Some(stored);
                }
            }
            metrics.cache_misses.get_or_create(&label).inc();
        }
        if let (Some(cache), Some(l2), Some(l2_key)) = (cache, shared, &shared_key) {
            if !caller.no_cache {
                let found = l2.get(l2_key).await;
                match found.and_then(|bytes| restore(cache, collection, &bytes)) {
                    Some(stored) if stored.is_fresh(Instant::now()) => {
                        cache.insert(key.clone(), stored.clone()).await;
                        if stored.is_fresh_for(Instant::now(), caller.max_age) {
                            caller.freshness.record(stored.fresh_until());
                            metrics.cache_l2_hits.get_or_create(&label).inc();
                            return trace.finish(Served::Hit, Ok(stored.value.clone()));
                        }
                        metrics.cache_l2_misses.get_or_create(&label).inc();
                        fallback = Some(stored);
                    }
                    stale => {
                        metrics.cache_l2_misses.get_or_create(&label).inc();
                        fallback = fallback.or(stale);
                    }
                }
            }
        }

        let transport = self.transport.clone();
        let cache = cache.cloned();
        let task_shared = shared.cloned().zip(shared_key.clone());
        let credential = caller.credential.clone();
        let request_id = caller.request_id.clone();
        let task_key = key.clone();
        let outcome = self
            .inflight
            .run(key.clone(), move || async move {
                let who = Who {
                    cred: &credential,
                    request_id: request_id.as_deref(),
                };
                let lease = match (&task_shared, &cache) {
                    (Some((l2, l2_key)), Some(cache)) => {
                        let span = l2.lease_for(cache.ttl_for(collection));
                        let lease = l2.lease(l2_key, span).await;
                        if lease == Lease::Taken {
                            // Another replica is fetching: its answer, once
                            // written, is everyone's.
                            let fresh = |bytes: &[u8]| {
                                restore(cache, collection, bytes)
                                    .filter(|s| s.is_fresh(Instant::now()))
                            };
                            let written = l2.wait_for(l2_key, span, |b| fresh(b).is_some()).await;
                            if let Some(stored) = written.and_then(|b| fresh(&b)) {
                                cache.insert(task_key, stored.clone()).await;
                                return Ok(stored.value.clone());
                            }
                        }
                        lease
                    }
                    _ => Lease::Unavailable,
                };
                let fetched = fetch_answer(&transport, who, &task_key.url, collection, fetch).await;
                let held = lease == Lease::Held;
                let (answer, bytes) = match fetched {
                    Ok(fetched) => fetched,
                    Err(e) => {
                        if let (Some((l2, l2_key)), true) = (&task_shared, held) {
                            l2.release(l2_key.clone());
                        }
                        return Err(e);
                    }
                };
                // Only successes are kept: never an error, never another
                // credential's key.
                if let Some(cache) = cache {
                    if let Some((l2, l2_key)) = &task_shared {
                        if let Some(value) = shared_entry::encode(&answer) {
                            l2.put(l2_key.clone(), value, cache.keep_for(collection));
                        }
                    }
                    cache.put(task_key, collection, answer.clone(), bytes).await;
                }
                Ok(answer)
            })
            .await;
        if outcome.joined {
            metrics.upstream_shared.get_or_create(&label).inc();
        }
        let served = if outcome.joined {
            Served::Shared
        } else {
            Served::Miss
        };
        let error = match outcome.value {
            Some(Ok(answer)) => {
                // Fresh for the collection's TTL; with no cache, not at all.
                let ttl = self.cache.as_ref().map(|c| c.ttl_for(collection));
                caller
                    .freshness
                    .record(Instant::now() + ttl.unwrap_or_default());
                return trace.finish(served, Ok(answer));
            }
            Some(Err(e)) => e,
            None => GatewayError::UpstreamUnavailable("the upstream request failed".into()),
        };
        if !error.is_transient() {
            return trace.finish(served, Err(error));
        }
        // Stale-if-error. A no-cache caller skipped the reads; look now.
        let mut stale = match (fallback, &self.cache) {
            (Some(stored), _) => Some(stored),
            (None, Some(cache)) if caller.no_cache => cache.get(&key).await,
            (None, _) => None,
        };
        if let (None, Some(cache), Some(l2), Some(l2_key)) =
            (&stale, &self.cache, shared, &shared_key)
        {
            if caller.no_cache {
                let found = l2.get(l2_key).await;
                stale = found.and_then(|bytes| restore(cache, collection, &bytes));
            }
        }
        match stale.filter(|s| s.is_servable_stale(Instant::now())) {
            Some(stored) => {
                tracing::warn!(collection, error = %error, "upstream failed; serving a stale answer");
                metrics.cache_stale_served.get_or_create(&label).inc();
                caller.served_stale.store(true, Ordering::Relaxed);
                trace.finish(Served::Stale, Ok(stored.value.clone()))
            }
            None => trace.finish(served, Err(error)),
        }
    }
}

/// An answer read from the shared cache, as the local cache would hold it.
fn restore(
    cache: &ResponseCache<Answer>,
    collection: &str,
    bytes: &[u8],
) -> Option<Arc<cache::Stored<Answer>>> {
    let (answer, age) = shared_entry::decode(bytes)?;
    cache.restored(collection, answer, bytes.len(), age)
}

fn mixed_up() -> GatewayError {
    GatewayError::Internal("a collection and a lookup share a URL".into())
}

/// Whose upstream request: the credential and the client request's id.
#[derive(Clone, Copy)]
struct Who<'a> {
    cred: &'a Credential,
    request_id: Option<&'a str>,
}

/// Asks the upstream and decodes; the byte count weighs the cache entry.
async fn fetch_answer(
    transport: &Transport,
    who: Who<'_>,
    url: &str,
    collection: &'static str,
    fetch: Fetch,
) -> Result<(Answer, usize), GatewayError> {
    match fetch {
        Fetch::Entity => {
            let cred = who.cred;
            let (status, body) = transport
                .get(cred, who.request_id, url, JSON, collection)
                .await?;
            if status == StatusCode::NOT_FOUND {
                return Ok((Answer::Entity(None), body.len()));
            }
            check_status(status, &body, cred)?;
            let row = decode(&body, odata::decode_entity)?;
            Ok((Answer::Entity(Some(Arc::new(row))), body.len()))
        }
        Fetch::Collection { want } => {
            let (page, bytes) = fetch_pages(transport, who, url, collection, want).await?;
            Ok((Answer::Page(Arc::new(page)), bytes))
        }
    }
}

/// A collection page, following `@odata.nextLink` until `want` rows are in
/// or the server has no more.
async fn fetch_pages(
    transport: &Transport,
    who: Who<'_>,
    url: &str,
    collection: &'static str,
    want: usize,
) -> Result<(CollectionPage, usize), GatewayError> {
    let cred = who.cred;
    let get_ok = |url: String| async move {
        let (status, body) = transport
            .get(cred, who.request_id, &url, JSON, collection)
            .await?;
        check_status(status, &body, cred)?;
        Ok::<_, GatewayError>(body)
    };
    let body = get_ok(url.to_string()).await?;
    let mut bytes = body.len();
    let mut page = decode(&body, odata::decode_collection)?;
    let mut current = url.to_string();
    let mut followed = 0;
    while page.rows.len() < want {
        let Some(link) = page.next_link.take() else {
            break;
        };
        if followed >= transport.max_next_links {
            return Err(GatewayError::UpstreamInvalidResponse(format!(
                "more than {} @odata.nextLink pages (max_next_links)",
                transport.max_next_links
            )));
        }
        followed += 1;
        current = resolve_next_link(&transport.base, &current, &link)?;
        let body = get_ok(current.clone()).await?;
        bytes += body.len();
        let next = decode(&body, odata::decode_collection)?;
        page.rows.extend(next.rows);
        page.next_link = next.next_link;
    }
    page.rows.truncate(want);
    page.next_link = None;
    Ok((page, bytes))
}

/// A next link must stay on the upstream's own service root, so that the
/// credential is never sent anywhere else.
fn resolve_next_link(base: &str, current: &str, link: &str) -> Result<String, GatewayError> {
    let invalid =
        |why: &str| GatewayError::UpstreamInvalidResponse(format!("@odata.nextLink {why}"));
    let current = url::Url::parse(current).map_err(|_| invalid("cannot be resolved"))?;
    let next = current.join(link).map_err(|_| invalid("is not a URL"))?;
    if !next.as_str().starts_with(&format!("{base}/")) {
        return Err(invalid("points outside the upstream service root"));
    }
    Ok(next.to_string())
}

fn decode<T>(body: &[u8], f: impl Fn(&[u8]) -> Result<T, String>) -> Result<T, GatewayError> {
    f(body).map_err(GatewayError::UpstreamInvalidResponse)
}

/// Maps an upstream HTTP status to our error codes (docs/errors.md, "What
/// the upstream's statuses become").
fn check_status(status: StatusCode, body: &[u8], cred: &Credential) -> Result<(), GatewayError> {
    if status.is_success() {
        return Ok(());
    }
    let message = cred.redact(&odata::error_message(body));
    let detail = if message.is_empty() {
        format!("upstream answered {status}")
    } else {
        format!("upstream answered {}: {message}", status.as_u16())
    };
    Err(GatewayError::UpstreamStatus {
        status: status.as_u16(),
        message: detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_codes() {
        let cred = Credential::Bearer("tok".into());
        let code = |s: u16| {
            check_status(
                StatusCode::from_u16(s).unwrap_or(StatusCode::OK),
                b"",
                &cred,
            )
            .err()
            .map(|e| e.code())
        };
        assert_eq!(code(200), None);
        assert_eq!(code(400), Some("BAD_USER_INPUT"));
        assert_eq!(code(401), Some("UNAUTHENTICATED"));
        assert_eq!(code(403), Some("FORBIDDEN"));
        assert_eq!(code(503), Some("UPSTREAM_UNAVAILABLE"));
        assert_eq!(code(404), Some("UPSTREAM_INVALID_RESPONSE"));
    }

    #[test]
    fn upstream_messages_never_echo_the_token() {
        let cred = Credential::ApiKey("tok".into());
        let err = check_status(
            StatusCode::UNAUTHORIZED,
            br#"{"error":{"message":"token tok is unknown"}}"#,
            &cred,
        )
        .expect_err("401");
        assert!(!err.to_string().contains("tok "), "{err}");
    }

    #[test]
    fn next_links_stay_on_the_service_root() {
        let base = "http://127.0.0.1:1/v1.1/odata";
        let current = "http://127.0.0.1:1/v1.1/odata/Message?$top=5&$skip=0";
        assert_eq!(
            resolve_next_link(base, current, "Message?$skiptoken=5")
                .ok()
                .as_deref(),
            Some("http://127.0.0.1:1/v1.1/odata/Message?$skiptoken=5")
        );
        assert!(
            resolve_next_link(base, current, "http://evil.example/v1.1/odata/Message").is_err()
        );
    }
}
