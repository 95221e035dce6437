//! The configuration checked once into typed settings, grouped by the
//! layer that takes them. Every check names the key it refuses.

use super::error::{invalid, ConfigError};
use super::keys::Config;
use super::live::LiveSettings;
use super::replica::ReplicaSettings;
use super::service::ServiceMode;
use super::shared_cache::SharedCacheSettings;
use super::trusted::TrustedDocuments;
use super::values::{InOperator, LogFormat, Pushdown};
use crate::model::ApiVersion;
use crate::odata::{CapabilityOverrides, Dialect};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// A checked configuration: what the gateway runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub log_format: LogFormat,
    pub upstream: UpstreamSettings,
    pub aggregates: AggregateSettings,
    pub query: QuerySettings,
    pub http: HttpSettings,
    pub live: LiveSettings,
    /// The analytics replica; `None`: none.
    pub replica: Option<ReplicaSettings>,
    /// Service mode; `None`: pass-through.
    pub service: Option<ServiceMode>,
    /// `trusted_documents_file`'s documents; empty when unset.
    pub trusted_documents: TrustedDocuments,
}

/// The upstream client: where, how patiently, how resiliently.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// The service root without a trailing slash; only serving needs it.
    pub url: Option<String>,
    /// `upstream_version` as set, if set.
    pub configured_version: Option<ApiVersion>,
    /// The endpoint version: configured, else read from the upstream path,
    /// else 1.1.
    pub version: ApiVersion,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_url_length: usize,
    pub max_next_links: usize,
    /// Largest `$top` of one upstream request; at least 1. The upstream's
    /// own cap, when lower, is learned.
    pub page_cap: u64,
    pub in_operator: InOperator,
    /// The preset capability set (`upstream_dialect`): the first guess.
    pub dialect: Dialect,
    /// Capabilities set in config, which no probe changes.
    pub capabilities: CapabilityOverrides,
    /// Let probes decide the capabilities not set in config.
    pub probes: bool,
    pub retries: u32,
    pub retry_backoff: Duration,
    pub retry_max_delay: Duration,
    pub max_concurrent: usize,
    pub queue_timeout: Duration,
    pub retry_budget_percent: u32,
    pub retry_budget_min_per_second: u32,
    /// 0: no circuit breaker.
    pub circuit_failure_threshold: u32,
    /// Percent; 0: no rate rule.
    pub circuit_failure_rate: u32,
    pub circuit_min_requests: u32,
    /// The failure rate's and the retry budget's window.
    pub circuit_window: Duration,
    pub circuit_cooldown: Duration,
    pub circuit_half_open_requests: u32,
    pub cache: CacheSettings,
    pub shared_cache: SharedCacheSettings,
}

/// The response cache; `max_bytes` 0 turns it off.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub max_bytes: u64,
    pub ttl_conversation: Duration,
    pub ttl_message: Duration,
    pub ttl_reporting_event: Duration,
    pub ttl_inbox: Duration,
    pub ttl_label: Duration,
    pub ttl_user: Duration,
    pub stale_if_error: Duration,
}

#[derive(Debug, Clone)]
pub struct AggregateSettings {
    pub pushdown: Pushdown,
    pub scan_page_size: u64,
    pub scan_concurrency: usize,
    pub max_groups: u64,
    pub max_pushdown_buckets: u64,
}

/// What one GraphQL operation may ask for.
#[derive(Debug, Clone)]
pub struct QuerySettings {
    pub max_first: u64,
    pub max_relation_rows: u64,
    /// Most rows a read (a list, a count, an aggregate scan) may go
    /// through to evaluate what the upstream cannot.
    pub max_scan_rows: u64,
    pub expose_sign_in_ips: bool,
    pub max_depth: usize,
    pub max_nesting: usize,
    pub max_filter_depth: usize,
    pub max_complexity: usize,
    pub max_root_fields: usize,
    pub max_aliases: usize,
    pub introspection: bool,
}

/// The HTTP surface.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Longest time to read a request's headers.
    pub header_read_timeout: Duration,
    /// Exact origins, or the single `*`; empty: no CORS headers.
    pub cors_allowed_origins: Vec<String>,
    /// 0: no automatic persisted queries.
    pub apq_cache_bytes: u64,
    /// 0: no whole responses reused.
    pub response_cache_bytes: u64,
    /// Compress responses the client accepts compressed.
    pub compression: bool,
    /// Per-client request rate; `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
}

/// A token bucket: `per_second` tokens a second, holding at most `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl UpstreamSettings {
    /// The service root, which serving needs (`print-schema` does not).
    pub fn base_url(&self) -> Result<&str, ConfigError> {
        self.url
            .as_deref()
            .ok_or_else(|| invalid("upstream", "is required (--upstream or UPSTREAM_URL)"))
    }
}

/// A day bounds the duration keys that have no other bound: larger values
/// are typos, and the bound keeps `Instant` arithmetic far from overflow.
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

fn at_most_a_day(key: &'static str, ms: u64) -> Result<Duration, ConfigError> {
    if ms > DAY_MS {
        return Err(invalid(key, format!("{ms} ms is more than a day")));
    }
    Ok(Duration::from_millis(ms))
}

fn above_zero(key: &'static str, ms: u64) -> Result<Duration, ConfigError> {
    if ms == 0 {
        return Err(invalid(key, "must be above 0"));
    }
    Ok(Duration::from_millis(ms))
}

fn at_least_one<T: PartialEq + Default>(key: &'static str, value: T) -> Result<T, ConfigError> {
    if value == T::default() {
        return Err(invalid(key, "must be at least 1"));
    }
    Ok(value)
}

impl Config {
    /// Checks every key, once, into the settings the gateway runs with
    /// (the service token file is read here).
    pub fn validate(&self) -> Result<Settings, ConfigError> {
        Ok(Settings {
            listen: self
                .listen
                .parse()
                .map_err(|e| invalid("listen", format!("`{}`: {e}", self.listen)))?,
            log_format: self.log_format,
            upstream: self.upstream_settings()?,
            aggregates: self.aggregate_settings()?,
            query: self.query_settings()?,
            http: self.http_settings()?,
            live: self.live_settings()?,
            replica: self.replica_settings()?,
            service: self.service_mode()?,
            trusted_documents: self.trusted_documents()?,
        })
    }

    fn upstream_settings(&self) -> Result<UpstreamSettings, ConfigError> {
        let url = match &self.upstream {
            Some(u) => Some(check_upstream(u)?),
            None => None,
        };
        let (configured_version, version) = self.upstream_version()?;
        self.check_upstream_limits()?;
        Ok(UpstreamSettings {
            url,
            configured_version,
            version,
            timeout: above_zero("upstream_timeout_ms", self.upstream_timeout_ms)?,
            connect_timeout: above_zero("connect_timeout_ms", self.connect_timeout_ms)?,
            max_url_length: self.max_url_length,
            max_next_links: self.max_next_links,
            page_cap: at_least_one("upstream_page_cap", self.upstream_page_cap)?,
            in_operator: self.in_operator,
            dialect: self.upstream_dialect.preset(),
            capabilities: self.upstream_capabilities.clone(),
            probes: self.upstream_probes,
            retries: self.upstream_retries,
            retry_backoff: at_most_a_day("retry_backoff_ms", self.retry_backoff_ms)?,
            retry_max_delay: at_most_a_day("retry_max_delay_ms", self.retry_max_delay_ms)?,
            max_concurrent: self.max_concurrent_upstream,
            queue_timeout: at_most_a_day(
                "upstream_queue_timeout_ms",
                self.upstream_queue_timeout_ms,
            )?,
            retry_budget_percent: self.retry_budget_percent,
            retry_budget_min_per_second: self.retry_budget_min_per_second,
            circuit_failure_threshold: self.circuit_failure_threshold,
            circuit_failure_rate: self.circuit_failure_rate,
            circuit_min_requests: self.circuit_min_requests,
            circuit_window: at_most_a_day("circuit_window_ms", self.circuit_window_ms)
                .and_then(|_| above_zero("circuit_window_ms", self.circuit_window_ms))?,
            circuit_cooldown: at_most_a_day("circuit_cooldown_ms", self.circuit_cooldown_ms)?,
            circuit_half_open_requests: self.circuit_half_open_requests,
            cache: self.cache_settings()?,
            shared_cache: self.shared_cache_settings()?,
        })
    }

    /// `upstream_version` as set, and the version in force: set, else read
    /// from the upstream's path, else 1.1.
    fn upstream_version(&self) -> Result<(Option<ApiVersion>, ApiVersion), ConfigError> {
        let configured =
            match &self.upstream_version {
                Some(v) => Some(ApiVersion::parse(v).ok_or_else(|| {
                    invalid("upstream_version", format!("`{v}` is not 1.0 or 1.1"))
                })?),
                None => None,
            };
        let version = configured
            .or_else(|| {
                let url = url::Url::parse(self.upstream.as_deref()?).ok()?;
                ApiVersion::from_url_path(url.path())
            })
            .unwrap_or(ApiVersion::V1_1);
        Ok((configured, version))
    }

    /// The upstream client's bounds, checked in order; the first one broken
    /// is named.
    fn check_upstream_limits(&self) -> Result<(), ConfigError> {
        let checks = [
            (
                "max_url_length",
                self.max_url_length >= 256,
                "must be at least 256 bytes",
            ),
            (
                "upstream_retries",
                self.upstream_retries <= 10,
                "must be at most 10",
            ),
            (
                "retry_backoff_ms",
                self.retry_backoff_ms <= self.retry_max_delay_ms,
                "must not exceed retry_max_delay_ms",
            ),
            (
                "max_concurrent_upstream",
                (1..=10_000).contains(&self.max_concurrent_upstream),
                "must be between 1 and 10000",
            ),
            (
                "upstream_queue_timeout_ms",
                self.upstream_queue_timeout_ms > 0,
                "must be above 0",
            ),
            (
                "circuit_cooldown_ms",
                self.circuit_failure_threshold == 0 || self.circuit_cooldown_ms > 0,
                "must be above 0 while the circuit breaker is on",
            ),
            (
                "circuit_failure_rate",
                self.circuit_failure_rate <= 100,
                "must be at most 100 (percent)",
            ),
            (
                "circuit_half_open_requests",
                self.circuit_half_open_requests > 0,
                "must be above 0",
            ),
            (
                "retry_budget_percent",
                self.retry_budget_percent <= 1_000,
                "must be at most 1000",
            ),
        ];
        match checks.into_iter().find(|(_, ok, _)| !ok) {
            Some((key, _, why)) => Err(invalid(key, why)),
            None => Ok(()),
        }
    }

    fn cache_settings(&self) -> Result<CacheSettings, ConfigError> {
        let ttl = |key, ms| at_most_a_day(key, ms);
        Ok(CacheSettings {
            max_bytes: self.cache_max_bytes,
            ttl_conversation: ttl("cache_ttl_conversation_ms", self.cache_ttl_conversation_ms)?,
            ttl_message: ttl("cache_ttl_message_ms", self.cache_ttl_message_ms)?,
            ttl_reporting_event: ttl(
                "cache_ttl_reporting_event_ms",
                self.cache_ttl_reporting_event_ms,
            )?,
            ttl_inbox: ttl("cache_ttl_inbox_ms", self.cache_ttl_inbox_ms)?,
            ttl_label: ttl("cache_ttl_label_ms", self.cache_ttl_label_ms)?,
            ttl_user: ttl("cache_ttl_user_ms", self.cache_ttl_user_ms)?,
            stale_if_error: ttl("stale_if_error_ms", self.stale_if_error_ms)?,
        })
    }

    fn aggregate_settings(&self) -> Result<AggregateSettings, ConfigError> {
        Ok(AggregateSettings {
            pushdown: self.aggregate_pushdown,
            scan_page_size: at_least_one("scan_page_size", self.scan_page_size)?,
            scan_concurrency: at_least_one("scan_concurrency", self.scan_concurrency)?,
            max_groups: at_least_one("max_groups", self.max_groups)?,
            max_pushdown_buckets: self.max_pushdown_buckets,
        })
    }

    fn query_settings(&self) -> Result<QuerySettings, ConfigError> {
        Ok(QuerySettings {
            max_first: at_least_one("max_first", self.max_first)?,
            max_relation_rows: at_least_one("max_relation_rows", self.max_relation_rows)?,
            max_scan_rows: self.max_scan_rows,
            expose_sign_in_ips: self.expose_sign_in_ips,
            max_depth: at_least_one("max_depth", self.max_depth)?,
            max_nesting: at_least_one("max_nesting", self.max_nesting)?,
            max_filter_depth: at_least_one("max_filter_depth", self.max_filter_depth)?,
            max_complexity: at_least_one("max_complexity", self.max_complexity)?,
            max_root_fields: at_least_one("max_root_fields", self.max_root_fields)?,
            max_aliases: self.max_aliases,
            introspection: self.introspection,
        })
    }

    fn http_settings(&self) -> Result<HttpSettings, ConfigError> {
        if self.max_body_bytes < 1024 {
            return Err(invalid("max_body_bytes", "must be at least 1024"));
        }
        if self.request_timeout_ms == 0 || self.request_timeout_ms > DAY_MS {
            return Err(invalid(
                "request_timeout_ms",
                "must be above 0 and at most a day",
            ));
        }
        if self.header_read_timeout_ms == 0 {
            return Err(invalid("header_read_timeout_ms", "must be above 0"));
        }
        check_origins(&self.cors_allowed_origins)?;
        Ok(HttpSettings {
            max_body_bytes: self.max_body_bytes,
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            header_read_timeout: at_most_a_day(
                "header_read_timeout_ms",
                self.header_read_timeout_ms,
            )?,
            cors_allowed_origins: self.cors_allowed_origins.clone(),
            apq_cache_bytes: self.apq_cache_bytes,
            response_cache_bytes: self.response_cache_bytes,
            compression: self.compression,
            rate_limit: self.rate_limit(),
        })
    }

    /// Off when `rate_limit_per_second` is 0; the burst defaults to one
    /// second's worth.
    fn rate_limit(&self) -> Option<RateLimit> {
        let per_second = NonZeroU32::new(self.rate_limit_per_second)?;
        let burst = NonZeroU32::new(self.rate_limit_burst).unwrap_or(per_second);
        Some(RateLimit { per_second, burst })
    }
}

/// An http(s) service root without a query string, trailing slash cut.
fn check_upstream(u: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(u).map_err(|e| invalid("upstream", format!("`{u}`: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("upstream", "must be an http or https URL"));
    }
    if url.query().is_some() {
        return Err(invalid(
            "upstream",
            "must not carry a query string (credentials come from clients)",
        ));
    }
    Ok(u.trim_end_matches('/').to_string())
}

/// Exact origins (scheme, host, optional port), or `*` alone.
fn check_origins(origins: &[String]) -> Result<(), ConfigError> {
    for origin in origins {
        if origin == "*" {
            if origins.len() > 1 {
                return Err(invalid(
                    "cors_allowed_origins",
                    "`*` cannot be combined with other origins",
                ));
            }
            continue;
        }
        let parsed = url::Url::parse(origin)
            .map_err(|e| invalid("cors_allowed_origins", format!("`{origin}`: {e}")))?;
        let bare = parsed.origin().ascii_serialization();
        if !matches!(parsed.scheme(), "http" | "https") || bare != *origin {
            return Err(invalid(
                "cors_allowed_origins",
                format!("`{origin}` is not an origin like https://dash.example.com (scheme, host, optional port, no path or slash)"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load, Overrides};

    #[test]
    fn upstream_layer_keys_are_checked_by_name() {
        let bad = [
            (
                Overrides {
                    max_concurrent_upstream: Some(0),
                    ..Default::default()
                },
                "max_concurrent_upstream",
            ),
            (
                Overrides {
                    retry_backoff_ms: Some(5_000),
                    ..Default::default()
                },
                "retry_backoff_ms",
            ),
            (
                Overrides {
                    upstream_retries: Some(11),
                    ..Default::default()
                },
                "upstream_retries",
            ),
            (
                Overrides {
                    circuit_cooldown_ms: Some(0),
                    ..Default::default()
                },
                "circuit_cooldown_ms",
            ),
            (
                Overrides {
                    circuit_failure_rate: Some(101),
                    ..Default::default()
                },
                "circuit_failure_rate",
            ),
            (
                Overrides {
                    circuit_half_open_requests: Some(0),
                    ..Default::default()
                },
                "circuit_half_open_requests",
            ),
            (
                Overrides {
                    circuit_window_ms: Some(0),
                    ..Default::default()
                },
                "circuit_window_ms",
            ),
            (
                Overrides {
                    cache_ttl_user_ms: Some(90_000_000),
                    ..Default::default()
                },
                "cache_ttl_user_ms",
            ),
            (
                Overrides {
                    connect_timeout_ms: Some(0),
                    ..Default::default()
                },
                "connect_timeout_ms",
            ),
            (
                Overrides {
                    upstream_page_cap: Some(0),
                    ..Default::default()
                },
                "upstream_page_cap",
            ),
        ];
        for (o, key) in bad {
            let err = load(None, &o).expect_err(key);
            assert!(err.to_string().contains(key), "{err}");
        }
        let off = Overrides {
            cache_max_bytes: Some(0),
            circuit_failure_threshold: Some(0),
            circuit_cooldown_ms: Some(0),
            stale_if_error_ms: Some(0),
            ..Default::default()
        };
        assert!(load(None, &off).is_ok(), "0 turns these off");
    }

    #[test]
    fn limits_and_origins_are_checked_by_name() {
        let bad = [
            (
                Config {
                    max_relation_rows: 0,
                    ..Config::default()
                },
                "max_relation_rows",
            ),
            (
                Config {
                    scan_concurrency: 0,
                    ..Config::default()
                },
                "scan_concurrency",
            ),
            (
                Config {
                    max_body_bytes: 1000,
                    ..Config::default()
                },
                "max_body_bytes",
            ),
            (
                Config {
                    cors_allowed_origins: vec!["https://a.example/".into()],
                    ..Config::default()
                },
                "cors_allowed_origins",
            ),
            (
                Config {
                    cors_allowed_origins: vec!["*".into(), "https://a.example".into()],
                    ..Config::default()
                },
                "cors_allowed_origins",
            ),
            (
                Config {
                    listen: "localhost".into(),
                    ..Config::default()
                },
                "listen",
            ),
            (
                Config {
                    upstream: Some("ftp://h/v1.1/odata".into()),
                    ..Config::default()
                },
                "upstream",
            ),
            (
                Config {
                    upstream_version: Some("2.0".into()),
                    ..Config::default()
                },
                "upstream_version",
            ),
        ];
        for (config, key) in bad {
            let err = config.validate().expect_err(key);
            assert!(err.to_string().contains(key), "{err}");
        }
    }

    #[test]
    fn version_comes_from_the_upstream_path_unless_set() {
        let mut c = Config {
            upstream: Some("http://h/v1.0/odata/".into()),
            ..Default::default()
        };
        let upstream = c.validate().expect("valid").upstream;
        assert_eq!(upstream.version, ApiVersion::V1_0);
        assert_eq!(upstream.configured_version, None);
        assert_eq!(upstream.base_url().ok(), Some("http://h/v1.0/odata"));
        c.upstream_version = Some("1.1".into());
        let upstream = c.validate().expect("valid").upstream;
        assert_eq!(upstream.version, ApiVersion::V1_1);
        assert_eq!(upstream.configured_version, Some(ApiVersion::V1_1));
        let unset = Config::default().validate().expect("valid").upstream;
        let err = unset.base_url().expect_err("no upstream");
        assert!(err.to_string().contains("upstream"), "{err}");
    }
}
