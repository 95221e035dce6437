//! The gateway's metrics, served at `GET /metrics` in the Prometheus
//! (OpenMetrics) text format. Label values are collection names, status
//! codes, error codes and fixed words only: never a token, never a URL.

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Metric, Registry, Unit};

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
pub struct EncodingLabel {
    /// `zstd`, `br` or `gzip`.
    pub encoding: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `ok` or `rejected`.
    pub outcome: &'static str,
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
    /// Response bodies compressed, by coding (a cached response's once).
    pub compressions: Family<EncodingLabel, Counter>,
    /// SIGHUP reloads of the API keys and trusted documents, by outcome.
    pub config_reloads: Family<OutcomeLabel, Counter>,
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
    /// Sync passes by outcome: `ok`, `error`, `follower` (another instance
    /// of the gateway syncs).
    pub replica_syncs: Family<ReasonLabel, Counter>,
    pub replica_answers: Counter,
    pub replica_rollup_answers: Counter,
}

/// The handle of [`Metrics`] that holds a family's values.
type Handle = fn(&Metrics) -> Erased;

/// Every series family, in the order `/metrics` lists them: its name
/// (after the `gateway_` prefix), help text, unit and handle.
const FAMILIES: &[(&str, &str, Option<Unit>, Handle)] = &[
    (
        "upstream_requests",
        "Upstream HTTP requests (each attempt) by collection and status",
        None,
        |m| Erased::of(&m.upstream_requests),
    ),
    (
        "upstream_request_duration",
        "Upstream request latency by collection",
        Some(Unit::Seconds),
        |m| Erased::of(&m.upstream_duration),
    ),
    (
        "upstream_retries",
        "Upstream requests retried after a connect error or a 502/503/504",
        None,
        |m| Erased::of(&m.upstream_retries),
    ),
    (
        "upstream_retries_refused",
        "Retries not sent because the retry budget was spent",
        None,
        |m| Erased::of(&m.upstream_retries_refused),
    ),
    (
        "upstream_retry_window_retries",
        "Retries sent in the current window (the retry budget's spending)",
        None,
        |m| Erased::of(&m.retry_window_retries),
    ),
    (
        "upstream_rejected",
        "Upstream requests not sent: circuit_open or queue_timeout",
        None,
        |m| Erased::of(&m.upstream_rejected),
    ),
    (
        "upstream_shared",
        "Requests that joined an identical upstream request already in flight",
        None,
        |m| Erased::of(&m.upstream_shared),
    ),
    (
        "upstream_active_requests",
        "Upstream requests in flight now",
        None,
        |m| Erased::of(&m.upstream_active),
    ),
    (
        "upstream_circuit_state",
        "Upstream circuit breaker: 0 closed, 1 open, 2 half-open",
        None,
        |m| Erased::of(&m.circuit_state),
    ),
    (
        "upstream_circuit_window_requests",
        "Upstream requests judged by the circuit breaker in the current window",
        None,
        |m| Erased::of(&m.circuit_window_requests),
    ),
    (
        "upstream_circuit_window_failures",
        "Of those, the failed ones",
        None,
        |m| Erased::of(&m.circuit_window_failures),
    ),
    (
        "cache_hits",
        "Answers served fresh from the response cache",
        None,
        |m| Erased::of(&m.cache_hits),
    ),
    (
        "cache_misses",
        "Cache lookups that went upstream (no entry, expired, or no-cache)",
        None,
        |m| Erased::of(&m.cache_misses),
    ),
    (
        "cache_l2_hits",
        "Answers served fresh from the shared cache (Redis) after a local miss",
        None,
        |m| Erased::of(&m.cache_l2_hits),
    ),
    (
        "cache_l2_misses",
        "Shared cache lookups that found no fresh answer (or failed)",
        None,
        |m| Erased::of(&m.cache_l2_misses),
    ),
    (
        "cache_l2_coalesced",
        "Answers another instance fetched while this one waited on its lease",
        None,
        |m| Erased::of(&m.cache_l2_coalesced),
    ),
    (
        "redis_errors",
        "Redis commands that failed or timed out (the request went on without)",
        None,
        |m| Erased::of(&m.redis_errors),
    ),
    (
        "redis_command_duration",
        "Redis command latency",
        Some(Unit::Seconds),
        |m| Erased::of(&m.redis_duration),
    ),
    (
        "cache_stale_served",
        "Expired answers served because the upstream failed (stale-if-error)",
        None,
        |m| Erased::of(&m.cache_stale_served),
    ),
    (
        "cache_evictions",
        "Cache entries removed, by reason: size or expired",
        None,
        |m| Erased::of(&m.cache_evictions),
    ),
    (
        "cache",
        "Weighed size of the response cache",
        Some(Unit::Bytes),
        |m| Erased::of(&m.cache_bytes),
    ),
    (
        "cache_entries",
        "Entries in the response cache",
        None,
        |m| Erased::of(&m.cache_entries),
    ),
    (
        "graphql_requests",
        "GraphQL operations executed",
        None,
        |m| Erased::of(&m.graphql_requests),
    ),
    (
        "graphql_errors",
        "GraphQL errors by extensions.code",
        None,
        |m| Erased::of(&m.graphql_errors),
    ),
    (
        "response_cache_hits",
        "GraphQL responses answered whole from the response cache",
        None,
        |m| Erased::of(&m.response_cache_hits),
    ),
    (
        "response_cache_misses",
        "GraphQL requests executed because no cached response was fresh",
        None,
        |m| Erased::of(&m.response_cache_misses),
    ),
    (
        "not_modified",
        "GraphQL responses answered 304 Not Modified (If-None-Match)",
        None,
        |m| Erased::of(&m.not_modified),
    ),
    (
        "response_compressions",
        "Response bodies compressed, by encoding (a cached response once per encoding)",
        None,
        |m| Erased::of(&m.compressions),
    ),
    (
        "config_reloads",
        "Reloads of the API keys and trusted documents (SIGHUP): ok or rejected",
        None,
        |m| Erased::of(&m.config_reloads),
    ),
    ("live_subscriptions", "Live subscriptions open", None, |m| {
        Erased::of(&m.live_subscriptions)
    }),
    (
        "live_cohorts",
        "Live cohorts: pollers, one per credential, document and variables",
        None,
        |m| Erased::of(&m.live_cohorts),
    ),
    ("live_polls", "Evaluations of live cohorts", None, |m| {
        Erased::of(&m.live_polls)
    }),
    (
        "live_pushes",
        "Results pushed to live subscribers",
        None,
        |m| Erased::of(&m.live_pushes),
    ),
    (
        "live_refused",
        "Live subscriptions refused at the start (limit) or dropped (slow)",
        None,
        |m| Erased::of(&m.live_refused),
    ),
    (
        "replica_rows",
        "Rows in the analytics replica, per collection",
        None,
        |m| Erased::of(&m.replica_rows),
    ),
    (
        "replica_backfill_rows",
        "Rows the replica's backfill has read so far, per collection",
        None,
        |m| Erased::of(&m.replica_backfill_rows),
    ),
    (
        "replica_lag_seconds",
        "Seconds since the start of the replica's last complete sync",
        None,
        |m| Erased::of(&m.replica_lag_seconds),
    ),
    (
        "replica_in_sync",
        "1 while the replica answers aggregates (backfilled and synced lately), else 0",
        None,
        |m| Erased::of(&m.replica_in_sync),
    ),
    (
        "replica_syncs",
        "Replica sync passes by outcome (ok, error, follower)",
        None,
        |m| Erased::of(&m.replica_syncs),
    ),
    (
        "replica_answers",
        "Aggregates answered from the analytics replica",
        None,
        |m| Erased::of(&m.replica_answers),
    ),
    (
        "replica_rollup_answers",
        "Aggregates of those answered from the replica's rollups (cells per quarter hour, hour and day) instead of its rows",
        None,
        |m| Erased::of(&m.replica_rollup_answers),
    ),
];

/// A family's handle as the registry keeps it.
#[derive(Debug)]
struct Erased(Box<dyn Metric>);

impl Erased {
    /// A handle sharing its values with `metric`.
    fn of(metric: &(impl Metric + Clone)) -> Erased {
        Erased(Box::new(metric.clone()))
    }
}

impl EncodeMetric for Erased {
    fn encode(&self, encoder: MetricEncoder) -> std::fmt::Result {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        self.0.metric_type()
    }

    // A family without samples prints nothing, not even its help line.
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
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
            compressions: Family::default(),
            config_reloads: Family::default(),
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
            replica_rollup_answers: Counter::default(),
            registry: Registry::with_prefix("gateway"),
        };
        for (name, help, unit, handle) in FAMILIES {
            let metric = handle(&m);
            match unit {
                Some(unit) => m
                    .registry
                    .register_with_unit(*name, *help, unit.clone(), metric),
                None => m.registry.register(*name, *help, metric),
            }
        }
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
