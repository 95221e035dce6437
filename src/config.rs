//! One configuration tree: defaults < TOML file < environment < flags.
//! A typo in the file is an error that names the key.

use crate::model::ApiVersion;
use crate::odata::InStyle;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::Path;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Service root of the upstream, with its version path, e.g.
    /// `https://odata.example.com/v1.1/odata`.
    pub upstream: Option<String>,
    /// `1.0` or `1.1`; read from the upstream path when unset.
    pub upstream_version: Option<String>,
    /// Address the gateway listens on.
    pub listen: String,
    /// Largest `first` a client may ask for.
    pub max_first: u64,
    /// Total time one upstream request may take, in milliseconds.
    pub upstream_timeout_ms: u64,
    /// Time to open a connection to the upstream, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Longest upstream URL the gateway sends, in bytes.
    pub max_url_length: usize,
    /// Set membership in `$filter`: `or` (chains), `in` (OData 4.01), or
    /// `auto` (`in` when `$metadata` declares version 4.01).
    pub in_operator: String,
    /// Most `@odata.nextLink` pages followed for one request.
    pub max_next_links: usize,
    /// Show the User sign-in IP address fields.
    pub expose_sign_in_ips: bool,
    /// Most rows one relation may read for all its parents together; past
    /// it the field fails with QUERY_TOO_COMPLEX rather than cut data.
    pub max_relation_rows: u64,
    /// Response cache capacity in bytes of upstream bodies; 0 turns the
    /// cache off (identical concurrent requests are still sent once).
    pub cache_max_bytes: u64,
    /// How long a cached Conversation answer is fresh, in milliseconds.
    pub cache_ttl_conversation_ms: u64,
    /// How long a cached Message answer is fresh, in milliseconds.
    pub cache_ttl_message_ms: u64,
    /// How long a cached ReportingEvent answer is fresh, in milliseconds.
    pub cache_ttl_reporting_event_ms: u64,
    /// How long a cached Inbox answer is fresh, in milliseconds.
    pub cache_ttl_inbox_ms: u64,
    /// How long a cached Label answer is fresh, in milliseconds.
    pub cache_ttl_label_ms: u64,
    /// How long a cached User answer is fresh, in milliseconds.
    pub cache_ttl_user_ms: u64,
    /// How long after expiry a cached answer may still be served, marked
    /// stale, when the upstream fails; 0 never serves stale answers.
    pub stale_if_error_ms: u64,
    /// Retries of an upstream request after a connect error or a 502, 503
    /// or 504 answer.
    pub upstream_retries: u32,
    /// First retry delay in milliseconds; doubles with each retry, with jitter.
    pub retry_backoff_ms: u64,
    /// Longest retry delay in milliseconds, `Retry-After` included.
    pub retry_max_delay_ms: u64,
    /// Most upstream requests in flight at once; more wait in a queue.
    pub max_concurrent_upstream: usize,
    /// Longest wait in that queue, in milliseconds.
    pub upstream_queue_timeout_ms: u64,
    /// Consecutive upstream failures (5xx, timeouts, connect errors) that
    /// open the circuit; 0 turns the circuit breaker off.
    pub circuit_failure_threshold: u32,
    /// How long an open circuit refuses requests before one probe, in
    /// milliseconds.
    pub circuit_cooldown_ms: u64,
    /// Aggregates computed by the upstream with `$apply`: `auto` (probe the
    /// upstream once), `on`, or `off` (always scan).
    pub aggregate_pushdown: String,
    /// Most rows an aggregate scan may read; past it SCAN_LIMIT_EXCEEDED.
    pub max_scan_rows: u64,
    /// Rows per upstream request of an aggregate scan.
    pub scan_page_size: u64,
    /// Scan pages (or pushed-down buckets) requested at once.
    pub scan_concurrency: usize,
    /// Most groups one aggregate may have; past it QUERY_TOO_COMPLEX.
    pub max_groups: u64,
    /// Most time buckets pushed down (one `$apply` each); more are scanned.
    pub max_pushdown_buckets: u64,
    /// Deepest field nesting of an operation; deeper → QUERY_TOO_COMPLEX.
    pub max_depth: usize,
    /// Largest complexity of an operation (each field counts 1, plus its
    /// children); above it → QUERY_TOO_COMPLEX.
    pub max_complexity: usize,
    /// Most root fields (aliases included) of the operation that runs.
    pub max_root_fields: usize,
    /// Most aliased fields in a document.
    pub max_aliases: usize,
    /// Largest POST body in bytes; larger → HTTP 413.
    pub max_body_bytes: usize,
    /// Longest time one GraphQL request may run, in milliseconds.
    pub request_timeout_ms: u64,
    /// Answer introspection queries (`__schema`, `__type`).
    pub introspection: bool,
    /// Browser origins allowed by CORS: exact origins, or `*`; empty sends
    /// no CORS headers.
    pub cors_allowed_origins: Vec<String>,
    /// Memory for automatic persisted queries, in bytes of query text; 0
    /// turns them off.
    pub apq_cache_bytes: u64,
    /// Service mode: the gateway's own upstream token, sent as Bearer for
    /// every client that shows one of `api_keys`.
    pub service_upstream_token: Option<Secret>,
    /// Service mode: a file holding the upstream token (e.g. a mounted
    /// secret); instead of `service_upstream_token`.
    pub service_upstream_token_file: Option<String>,
    /// Service mode: the client API keys, by SHA-256 hash.
    pub api_keys: Vec<ApiKeyConfig>,
    /// Log lines as `text` (human-readable) or `json` (one object a line).
    pub log_format: String,
}

/// One client API key of service mode.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// A name for logs and error messages.
    pub name: String,
    /// Hex SHA-256 of the key (`liveagent-graphql hash-key <key>`).
    pub sha256: String,
    /// Collections the key may read (`Conversation`, ...); all when unset.
    #[serde(default)]
    pub collections: Option<Vec<String>>,
}

/// A secret config value: serialized as is, never shown by `Debug`.
#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Service mode, checked: the upstream token and the decoded key hashes.
#[derive(Debug)]
pub struct ServiceMode {
    pub upstream_token: String,
    pub keys: Vec<ServiceKey>,
}

#[derive(Debug)]
pub struct ServiceKey {
    pub name: String,
    pub sha256: [u8; 32],
    pub collections: Option<Vec<String>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            upstream: None,
            upstream_version: None,
            listen: "127.0.0.1:8080".into(),
            max_first: 1000,
            upstream_timeout_ms: 30_000,
            connect_timeout_ms: 5_000,
            max_url_length: 6 * 1024,
            in_operator: "auto".into(),
            max_next_links: 100,
            expose_sign_in_ips: false,
            max_relation_rows: 10_000,
            cache_max_bytes: 64 * 1024 * 1024,
            cache_ttl_conversation_ms: 30_000,
            cache_ttl_message_ms: 30_000,
            cache_ttl_reporting_event_ms: 30_000,
            cache_ttl_inbox_ms: 300_000,
            cache_ttl_label_ms: 300_000,
            cache_ttl_user_ms: 300_000,
            stale_if_error_ms: 300_000,
            upstream_retries: 2,
            retry_backoff_ms: 100,
            retry_max_delay_ms: 2_000,
            max_concurrent_upstream: 32,
            upstream_queue_timeout_ms: 5_000,
            circuit_failure_threshold: 5,
            circuit_cooldown_ms: 10_000,
            aggregate_pushdown: "auto".into(),
            max_scan_rows: 1_000_000,
            scan_page_size: 5_000,
            scan_concurrency: 4,
            max_groups: 10_000,
            max_pushdown_buckets: 400,
            max_depth: 15,
            max_complexity: 5_000,
            max_root_fields: 20,
            max_aliases: 30,
            max_body_bytes: 1024 * 1024,
            request_timeout_ms: 60_000,
            introspection: true,
            cors_allowed_origins: Vec::new(),
            apq_cache_bytes: 8 * 1024 * 1024,
            service_upstream_token: None,
            service_upstream_token_file: None,
            api_keys: Vec::new(),
            log_format: "text".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("invalid config key `{key}`: {reason}")]
    Key { key: &'static str, reason: String },
    #[error("cannot start: {0}")]
    System(String),
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key,
        reason: reason.into(),
    }
}

/// Values from flags or environment; `None` leaves the file's value.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// Upstream service root, e.g. https://odata.example.com/v1.1/odata
    #[arg(long, global = true, env = "UPSTREAM_URL")]
    pub upstream: Option<String>,
    /// Upstream endpoint version (1.0 or 1.1); default: read from the URL path
    #[arg(long, global = true, env = "UPSTREAM_VERSION")]
    pub upstream_version: Option<String>,
    /// Listen address
    #[arg(long, global = true, env = "LISTEN_ADDR")]
    pub listen: Option<String>,
    /// Largest `first` a client may ask for
    #[arg(long, global = true, env = "MAX_FIRST")]
    pub max_first: Option<u64>,
    /// Upstream request timeout in milliseconds
    #[arg(long, global = true, env = "UPSTREAM_TIMEOUT_MS")]
    pub upstream_timeout_ms: Option<u64>,
    /// Upstream connect timeout in milliseconds
    #[arg(long, global = true, env = "CONNECT_TIMEOUT_MS")]
    pub connect_timeout_ms: Option<u64>,
    /// Longest upstream URL in bytes
    #[arg(long, global = true, env = "MAX_URL_LENGTH")]
    pub max_url_length: Option<usize>,
    /// Set membership in $filter: auto, or, in
    #[arg(long, global = true, env = "IN_OPERATOR")]
    pub in_operator: Option<String>,
    /// Most @odata.nextLink pages followed per request
    #[arg(long, global = true, env = "MAX_NEXT_LINKS")]
    pub max_next_links: Option<usize>,
    /// Show the User sign-in IP address fields
    #[arg(long, global = true, env = "EXPOSE_SIGN_IN_IPS")]
    pub expose_sign_in_ips: Option<bool>,
    /// Most rows one relation may read for all its parents together
    #[arg(long, global = true, env = "MAX_RELATION_ROWS")]
    pub max_relation_rows: Option<u64>,
    /// Response cache capacity in bytes (0: no cache)
    #[arg(long, global = true, env = "CACHE_MAX_BYTES")]
    pub cache_max_bytes: Option<u64>,
    /// Freshness of cached Conversation answers in milliseconds
    #[arg(long, global = true, env = "CACHE_TTL_CONVERSATION_MS")]
    pub cache_ttl_conversation_ms: Option<u64>,
    /// Freshness of cached Message answers in milliseconds
    #[arg(long, global = true, env = "CACHE_TTL_MESSAGE_MS")]
    pub cache_ttl_message_ms: Option<u64>,
    /// Freshness of cached ReportingEvent answers in milliseconds
    #[arg(long, global = true, env = "CACHE_TTL_REPORTING_EVENT_MS")]
    pub cache_ttl_reporting_event_ms: Option<u64>,
    /// Freshness of cached Inbox answers in milliseconds
    #[arg(long, global = true, env = "CACHE_TTL_INBOX_MS")]
    pub cache_ttl_inbox_ms: Option<u64>,
    /// Freshness of cached Label answers in milliseconds
    #[arg(long, global = true, env = "CACHE_TTL_LABEL_MS")]
    pub cache_ttl_label_ms: Option<u64>,
    /// Freshness of cached User answers in milliseconds
    #[arg(long, global = true, env = "CACHE_TTL_USER_MS")]
    pub cache_ttl_user_ms: Option<u64>,
    /// How long after expiry a cached answer may be served when the upstream fails, in milliseconds
    #[arg(long, global = true, env = "STALE_IF_ERROR_MS")]
    pub stale_if_error_ms: Option<u64>,
    /// Retries after a connect error or an upstream 502/503/504
    #[arg(long, global = true, env = "UPSTREAM_RETRIES")]
    pub upstream_retries: Option<u32>,
    /// First retry delay in milliseconds
    #[arg(long, global = true, env = "RETRY_BACKOFF_MS")]
    pub retry_backoff_ms: Option<u64>,
    /// Longest retry delay in milliseconds
    #[arg(long, global = true, env = "RETRY_MAX_DELAY_MS")]
    pub retry_max_delay_ms: Option<u64>,
    /// Most upstream requests in flight at once
    #[arg(long, global = true, env = "MAX_CONCURRENT_UPSTREAM")]
    pub max_concurrent_upstream: Option<usize>,
    /// Longest wait for an upstream request slot in milliseconds
    #[arg(long, global = true, env = "UPSTREAM_QUEUE_TIMEOUT_MS")]
    pub upstream_queue_timeout_ms: Option<u64>,
    /// Consecutive upstream failures that open the circuit (0: never)
    #[arg(long, global = true, env = "CIRCUIT_FAILURE_THRESHOLD")]
    pub circuit_failure_threshold: Option<u32>,
    /// How long an open circuit waits before a probe, in milliseconds
    #[arg(long, global = true, env = "CIRCUIT_COOLDOWN_MS")]
    pub circuit_cooldown_ms: Option<u64>,
    /// Aggregates by $apply: auto, on, off
    #[arg(long, global = true, env = "AGGREGATE_PUSHDOWN")]
    pub aggregate_pushdown: Option<String>,
    /// Most rows an aggregate scan may read
    #[arg(long, global = true, env = "MAX_SCAN_ROWS")]
    pub max_scan_rows: Option<u64>,
    /// Rows per upstream request of an aggregate scan
    #[arg(long, global = true, env = "SCAN_PAGE_SIZE")]
    pub scan_page_size: Option<u64>,
    /// Scan pages or pushed-down buckets requested at once
    #[arg(long, global = true, env = "SCAN_CONCURRENCY")]
    pub scan_concurrency: Option<usize>,
    /// Most groups one aggregate may have
    #[arg(long, global = true, env = "MAX_GROUPS")]
    pub max_groups: Option<u64>,
    /// Most time buckets pushed down as $apply requests
    #[arg(long, global = true, env = "MAX_PUSHDOWN_BUCKETS")]
    pub max_pushdown_buckets: Option<u64>,
    /// Deepest field nesting of an operation
    #[arg(long, global = true, env = "MAX_DEPTH")]
    pub max_depth: Option<usize>,
    /// Largest complexity of an operation
    #[arg(long, global = true, env = "MAX_COMPLEXITY")]
    pub max_complexity: Option<usize>,
    /// Most root fields of an operation
    #[arg(long, global = true, env = "MAX_ROOT_FIELDS")]
    pub max_root_fields: Option<usize>,
    /// Most aliased fields in a document
    #[arg(long, global = true, env = "MAX_ALIASES")]
    pub max_aliases: Option<usize>,
    /// Largest POST body in bytes
    #[arg(long, global = true, env = "MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Longest time one GraphQL request may run, in milliseconds
    #[arg(long, global = true, env = "REQUEST_TIMEOUT_MS")]
    pub request_timeout_ms: Option<u64>,
    /// Answer introspection queries
    #[arg(long, global = true, env = "INTROSPECTION")]
    pub introspection: Option<bool>,
    /// Browser origins allowed by CORS, comma-separated, or *
    #[arg(
        long,
        global = true,
        env = "CORS_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_allowed_origins: Option<Vec<String>>,
    /// Memory for automatic persisted queries in bytes (0: off)
    #[arg(long, global = true, env = "APQ_CACHE_BYTES")]
    pub apq_cache_bytes: Option<u64>,
    /// Service mode: the gateway's upstream token (prefer the environment
    /// or a file: flags show in process lists)
    #[arg(
        long,
        global = true,
        env = "SERVICE_UPSTREAM_TOKEN",
        hide_env_values = true
    )]
    pub service_upstream_token: Option<String>,
    /// Service mode: a file holding the gateway's upstream token
    #[arg(long, global = true, env = "SERVICE_UPSTREAM_TOKEN_FILE")]
    pub service_upstream_token_file: Option<String>,
    /// Log format: text or json
    #[arg(long, global = true, env = "LOG_FORMAT")]
    pub log_format: Option<String>,
}

/// How `in`/`nin` filters and id sets are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InOperator {
    Auto,
    Fixed(InStyle),
}

impl Config {
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::File {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?
            }
            None => Config::default(),
        };
        config.apply(overrides);
        config.validate()?;
        Ok(config)
    }

    fn apply(&mut self, o: &Overrides) {
        fn set<T: Clone>(slot: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *slot = v.clone();
            }
        }
        if o.upstream.is_some() {
            self.upstream.clone_from(&o.upstream);
        }
        if o.upstream_version.is_some() {
            self.upstream_version.clone_from(&o.upstream_version);
        }
        set(&mut self.listen, &o.listen);
        set(&mut self.max_first, &o.max_first);
        set(&mut self.upstream_timeout_ms, &o.upstream_timeout_ms);
        set(&mut self.connect_timeout_ms, &o.connect_timeout_ms);
        set(&mut self.max_url_length, &o.max_url_length);
        set(&mut self.in_operator, &o.in_operator);
        set(&mut self.max_next_links, &o.max_next_links);
        set(&mut self.expose_sign_in_ips, &o.expose_sign_in_ips);
        set(&mut self.max_relation_rows, &o.max_relation_rows);
        set(&mut self.cache_max_bytes, &o.cache_max_bytes);
        set(
            &mut self.cache_ttl_conversation_ms,
            &o.cache_ttl_conversation_ms,
        );
        set(&mut self.cache_ttl_message_ms, &o.cache_ttl_message_ms);
        set(
            &mut self.cache_ttl_reporting_event_ms,
            &o.cache_ttl_reporting_event_ms,
        );
        set(&mut self.cache_ttl_inbox_ms, &o.cache_ttl_inbox_ms);
        set(&mut self.cache_ttl_label_ms, &o.cache_ttl_label_ms);
        set(&mut self.cache_ttl_user_ms, &o.cache_ttl_user_ms);
        set(&mut self.stale_if_error_ms, &o.stale_if_error_ms);
        set(&mut self.upstream_retries, &o.upstream_retries);
        set(&mut self.retry_backoff_ms, &o.retry_backoff_ms);
        set(&mut self.retry_max_delay_ms, &o.retry_max_delay_ms);
        set(
            &mut self.max_concurrent_upstream,
            &o.max_concurrent_upstream,
        );
        set(
            &mut self.upstream_queue_timeout_ms,
            &o.upstream_queue_timeout_ms,
        );
        set(
            &mut self.circuit_failure_threshold,
            &o.circuit_failure_threshold,
        );
        set(&mut self.circuit_cooldown_ms, &o.circuit_cooldown_ms);
        set(&mut self.aggregate_pushdown, &o.aggregate_pushdown);
        set(&mut self.max_scan_rows, &o.max_scan_rows);
        set(&mut self.scan_page_size, &o.scan_page_size);
        set(&mut self.scan_concurrency, &o.scan_concurrency);
        set(&mut self.max_groups, &o.max_groups);
        set(&mut self.max_pushdown_buckets, &o.max_pushdown_buckets);
        set(&mut self.max_depth, &o.max_depth);
        set(&mut self.max_complexity, &o.max_complexity);
        set(&mut self.max_root_fields, &o.max_root_fields);
        set(&mut self.max_aliases, &o.max_aliases);
        set(&mut self.max_body_bytes, &o.max_body_bytes);
        set(&mut self.request_timeout_ms, &o.request_timeout_ms);
        set(&mut self.introspection, &o.introspection);
        set(&mut self.cors_allowed_origins, &o.cors_allowed_origins);
        set(&mut self.apq_cache_bytes, &o.apq_cache_bytes);
        set(&mut self.log_format, &o.log_format);
        if let Some(token) = &o.service_upstream_token {
            self.service_upstream_token = Some(Secret(token.clone()));
        }
        if o.service_upstream_token_file.is_some() {
            self.service_upstream_token_file
                .clone_from(&o.service_upstream_token_file);
        }
    }

    /// Checks every key that has a form; the upstream itself is checked by
    /// [`Config::upstream_url`] since `print-schema` needs none.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        self.in_operator()?;
        if self.max_relation_rows == 0 {
            return Err(invalid("max_relation_rows", "must be at least 1"));
        }
        crate::aggregate::Settings::new(self)?;
        for (key, value) in [
            ("scan_page_size", self.scan_page_size),
            ("scan_concurrency", self.scan_concurrency as u64),
            ("max_groups", self.max_groups),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if self.max_first == 0 {
            return Err(invalid("max_first", "must be at least 1"));
        }
        if self.upstream_timeout_ms == 0 || self.connect_timeout_ms == 0 {
            return Err(invalid("upstream_timeout_ms", "timeouts must be above 0"));
        }
        if self.max_url_length < 256 {
            return Err(invalid("max_url_length", "must be at least 256 bytes"));
        }
        self.validate_upstream_layer()?;
        self.validate_limits()?;
        self.service_mode()?;
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(invalid(
                "log_format",
                format!("`{}` is not text or json", self.log_format),
            ));
        }
        if let Some(v) = &self.upstream_version {
            ApiVersion::parse(v)
                .ok_or_else(|| invalid("upstream_version", format!("`{v}` is not 1.0 or 1.1")))?;
        }
        if let Some(u) = &self.upstream {
            self.check_upstream(u)?;
        }
        Ok(())
    }

    /// Cache, retry, concurrency and circuit keys.
    fn validate_upstream_layer(&self) -> Result<(), ConfigError> {
        // A day bounds every duration key: larger values are typos, and the
        // bound keeps `Instant` arithmetic far from overflow.
        const DAY_MS: u64 = 24 * 60 * 60 * 1000;
        let durations = [
            ("cache_ttl_conversation_ms", self.cache_ttl_conversation_ms),
            ("cache_ttl_message_ms", self.cache_ttl_message_ms),
            (
                "cache_ttl_reporting_event_ms",
                self.cache_ttl_reporting_event_ms,
            ),
            ("cache_ttl_inbox_ms", self.cache_ttl_inbox_ms),
            ("cache_ttl_label_ms", self.cache_ttl_label_ms),
            ("cache_ttl_user_ms", self.cache_ttl_user_ms),
            ("stale_if_error_ms", self.stale_if_error_ms),
            ("retry_backoff_ms", self.retry_backoff_ms),
            ("retry_max_delay_ms", self.retry_max_delay_ms),
            ("upstream_queue_timeout_ms", self.upstream_queue_timeout_ms),
            ("circuit_cooldown_ms", self.circuit_cooldown_ms),
        ];
        for (key, ms) in durations {
            if ms > DAY_MS {
                return Err(invalid(key, format!("{ms} ms is more than a day")));
            }
        }
        if self.upstream_retries > 10 {
            return Err(invalid("upstream_retries", "must be at most 10"));
        }
        if self.retry_backoff_ms > self.retry_max_delay_ms {
            return Err(invalid(
                "retry_backoff_ms",
                "must not exceed retry_max_delay_ms",
            ));
        }
        if !(1..=10_000).contains(&self.max_concurrent_upstream) {
            return Err(invalid(
                "max_concurrent_upstream",
                "must be between 1 and 10000",
            ));
        }
        if self.upstream_queue_timeout_ms == 0 {
            return Err(invalid("upstream_queue_timeout_ms", "must be above 0"));
        }
        if self.circuit_failure_threshold > 0 && self.circuit_cooldown_ms == 0 {
            return Err(invalid(
                "circuit_cooldown_ms",
                "must be above 0 while the circuit breaker is on",
            ));
        }
        Ok(())
    }

    /// Request limits, CORS and persisted queries.
    fn validate_limits(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("max_depth", self.max_depth),
            ("max_complexity", self.max_complexity),
            ("max_root_fields", self.max_root_fields),
            ("max_body_bytes", self.max_body_bytes),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if self.max_body_bytes < 1024 {
            return Err(invalid("max_body_bytes", "must be at least 1024"));
        }
        if self.request_timeout_ms == 0 || self.request_timeout_ms > 24 * 60 * 60 * 1000 {
            return Err(invalid(
                "request_timeout_ms",
                "must be above 0 and at most a day",
            ));
        }
        for origin in &self.cors_allowed_origins {
            if origin == "*" {
                if self.cors_allowed_origins.len() > 1 {
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

    /// Service mode when any of its keys is set, checked: a half-configured
    /// service mode stops the start naming the missing key. `None`:
    /// pass-through.
    pub fn service_mode(&self) -> Result<Option<ServiceMode>, ConfigError> {
        let token = match (
            &self.service_upstream_token,
            &self.service_upstream_token_file,
        ) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "service_upstream_token_file",
                    "set either service_upstream_token or service_upstream_token_file, not both",
                ))
            }
            (Some(token), None) => Some(token.expose().trim().to_string()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| invalid("service_upstream_token_file", format!("`{path}`: {e}")))?
                    .trim()
                    .to_string(),
            ),
            (None, None) => None,
        };
        let token = match (token, self.api_keys.is_empty()) {
            (None, true) => return Ok(None),
            (None, false) => {
                return Err(invalid(
                    "service_upstream_token",
                    "api_keys are set, so service mode needs the gateway's upstream token (service_upstream_token, SERVICE_UPSTREAM_TOKEN or service_upstream_token_file)",
                ))
            }
            (Some(t), _) if t.is_empty() => {
                return Err(invalid("service_upstream_token", "is empty"))
            }
            (Some(_), true) => {
                return Err(invalid(
                    "api_keys",
                    "service mode needs at least one client key ({ name, sha256 }; `liveagent-graphql hash-key <key>` prints the hash)",
                ))
            }
            (Some(t), false) => t,
        };
        let mut keys: Vec<ServiceKey> = Vec::new();
        for key in &self.api_keys {
            let bad = |m: String| invalid("api_keys", format!("key `{}`: {m}", key.name));
            if key.name.trim().is_empty() {
                return Err(invalid("api_keys", "every key needs a `name`"));
            }
            if keys.iter().any(|k| k.name == key.name) {
                return Err(bad("the name is used twice".into()));
            }
            let sha256 = decode_sha256(&key.sha256)
                .ok_or_else(|| bad("`sha256` must be 64 hexadecimal digits".into()))?;
            if keys.iter().any(|k| k.sha256 == sha256) {
                return Err(bad("the same hash is listed twice".into()));
            }
            if let Some(collections) = &key.collections {
                if collections.is_empty() {
                    return Err(bad(
                        "`collections` is empty (leave it out to allow all)".into()
                    ));
                }
                for c in collections {
                    if !crate::model::ENTITIES.iter().any(|e| e.name == c) {
                        return Err(bad(format!(
                            "`{c}` is not a collection (Conversation, Message, Inbox, Label, User, ReportingEvent)"
                        )));
                    }
                }
            }
            keys.push(ServiceKey {
                name: key.name.clone(),
                sha256,
                collections: key.collections.clone(),
            });
        }
        Ok(Some(ServiceMode {
            upstream_token: token,
            keys,
        }))
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen
            .parse()
            .map_err(|e| invalid("listen", format!("`{}`: {e}", self.listen)))
    }

    pub fn in_operator(&self) -> Result<InOperator, ConfigError> {
        match self.in_operator.as_str() {
            "auto" => Ok(InOperator::Auto),
            "or" => Ok(InOperator::Fixed(InStyle::OrChain)),
            "in" => Ok(InOperator::Fixed(InStyle::In)),
            other => Err(invalid(
                "in_operator",
                format!("`{other}` is not auto, or, in"),
            )),
        }
    }

    fn check_upstream(&self, u: &str) -> Result<url::Url, ConfigError> {
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
        Ok(url)
    }

    /// The upstream service root, without a trailing slash.
    pub fn upstream_url(&self) -> Result<String, ConfigError> {
        let u = self
            .upstream
            .as_deref()
            .ok_or_else(|| invalid("upstream", "is required (--upstream or UPSTREAM_URL)"))?;
        self.check_upstream(u)?;
        Ok(u.trim_end_matches('/').to_string())
    }

    /// The endpoint version: configured, else read from the upstream path,
    /// else 1.1.
    pub fn api_version(&self) -> ApiVersion {
        self.upstream_version
            .as_deref()
            .and_then(ApiVersion::parse)
            .or_else(|| {
                let url = url::Url::parse(self.upstream.as_deref()?).ok()?;
                ApiVersion::from_url_path(url.path())
            })
            .unwrap_or(ApiVersion::V1_1)
    }
}

/// 32 bytes from 64 hex digits.
fn decode_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_configured_service_mode_names_the_missing_key() {
        let hash = "ab".repeat(32);
        let key = |collections: Option<Vec<String>>| ApiKeyConfig {
            name: "dash".into(),
            sha256: hash.clone(),
            collections,
        };
        let cases = [
            (
                Config {
                    api_keys: vec![key(None)],
                    ..Config::default()
                },
                "service_upstream_token",
            ),
            (
                Config {
                    service_upstream_token: Some("t".to_string().into()),
                    ..Config::default()
                },
                "api_keys",
            ),
            (
                Config {
                    service_upstream_token: Some("t".to_string().into()),
                    api_keys: vec![key(Some(vec!["Conversations".into()]))],
                    ..Config::default()
                },
                "Conversations",
            ),
            (
                Config {
                    service_upstream_token: Some("t".to_string().into()),
                    api_keys: vec![ApiKeyConfig {
                        sha256: "xyz".into(),
                        ..key(None)
                    }],
                    ..Config::default()
                },
                "sha256",
            ),
            (
                Config {
                    service_upstream_token_file: Some("/nonexistent/token".into()),
                    api_keys: vec![key(None)],
                    ..Config::default()
                },
                "service_upstream_token_file",
            ),
        ];
        for (config, needle) in cases {
            let err = config.validate().expect_err(needle);
            assert!(err.to_string().contains(needle), "{err}");
        }
        let ok = Config {
            service_upstream_token: Some("t".to_string().into()),
            api_keys: vec![key(Some(vec!["Label".into()]))],
            ..Config::default()
        };
        let mode = ok.service_mode().expect("valid").expect("service mode");
        assert_eq!(mode.keys[0].sha256, [0xab; 32]);
        assert!(!format!("{ok:?}").contains("\"t\""));
        assert_eq!(
            Config::default().service_mode().ok().flatten().map(|_| ()),
            None
        );
    }

    #[test]
    fn flags_override_file_values() {
        let dir = std::env::temp_dir().join(format!("lag-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("c.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nmax_first = 10\n").expect("write");
        let o = Overrides {
            max_first: Some(20),
            ..Default::default()
        };
        let c = Config::load(Some(&file), &o).expect("load");
        assert_eq!(c.listen, "127.0.0.1:9000");
        assert_eq!(c.max_first, 20);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let dir = std::env::temp_dir().join(format!("lag-config2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("c.toml");
        std::fs::write(&file, "max_frist = 10\n").expect("write");
        let err = Config::load(Some(&file), &Overrides::default()).expect_err("typo");
        assert!(err.to_string().contains("max_frist"), "{err}");
        let o = Overrides {
            in_operator: Some("maybe".into()),
            ..Default::default()
        };
        let err = Config::load(None, &o).expect_err("bad in_operator");
        assert!(err.to_string().contains("in_operator"), "{err}");
    }

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
                    cache_ttl_user_ms: Some(90_000_000),
                    ..Default::default()
                },
                "cache_ttl_user_ms",
            ),
        ];
        for (o, key) in bad {
            let err = Config::load(None, &o).expect_err(key);
            assert!(err.to_string().contains(key), "{err}");
        }
        let off = Overrides {
            cache_max_bytes: Some(0),
            circuit_failure_threshold: Some(0),
            circuit_cooldown_ms: Some(0),
            stale_if_error_ms: Some(0),
            ..Default::default()
        };
        assert!(Config::load(None, &off).is_ok(), "0 turns these off");
    }

    #[test]
    fn version_comes_from_the_upstream_path_unless_set() {
        let mut c = Config {
            upstream: Some("http://h/v1.0/odata".into()),
            ..Default::default()
        };
        assert_eq!(c.api_version(), ApiVersion::V1_0);
        c.upstream_version = Some("1.1".into());
        assert_eq!(c.api_version(), ApiVersion::V1_1);
    }
}
