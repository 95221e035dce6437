//! What every handler of the server shares: the schema and the gateway,
//! the metrics, the stores and settings of the request pipeline, and the
//! live-query hub.

use super::pipeline::access::AccessStore;
use super::pipeline::document::Documents;
use super::pipeline::limits::DocumentLimits;
use super::pipeline::persisted::PersistedQueries;
use super::pipeline::rate_limit::RateLimits;
use super::pipeline::reuse::ResponseCache;
use crate::config::Settings;
use crate::live::Hub;
use crate::metrics::Metrics;
use crate::schema::Gateway;
use async_graphql::dynamic::Schema;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct AppState {
    pub schema: Schema,
    pub gateway: Arc<Gateway>,
    pub metrics: Arc<Metrics>,
    /// Limits on the document, checked before execution.
    pub limits: DocumentLimits,
    /// Documents kept parsed by their text's hash.
    pub documents: Arc<Documents>,
    /// Automatic persisted queries.
    pub persisted: PersistedQueries,
    /// Longest time one GraphQL request may run.
    pub request_timeout: Duration,
    /// Compress responses (`compression`).
    pub compression: bool,
    /// Largest POST body, named in the 413 answer.
    pub max_body_bytes: usize,
    /// Service mode's API keys and the trusted documents, as reloaded.
    pub access: Arc<AccessStore>,
    /// Whole responses reused; `None`: off.
    pub responses: Option<Arc<ResponseCache>>,
    /// Per-client request rates; `None`: unlimited.
    pub rate_limits: Option<Arc<RateLimits>>,
    /// Live queries: the cohorts and their limits.
    pub live: Arc<Hub>,
}

impl AppState {
    /// The state for `schema` and `gateway`, the pipeline set up from
    /// checked settings.
    pub fn new(
        settings: &Settings,
        schema: Schema,
        gateway: Arc<Gateway>,
        metrics: Arc<Metrics>,
        live: Arc<Hub>,
    ) -> AppState {
        let (query, http) = (&settings.query, &settings.http);
        let rate_limits = http.rate_limit.map(|limit| {
            let upstream = gateway.upstream.clone();
            Arc::new(RateLimits::new(limit, upstream))
        });
        AppState {
            schema,
            gateway,
            metrics,
            limits: DocumentLimits {
                max_root_fields: query.max_root_fields,
                max_aliases: query.max_aliases,
                max_nesting: query.max_nesting,
                max_depth: query.max_depth,
                max_complexity: query.max_complexity,
            },
            documents: Arc::default(),
            persisted: PersistedQueries::new(http.apq_cache_bytes),
            request_timeout: http.request_timeout,
            max_body_bytes: http.max_body_bytes,
            compression: http.compression,
            access: Arc::new(AccessStore::new(settings)),
            responses: ResponseCache::new(http.response_cache_bytes).map(Arc::new),
            rate_limits,
            live,
        }
    }
}
