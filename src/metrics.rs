//! The gateway's metrics, served at `GET /metrics` in the Prometheus
//! (OpenMetrics) text format. Label values are collection names, status
//! codes, error codes and fixed words only: never a token, never a URL.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

/// The media type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CollectionLabel {
    /// An entity set (`Conversation`, ...) or `$metadata`.
    pub collection: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub collection: &'static str,
    /// The HTTP status, or `timeout`, `connect_error`, `error` when none came.
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

type HistogramFamily = Family<CollectionLabel, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 5 ms .. ~41 s: local test upstreams up to the slowest Live Agent queries.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// Every metric of one gateway instance. Handles are cheap to clone and
/// share their values with the registry.
pub struct Metrics {
    registry: Registry,
    pub upstream_requests: Family<RequestLabels, Counter>,
    pub upstream_duration: HistogramFamily,
    pub upstream_retries: Family<CollectionLabel, Counter>,
    pub upstream_retries_refused: Family<CollectionLabel, Counter>,
    pub retry_window_retries: Gauge,
    pub upstream_rejected: Family<ReasonLabel, Counter>,
    pub upstream_shared: Family<CollectionLabel, Counter>,
    pub upstream_active: Gauge,
    pub circuit_state: Gauge,
    pub circuit_window_requests: Gauge,
    pub circuit_window_failures: Gauge,
    pub cache_hits: Family<CollectionLabel, Counter>,
    pub cache_misses: Family<CollectionLabel, Counter>,
    pub cache_stale_served: Family<CollectionLabel, Counter>,
    pub cache_evictions: Family<ReasonLabel, Counter>,
    pub cache_bytes: Gauge,
    pub cache_entries: Gauge,
    pub cache_l2_hits: Family<CollectionLabel, Counter>,
    pub cache_l2_misses: Family<CollectionLabel, Counter>,
    pub cache_l2_coalesced: Counter,
    pub redis_errors: Counter,
    pub redis_duration: Histogram,
    pub graphql_requests: Counter,
    pub graphql_errors: Family<CodeLabel, Counter>,
    pub response_cache_hits: Counter,
    pub response_cache_misses: Counter,
    pub not_modified: Counter,
    pub live_subscriptions: Gauge,
    pub live_cohorts: Gauge,
    pub live_polls: Counter,
    pub live_pushes: Counter,
    /// Subscriptions ended by the gateway: `slow` (a full queue), `limit`
    /// (refused at the start).
    pub live_refused: Family<ReasonLabel, Counter>,
    pub replica_rows: Family<CollectionLabel, Gauge>,
    pub replica_backfill_rows: Family<CollectionLabel, Gauge>,
    pub replica_lag_seconds: Gauge,
    pub replica_in_sync: Gauge,
    /// Sync passes by outcome: `ok`, `error`, `follower` (another replica
    /// of the gateway syncs).
    pub replica_syncs: Family<ReasonLabel, Counter>,
    pub replica_answers: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            upstream_requests: Family::default(),
            upstream_duration: Family::new_with_constructor(latency_histogram),
            upstream_retries: Family::default(),
            upstream_retries_refused: Family::default(),
            retry_window_retries: Gauge::default(),
            upstream_rejected: Family::default(),
            upstream_shared: Family::default(),
            upstream_active: Gauge::default(),
            circuit_state: Gauge::default(),
            circuit_window_requests: Gauge::default(),
            circuit_window_failures: Gauge::default(),
            cache_hits: Family::default(),
            cache_misses: Family::default(),
            cache_stale_served: Family::default(),
            cache_evictions: Family::default(),
            cache_bytes: Gauge::default(),
            cache_entries: Gauge::default(),
            cache_l2_hits: Family::default(),
            cache_l2_misses: Family::default(),
            cache_l2_coalesced: Counter::default(),
            redis_errors: Counter::default(),
            // 0.25 ms .. ~0.5 s: a cache command on the same network.
            redis_duration: Histogram::new(exponential_buckets(0.000_25, 2.0, 12)),
            graphql_requests: Counter::default(),
            graphql_errors: Family::default(),
            response_cache_hits: Counter::default(),
            response_cache_misses: Counter::default(),
            not_modified: Counter::default(),
            live_subscriptions: Gauge::default(),
            live_cohorts: Gauge::default(),
            live_polls: Counter::default(),
            live_pushes: Counter::default(),
            live_refused: Family::default(),
            replica_rows: Family::default(),
            replica_backfill_rows: Family::default(),
            replica_lag_seconds: Gauge::default(),
            replica_in_sync: Gauge::default(),
            replica_syncs: Family::default(),
            replica_answers: Counter::default(),
            registry: Registry::with_prefix("gateway"),
        };
        let r = &mut m.registry;
        r.register(
            "upstream_requests",
            "Upstream HTTP requests (each attempt) by collection and status",
            m.upstream_requests.clone(),
        );
        r.register_with_unit(
            "upstream_request_duration",
            "Upstream request latency by collection",
            Unit::Seconds,
            m.upstream_duration.clone(),
        );
        r.register(
            "upstream_retries",
            "Upstream requests retried after a connect error or a 502/503/504",
            m.upstream_retries.clone(),
        );
        r.register(
            "upstream_retries_refused",
            "Retries not sent because the retry budget was spent",
            m.upstream_retries_refused.clone(),
        );
        r.register(
            "upstream_retry_window_retries",
            "Retries sent in the current window (the retry budget's spending)",
            m.retry_window_retries.clone(),
        );
        r.register(
            "upstream_rejected",
            "Upstream requests not sent: circuit_open or queue_timeout",
            m.upstream_rejected.clone(),
        );
        r.register(
            "upstream_shared",
            "Requests that joined an identical upstream request already in flight",
            m.upstream_shared.clone(),
        );
        r.register(
            "upstream_active_requests",
            "Upstream requests in flight now",
            m.upstream_active.clone(),
        );
        r.register(
            "upstream_circuit_state",
            "Upstream circuit breaker: 0 closed, 1 open, 2 half-open",
            m.circuit_state.clone(),
        );
        r.register(
            "upstream_circuit_window_requests",
            "Upstream requests judged by the circuit breaker in the current window",
            m.circuit_window_requests.clone(),
        );
        r.register(
            "upstream_circuit_window_failures",
            "Of those, the failed ones",
            m.circuit_window_failures.clone(),
        );
        r.register(
            "cache_hits",
            "Answers served fresh from the response cache",
            m.cache_hits.clone(),
        );
        r.register(
            "cache_misses",
            "Cache lookups that went upstream (no entry, expired, or no-cache)",
            m.cache_misses.clone(),
        );
        r.register(
            "cache_l2_hits",
            "Answers served fresh from the shared cache (Redis) after a local miss",
            m.cache_l2_hits.clone(),
        );
        r.register(
            "cache_l2_misses",
            "Shared cache lookups that found no fresh answer (or failed)",
            m.cache_l2_misses.clone(),
        );
        r.register(
            "cache_l2_coalesced",
            "Answers another replica fetched while this one waited on its lease",
            m.cache_l2_coalesced.clone(),
        );
        r.register(
            "redis_errors",
            "Redis commands that failed or timed out (the request went on without)",
            m.redis_errors.clone(),
        );
        r.register_with_unit(
            "redis_command_duration",
            "Redis command latency",
            Unit::Seconds,
            m.redis_duration.clone(),
        );
        r.register(
            "cache_stale_served",
            "Expired answers served because the upstream failed (stale-if-error)",
            m.cache_stale_served.clone(),
        );
        r.register(
            "cache_evictions",
            "Cache entries removed, by reason: size or expired",
            m.cache_evictions.clone(),
        );
        r.register_with_unit(
            "cache",
            "Weighed size of the response cache",
            Unit::Bytes,
            m.cache_bytes.clone(),
        );
        r.register(
            "cache_entries",
            "Entries in the response cache",
            m.cache_entries.clone(),
        );
        r.register(
            "graphql_requests",
            "GraphQL operations executed",
            m.graphql_requests.clone(),
        );
        r.register(
            "graphql_errors",
            "GraphQL errors by extensions.code",
            m.graphql_errors.clone(),
        );
        r.register(
            "response_cache_hits",
            "GraphQL responses answered whole from the response cache",
            m.response_cache_hits.clone(),
        );
        r.register(
            "response_cache_misses",
            "GraphQL requests executed because no cached response was fresh",
            m.response_cache_misses.clone(),
        );
        r.register(
            "not_modified",
            "GraphQL responses answered 304 Not Modified (If-None-Match)",
            m.not_modified.clone(),
        );
        r.register(
            "live_subscriptions",
            "Live subscriptions open",
            m.live_subscriptions.clone(),
        );
        r.register(
            "live_cohorts",
            "Live cohorts: pollers, one per credential, document and variables",
            m.live_cohorts.clone(),
        );
        r.register(
            "live_polls",
            "Evaluations of live cohorts",
            m.live_polls.clone(),
        );
        r.register(
            "live_pushes",
            "Results pushed to live subscribers",
            m.live_pushes.clone(),
        );
        r.register(
            "live_refused",
            "Live subscriptions refused at the start (limit) or dropped (slow)",
            m.live_refused.clone(),
        );
        r.register(
            "replica_rows",
            "Rows in the analytics replica, per collection",
            m.replica_rows.clone(),
        );
        r.register(
            "replica_backfill_rows",
            "Rows the replica's backfill has read so far, per collection",
            m.replica_backfill_rows.clone(),
        );
        r.register(
            "replica_lag_seconds",
            "Seconds since the start of the replica's last complete sync",
            m.replica_lag_seconds.clone(),
        );
        r.register(
            "replica_in_sync",
            "1 while the replica answers aggregates (backfilled and synced lately), else 0",
            m.replica_in_sync.clone(),
        );
        r.register(
            "replica_syncs",
            "Replica sync passes by outcome (ok, error, follower)",
            m.replica_syncs.clone(),
        );
        r.register(
            "replica_answers",
            "Aggregates answered from the analytics replica",
            m.replica_answers.clone(),
        );
        m
    }

    /// Counts one executed GraphQL operation and its errors' codes.
    pub fn graphql_response<'a>(&self, codes: impl IntoIterator<Item = &'a str>) {
        self.graphql_requests.inc();
        for code in codes {
            self.graphql_errors
                .get_or_create(&CodeLabel {
                    code: code_label(code),
                })
                .inc();
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Codes are our own upper-case words; anything else is folded into `OTHER`
/// so that no unexpected text can become a label value.
fn code_label(code: &str) -> String {
    let fits = !code.is_empty()
        && code.len() <= 40
        && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
    if fits { code } else { "OTHER" }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_documented_names() {
        let m = Metrics::new();
        m.upstream_requests
            .get_or_create(&RequestLabels {
                collection: "Inbox",
                status: "200".into(),
            })
            .inc();
        m.upstream_duration
            .get_or_create(&CollectionLabel {
                collection: "Inbox",
            })
            .observe(0.02);
        m.graphql_response(["UPSTREAM_TIMEOUT", "Bearer abc"]);
        let text = m.render();
        for name in [
            "gateway_upstream_requests_total{collection=\"Inbox\",status=\"200\"} 1",
            "gateway_upstream_request_duration_seconds_bucket{",
            "gateway_upstream_circuit_state 0",
            "gateway_cache_bytes 0",
            "gateway_graphql_requests_total 1",
            "gateway_graphql_errors_total{code=\"UPSTREAM_TIMEOUT\"} 1",
            "gateway_graphql_errors_total{code=\"OTHER\"} 1",
        ] {
            assert!(text.contains(name), "{name} missing in:\n{text}");
        }
        assert!(!text.contains("abc"));
    }
}
