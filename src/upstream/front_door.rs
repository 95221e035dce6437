//! The front door the rest of the gateway reads the upstream through.
//! One call for an answer is a short sequence of steps: the API key's
//! allow-list, the cache tiers (`tiers`), one upstream request shared by
//! every identical concurrent call (`inflight`, `fill`), and, when the
//! upstream fails, a recently expired answer marked stale. Every step
//! reports to the request's `Report` (freshness, stale, explain).

use super::answer::{Answer, Fetch};
use super::cache::{AnswerCache, CacheKey, Ttls};
use super::caller::Caller;
use super::capabilities::Capabilities;
use super::credential::Credential;
use super::expand_cap;
use super::explain::ExplainEntry;
use super::fetch::check_status;
use super::fill::Fill;
use super::fingerprint::{Fingerprint, Fingerprinter};
use super::inflight::InFlight;
use super::pages::{self, PageFuture, PagePlan};
use super::probing::Prober;
use super::shared::SharedCache;
use super::tiers::{Lookup, Tiers};
use super::transport::Transport;
use crate::config::{ConfigError, UpstreamSettings};
use crate::error::{ErrorCode, GatewayError};
use crate::metrics::{CollectionLabel, Metrics};
use crate::odata::{CollectionPage, CollectionQuery, Dialect, EntityQuery, Expand, Metadata, Row};
use crate::report::{Report, Served};
use crate::telemetry;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::FutureExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, OnceCell};

type Shared = Result<Answer, GatewayError>;

pub struct Upstream {
    transport: Arc<Transport>,
    cache: Option<AnswerCache<Answer>>,
    /// Behind `cache`, only with it.
    shared: Option<Arc<SharedCache>>,
    inflight: InFlight<CacheKey, Shared>,
    fingerprints: Fingerprinter,
    max_url_length: usize,
    capabilities: Arc<Capabilities>,
    /// One probe run or page cap search at a time (`probing`).
    probing: Arc<Mutex<()>>,
    metadata: OnceCell<Arc<Metadata>>,
}

impl Upstream {
    pub fn new(settings: &UpstreamSettings) -> Result<Upstream, ConfigError> {
        Upstream::with_metrics(settings, Arc::new(Metrics::new()))
    }

    pub fn with_metrics(
        settings: &UpstreamSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Upstream, ConfigError> {
        let cache = AnswerCache::new(
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
            capabilities: Arc::new(Capabilities::new(settings)),
            probing: Arc::new(Mutex::new(())),
            metadata: OnceCell::new(),
        })
    }

    /// The credential's fingerprint, as the cache files its answers under:
    /// a key for per-credential state that holds no token (rate buckets,
    /// reused responses, live cohorts).
    pub fn fingerprint(&self, credential: &Credential) -> Fingerprint {
        self.fingerprints.of(credential)
    }

    pub fn base(&self) -> &str {
        &self.transport.base
    }

    /// The largest `$top` of one upstream request now: the configured
    /// cap, or the upstream's own when lower (learned).
    pub fn page_cap(&self) -> u64 {
        self.capabilities.page_cap()
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

    /// The capability set for a request: the probes run first when due
    /// (see `probing`).
    pub async fn dialect_for(&self, caller: &Caller, metadata: Option<&Metadata>) -> Dialect {
        let refusals = self.transport.refusals.seen();
        if self.capabilities.probes_due(refusals) {
            self.prober(caller).run_detached(metadata, refusals).await;
        }
        self.capabilities.in_force(metadata)
    }

    fn prober(&self, caller: &Caller) -> Prober {
        Prober {
            transport: self.transport.clone(),
            capabilities: self.capabilities.clone(),
            one_at_a_time: self.probing.clone(),
            credential: caller.credential.clone(),
            max_url_length: self.max_url_length,
        }
    }

    /// The capability set and the page cap: per capability the preset's
    /// value, the config's, the probe's result, the value in force and why.
    pub fn capabilities(&self) -> serde_json::Value {
        let metadata = self.metadata.get().map(|m| m.as_ref());
        self.capabilities.to_json(metadata)
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
    /// in order; a nested `$expand` `$top` is clamped to the cap. When the
    /// upstream refuses it and a search finds its page cap lower than the
    /// one in force, it is read once more within the cap found.
    pub async fn fetch_collection(
        &self,
        caller: &Caller,
        report: &Report,
        query: &CollectionQuery,
        dialect: Dialect,
    ) -> Result<Arc<CollectionPage>, GatewayError> {
        let cap = self.page_cap();
        show_cap(report, cap);
        let first = self.within_cap(caller, report, query, dialect, cap).await;
        let Err(error) = &first else {
            return first;
        };
        let top = largest_top(query.top, &query.expand);
        if !self.refused(error, &query.to_relative_url(dialect)) || top <= 1 {
            return first;
        }
        match self.prober(caller).relearned_cap(cap, top).await {
            Some(lower) => {
                show_cap(report, lower);
                self.within_cap(caller, report, query, dialect, lower).await
            }
            None => first,
        }
    }

    /// Whether `error` is the upstream's refusal of the request at
    /// `relative` (a 4xx), not the gateway's own refusal to send it.
    fn refused(&self, error: &GatewayError, relative: &str) -> bool {
        error.kind() == ErrorCode::BadUserInput && self.fits(relative)
    }

    /// `query` within `cap`: one request, or consecutive pages above it.
    fn within_cap<'a>(
        &'a self,
        caller: &'a Caller,
        report: &'a Report,
        query: &'a CollectionQuery,
        dialect: Dialect,
        cap: u64,
    ) -> BoxFuture<'a, Result<Arc<CollectionPage>, GatewayError>> {
        async move {
            let query = expand_cap::clamp_collection(query, cap);
            if query.top <= cap {
                return self.fetch_page(caller, report, &query, dialect).await;
            }
            let plan = PagePlan::above_cap(&query, cap);
            let fetch = move |query: CollectionQuery| -> PageFuture<'a> {
                async move { self.fetch_page(caller, report, &query, dialect).await }.boxed()
            };
            pages::merge(pages::read(plan, cap, fetch)).await
        }
        .boxed()
    }

    /// A result read page by page as `plan` says (see `pages`), each page
    /// through the front door.
    pub fn pages<'a>(
        &'a self,
        caller: &'a Caller,
        report: &'a Report,
        plan: PagePlan,
        dialect: Dialect,
    ) -> BoxStream<'a, Result<Arc<CollectionPage>, GatewayError>> {
        let fetch = move |query: CollectionQuery| -> PageFuture<'a> {
            async move { self.fetch_collection(caller, report, &query, dialect).await }.boxed()
        };
        pages::read(plan, self.page_cap(), fetch)
    }

    /// One request's worth (next links aside): `query.top` within the cap.
    async fn fetch_page(
        &self,
        caller: &Caller,
        report: &Report,
        query: &CollectionQuery,
        dialect: Dialect,
    ) -> Result<Arc<CollectionPage>, GatewayError> {
        let url = self.url_for(&query.to_relative_url(dialect))?;
        let want = usize::try_from(query.top).unwrap_or(usize::MAX);
        let fetch = Fetch::Collection { want };
        match self
            .answer(caller, report, query.entity_set, url, fetch)
            .await?
        {
            Answer::Page(page) => Ok(page),
            Answer::Entity(_) => Err(mixed_up()),
        }
    }

    /// Fetches one entity by key; `None` when the upstream answers 404.
    pub async fn fetch_entity(
        &self,
        caller: &Caller,
        report: &Report,
        query: &EntityQuery,
        dialect: Dialect,
    ) -> Result<Option<Arc<Row>>, GatewayError> {
        let cap = self.page_cap();
        show_cap(report, cap);
        let first = self
            .fetch_entity_within(caller, report, query, dialect, cap)
            .await;
        let Err(error) = &first else {
            return first;
        };
        let top = largest_top(0, &query.expand);
        if !self.refused(error, &query.to_relative_url(dialect)) || top <= 1 {
            return first;
        }
        match self.prober(caller).relearned_cap(cap, top).await {
            Some(lower) => {
                show_cap(report, lower);
                self.fetch_entity_within(caller, report, query, dialect, lower)
                    .await
            }
            None => first,
        }
    }

    async fn fetch_entity_within(
        &self,
        caller: &Caller,
        report: &Report,
        query: &EntityQuery,
        dialect: Dialect,
        cap: u64,
    ) -> Result<Option<Arc<Row>>, GatewayError> {
        let query = expand_cap::clamp_entity(query, cap);
        let url = self.url_for(&query.to_relative_url(dialect))?;
        match self
            .answer(caller, report, query.entity_set, url, Fetch::Entity)
            .await?
        {
            Answer::Entity(row) => Ok(row),
            Answer::Page(_) => Err(mixed_up()),
        }
    }

    /// The answer at `url` for this caller: fresh from a cache tier, else
    /// from one upstream request shared by identical concurrent calls,
    /// else, when the upstream fails, a stale answer marked as such.
    async fn answer(
        &self,
        caller: &Caller,
        report: &Report,
        collection: &'static str,
        url: String,
        fetch: Fetch,
    ) -> Result<Answer, GatewayError> {
        allowed(caller, collection)?;
        let entry = ExplainEntry::start(report, &caller.credential, self.base(), &url, collection);
        let key = CacheKey {
            fingerprint: self.fingerprints.of(&caller.credential),
            url: url.into(),
        };
        let metrics = self.metrics();
        let tiers = Tiers::new(
            self.cache.as_ref(),
            self.shared.as_ref(),
            caller,
            &key,
            metrics,
        );
        let seen = match tiers.fresh(&key, caller, collection).await {
            Lookup::Fresh(stored) => {
                report.fresh_until(stored.fresh_until());
                return entry.finish(Served::Hit, Ok(stored.value.clone()));
            }
            Lookup::Missed(seen) => seen,
        };
        let (served, outcome) = self
            .fill(caller, &tiers, key.clone(), collection, fetch)
            .await;
        let error = match outcome {
            Ok(answer) => {
                if served == Served::Shared {
                    telemetry::cache_marker("shared", collection, answer.rows());
                }
                report.fresh_until(Instant::now() + self.ttl_for(collection));
                return entry.finish(served, Ok(answer));
            }
            Err(error) if error.is_transient() => error,
            Err(error) => {
                if error.is_refusal() {
                    report.credential_refused();
                }
                return entry.finish(served, Err(error));
            }
        };
        let stale = tiers
            .stale(&key, caller, collection, seen, self.cache.as_ref())
            .await;
        match stale {
            Some(stored) => {
                let trace_id = telemetry::trace_id().map(tracing::field::display);
                tracing::warn!(trace_id, collection, error = %error, "upstream failed; serving a stale answer");
                let label = CollectionLabel { collection };
                metrics.cache_stale_served.get_or_create(&label).inc();
                report.served_stale();
                telemetry::cache_marker("stale", collection, stored.value.rows());
                entry.finish(Served::Stale, Ok(stored.value.clone()))
            }
            None => entry.finish(served, Err(error)),
        }
    }

    /// The answer from upstream, fetched once for every identical call in
    /// flight (`Shared` for those that joined one already running).
    async fn fill(
        &self,
        caller: &Caller,
        tiers: &Tiers<'_>,
        key: CacheKey,
        collection: &'static str,
        fetch: Fetch,
    ) -> (Served, Shared) {
        let fill = Fill {
            transport: self.transport.clone(),
            local: tiers.local.cloned(),
            shared: tiers
                .shared
                .as_ref()
                .map(|(l2, k)| (Arc::clone(l2), k.clone())),
            credential: caller.credential.clone(),
            request_id: caller.request_id.clone(),
            key: key.clone(),
            collection,
            fetch,
        };
        let outcome = self.inflight.run(key, move || fill.run()).await;
        let served = if outcome.joined {
            let label = CollectionLabel { collection };
            self.metrics().upstream_shared.get_or_create(&label).inc();
            Served::Shared
        } else {
            Served::Miss
        };
        let value = outcome.value.unwrap_or_else(|| {
            Err(GatewayError::UpstreamUnavailable(
                "the upstream request failed".into(),
            ))
        });
        (served, value)
    }

    /// How long a new answer for `collection` stays fresh; with no cache,
    /// not at all.
    fn ttl_for(&self, collection: &str) -> Duration {
        self.cache
            .as_ref()
            .map(|c| c.ttl_for(collection))
            .unwrap_or_default()
    }
}

/// The API key's allow-list, checked for every answer.
fn allowed(caller: &Caller, collection: &str) -> Result<(), GatewayError> {
    if caller.may_read(collection) {
        return Ok(());
    }
    let allowed = caller.collections.as_deref().unwrap_or_default();
    Err(GatewayError::Forbidden(format!(
        "this API key may not read {collection} (allowed: {})",
        allowed.join(", ")
    )))
}

/// The largest `$top` of a request: its own, or one nested in `$expand`.
fn largest_top(top: u64, expands: &[Expand]) -> u64 {
    expands
        .iter()
        .map(|e| largest_top(e.top.unwrap_or(0), &e.expand))
        .fold(top, u64::max)
}

/// The page cap in force, in the request's explain record.
fn show_cap(report: &Report, cap: u64) {
    if let Some(explain) = report.explain() {
        explain.page_cap(cap);
    }
}

fn mixed_up() -> GatewayError {
    GatewayError::Internal("a collection and a lookup share a URL".into())
}
