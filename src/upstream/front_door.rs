//! The front door the rest of the gateway reads the upstream through.
//! One call for an answer is a short sequence of steps: the API key's
//! allow-list, the cache tiers (`tiers`), one upstream request shared by
//! every identical concurrent call (`inflight`, `fill`), and, when the
//! upstream fails, a recently expired answer marked stale. Every step
//! reports to the request's `Report` (freshness, stale, explain).

use super::answer::{Answer, Fetch};
use super::cache::{AnswerCache, CacheKey, Ttls};
use super::caller::Caller;
use super::credential::Credential;
use super::expand_cap;
use super::explain::ExplainEntry;
use super::fetch::{check_status, fetch_probe, Who};
use super::fill::Fill;
use super::fingerprint::{Fingerprint, Fingerprinter};
use super::inflight::InFlight;
use super::pages::{self, PageFuture, PagePlan};
use super::probes::{self, Findings};
use super::shared::SharedCache;
use super::tiers::{Lookup, Tiers};
use super::transport::Transport;
use crate::config::{ConfigError, InOperator, UpstreamSettings};
use crate::error::GatewayError;
use crate::metrics::{CollectionLabel, Metrics};
use crate::odata::{
    CollectionPage, CollectionQuery, Dialect, DialectName, EntityQuery, Metadata, Row,
};
use crate::report::{Report, Served};
use futures::stream::BoxStream;
use futures::FutureExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

type Shared = Result<Answer, GatewayError>;

pub struct Upstream {
    transport: Arc<Transport>,
    cache: Option<AnswerCache<Answer>>,
    /// Behind `cache`, only with it.
    shared: Option<Arc<SharedCache>>,
    inflight: InFlight<CacheKey, Shared>,
    fingerprints: Fingerprinter,
    max_url_length: usize,
    page_cap: u64,
    in_operator: InOperator,
    dialect: Dialect,
    probes: bool,
    probed: OnceCell<Findings>,
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
            page_cap: settings.page_cap,
            in_operator: settings.in_operator,
            dialect: settings.dialect,
            probes: settings.probes,
            probed: OnceCell::new(),
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
            .get_or_try_init(|| {
                probes::run(dialect, |query| self.probe_query(caller, query, dialect))
            })
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

    /// A probe's answer, straight from the upstream: no cache, no sharing,
    /// no allow-list, in nobody's explain; `None` when it refused.
    pub async fn probe_query(
        &self,
        caller: &Caller,
        query: CollectionQuery,
        dialect: Dialect,
    ) -> Result<Option<CollectionPage>, GatewayError> {
        let url = self.url_for(&query.to_relative_url(dialect))?;
        let who = Who {
            cred: &caller.credential,
            request_id: caller.request_id.as_deref(),
        };
        fetch_probe(&self.transport, who, &url, query.entity_set).await
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
        report: &Report,
        query: &CollectionQuery,
        dialect: Dialect,
    ) -> Result<Arc<CollectionPage>, GatewayError> {
        let query = expand_cap::clamp_collection(query, self.page_cap);
        if query.top <= self.page_cap {
            return self.fetch_page(caller, report, &query, dialect).await;
        }
        let plan = PagePlan::above_cap(&query, self.page_cap);
        let pages = self.pages(caller, report, plan, dialect);
        pages::merge(pages).await
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
            async move { self.fetch_page(caller, report, &query, dialect).await }.boxed()
        };
        pages::read(plan, self.page_cap, fetch)
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
        let query = expand_cap::clamp_entity(query, self.page_cap);
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
                tracing::warn!(collection, error = %error, "upstream failed; serving a stale answer");
                let label = CollectionLabel { collection };
                metrics.cache_stale_served.get_or_create(&label).inc();
                report.served_stale();
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

fn mixed_up() -> GatewayError {
    GatewayError::Internal("a collection and a lookup share a URL".into())
}
