//! Every config key, declared once: doc, name, type, default, and how
//! flags and the environment set it. The TOML key is the name, the flag is
//! the name in kebab case (`--max-first`), the environment variable is
//! given. From this one table come the file tree [`Config`] with its
//! defaults, the flag and environment [`Overrides`], and
//! [`Config::apply`], which lays the second over the first.

use super::values::{ApiKeyConfig, InOperator, LogFormat, Pushdown, Secret};
use crate::odata::{CapabilityOverrides, DialectName};
use serde::{Deserialize, Serialize};

/// Rows are `doc name: Type = default, flag FlagType, env "NAME"` plus
/// optional extra `#[arg]` settings, or `doc name: Type = default, file
/// only`. The flag type is the key's type without its `Option`. The rows
/// are gathered one by one (so that a row's doc goes to both structs) and
/// emitted at the end.
macro_rules! config_keys {
    (@rows [$($field:tt)*] [$($default:tt)*] [$($flag:tt)*] [$($set:ident)*]
        $(#[doc = $doc:literal])*
        $name:ident: $ty:ty = $value:expr, flag $flag_ty:ty, env $env:literal
        $(, $arg:ident = $arg_value:expr)*;
        $($rest:tt)*
    ) => {
        config_keys!(@rows
            [$($field)* $(#[doc = $doc])* pub $name: $ty,]
            [$($default)* $name: $value,]
            [$($flag)*
                $(#[doc = $doc])*
                #[arg(long, global = true, env = $env $(, $arg = $arg_value)*)]
                pub $name: Option<$flag_ty>,
            ]
            [$($set)* $name]
            $($rest)*
        );
    };
    (@rows [$($field:tt)*] [$($default:tt)*] [$($flag:tt)*] [$($set:ident)*]
        $(#[doc = $doc:literal])*
        $name:ident: $ty:ty = $value:expr, file only;
        $($rest:tt)*
    ) => {
        config_keys!(@rows
            [$($field)* $(#[doc = $doc])* pub $name: $ty,]
            [$($default)* $name: $value,]
            [$($flag)*]
            [$($set)*]
            $($rest)*
        );
    };
    (@rows [$($field:tt)*] [$($default:tt)*] [$($flag:tt)*] [$($set:ident)*]) => {
        /// The configuration as the file writes it; a typo in a key name
        /// is an error that names it.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct Config {
            $($field)*
        }

        impl Default for Config {
            fn default() -> Self {
                Config { $($default)* }
            }
        }

        /// Values from flags or the environment; `None` leaves the file's.
        #[derive(Debug, Default, Clone, clap::Args)]
        pub struct Overrides {
            $($flag)*
        }

        impl Config {
            /// Lays flags and the environment over the file's values.
            pub fn apply(&mut self, overrides: &Overrides) {
                $(
                    if let Some(value) = &overrides.$set {
                        // Same type, or into the key's `Option`.
                        self.$set = value.clone().into();
                    }
                )*
            }
        }
    };
    ($($rows:tt)*) => {
        config_keys!(@rows [] [] [] [] $($rows)*);
    };
}

config_keys! {
    /// Service root of the upstream, with its version path, e.g.
    /// `https://odata.example.com/v1.1/odata`.
    upstream: Option<String> = None, flag String, env "UPSTREAM_URL";
    /// `1.0` or `1.1`; read from the upstream path when unset.
    upstream_version: Option<String> = None, flag String, env "UPSTREAM_VERSION";
    /// Address the gateway listens on.
    listen: String = "127.0.0.1:8080".into(), flag String, env "LISTEN_ADDR";
    /// Largest `first` a client may ask for.
    max_first: u64 = 1000, flag u64, env "MAX_FIRST";
    /// Total time one upstream request may take, in milliseconds.
    upstream_timeout_ms: u64 = 30_000, flag u64, env "UPSTREAM_TIMEOUT_MS";
    /// Time to open a connection to the upstream, in milliseconds.
    connect_timeout_ms: u64 = 5_000, flag u64, env "CONNECT_TIMEOUT_MS";
    /// Longest upstream URL the gateway sends, in bytes.
    max_url_length: usize = 6 * 1024, flag usize, env "MAX_URL_LENGTH";
    /// The first guess of what the upstream's OData implementation can do,
    /// until the probes decide: `liveagent` (the real Live Agent service:
    /// no `not`, null literal, `$count`, `$apply` or `$expand`; those parts
    /// of a query run in the gateway) or `odata4` (a complete OData v4
    /// server such as SAP CAP).
    upstream_dialect: DialectName = DialectName::Liveagent, flag DialectName, env "UPSTREAM_DIALECT";
    /// Single capabilities set for good, over the dialect's preset and
    /// never changed by a probe, e.g. `[upstream_capabilities]` `count = true`.
    upstream_capabilities: CapabilityOverrides = CapabilityOverrides::default(), file only;
    /// Decide every capability not set in config by queries whose answer
    /// is known, and find the upstream's page cap, at the first request
    /// and again after the upstream refused requests; `false` keeps the
    /// preset.
    upstream_probes: bool = true, flag bool, env "UPSTREAM_PROBES";
    /// Set membership in `$filter`: `or` (chains), `in` (OData 4.01), or
    /// `auto` (as the probe finds; without probes, `in` when the dialect is
    /// `odata4` and `$metadata` declares version 4.01).
    in_operator: InOperator = InOperator::Auto, flag InOperator, env "IN_OPERATOR";
    /// Most `@odata.nextLink` pages followed for one request.
    max_next_links: usize = 100, flag usize, env "MAX_NEXT_LINKS";
    /// Largest `$top` of one upstream request (Live Agent: 10000); an
    /// upstream that accepts less is found out. Larger reads go out as
    /// several pages.
    upstream_page_cap: u64 = 10_000, flag u64, env "UPSTREAM_PAGE_CAP";
    /// Show the User sign-in IP address fields.
    expose_sign_in_ips: bool = false, flag bool, env "EXPOSE_SIGN_IN_IPS";
    /// Most rows one relation may read for all its parents together; past
    /// it the field fails with QUERY_TOO_COMPLEX rather than cut data.
    max_relation_rows: u64 = 10_000, flag u64, env "MAX_RELATION_ROWS";
    /// Response cache capacity in bytes of upstream bodies; 0 turns the
    /// cache off (identical concurrent requests are still sent once).
    cache_max_bytes: u64 = 64 * 1024 * 1024, flag u64, env "CACHE_MAX_BYTES";
    /// How long a cached Conversation answer is fresh, in milliseconds.
    cache_ttl_conversation_ms: u64 = 30_000, flag u64, env "CACHE_TTL_CONVERSATION_MS";
    /// How long a cached Message answer is fresh, in milliseconds.
    cache_ttl_message_ms: u64 = 30_000, flag u64, env "CACHE_TTL_MESSAGE_MS";
    /// How long a cached ReportingEvent answer is fresh, in milliseconds.
    cache_ttl_reporting_event_ms: u64 = 30_000, flag u64, env "CACHE_TTL_REPORTING_EVENT_MS";
    /// How long a cached Inbox answer is fresh, in milliseconds.
    cache_ttl_inbox_ms: u64 = 300_000, flag u64, env "CACHE_TTL_INBOX_MS";
    /// How long a cached Label answer is fresh, in milliseconds.
    cache_ttl_label_ms: u64 = 300_000, flag u64, env "CACHE_TTL_LABEL_MS";
    /// How long a cached User answer is fresh, in milliseconds.
    cache_ttl_user_ms: u64 = 300_000, flag u64, env "CACHE_TTL_USER_MS";
    /// How long after expiry a cached answer may still be served, marked
    /// stale, when the upstream fails; 0 never serves stale answers.
    stale_if_error_ms: u64 = 300_000, flag u64, env "STALE_IF_ERROR_MS";
    /// A Redis shared by several instances as a second cache tier behind
    /// each one's own (`redis://host:6379/0`); needs `cache_key_secret`.
    redis_url: Option<String> = None, flag String, env "REDIS_URL";
    /// Longest wait for one Redis command, in milliseconds; a request then
    /// goes on without the shared cache.
    redis_timeout_ms: u64 = 50, flag u64, env "REDIS_TIMEOUT_MS";
    /// How long one instance's claim to fetch an answer the others wait for
    /// lasts, in milliseconds (cross-instance coalescing).
    redis_lease_ms: u64 = 5_000, flag u64, env "REDIS_LEASE_MS";
    /// The key of credential fingerprints; instances sharing a Redis must
    /// share it. Unset: a random key at start, and no shared cache.
    cache_key_secret: Option<Secret> = None, flag Secret,
        env "CACHE_KEY_SECRET", hide_env_values = true;
    /// A file holding `cache_key_secret` (e.g. a mounted secret); instead
    /// of the key.
    cache_key_secret_file: Option<String> = None, flag String,
        env "CACHE_KEY_SECRET_FILE";
    /// Retries of an upstream request after a connect error or a 502, 503
    /// or 504 answer.
    upstream_retries: u32 = 3, flag u32, env "UPSTREAM_RETRIES";
    /// First retry delay in milliseconds; doubles with each retry, with
    /// jitter.
    retry_backoff_ms: u64 = 100, flag u64, env "RETRY_BACKOFF_MS";
    /// Longest retry delay in milliseconds, `Retry-After` included.
    retry_max_delay_ms: u64 = 2_000, flag u64, env "RETRY_MAX_DELAY_MS";
    /// Most upstream requests in flight at once; more wait in a queue.
    max_concurrent_upstream: usize = 32, flag usize, env "MAX_CONCURRENT_UPSTREAM";
    /// Longest wait in that queue, in milliseconds.
    upstream_queue_timeout_ms: u64 = 5_000, flag u64, env "UPSTREAM_QUEUE_TIMEOUT_MS";
    /// Share of retries allowed over the window, in percent of the upstream
    /// requests in it.
    retry_budget_percent: u32 = 50, flag u32, env "RETRY_BUDGET_PERCENT";
    /// Retries per second allowed whatever the traffic, so that a quiet
    /// gateway can still retry.
    retry_budget_min_per_second: u32 = 10, flag u32, env "RETRY_BUDGET_MIN_PER_SECOND";
    /// Upstream requests in a row that failed after their retries (5xx,
    /// timeouts, connect errors) that open the circuit; 0 turns the
    /// circuit breaker off.
    circuit_failure_threshold: u32 = 5, flag u32, env "CIRCUIT_FAILURE_THRESHOLD";
    /// Percent of failed upstream requests over the window that opens the
    /// circuit; 0 turns this rule off.
    circuit_failure_rate: u32 = 50, flag u32, env "CIRCUIT_FAILURE_RATE";
    /// Fewest upstream requests in the window before its failure rate counts.
    circuit_min_requests: u32 = 20, flag u32, env "CIRCUIT_MIN_REQUESTS";
    /// The sliding window of the failure rate and the retry budget, in
    /// milliseconds.
    circuit_window_ms: u64 = 10_000, flag u64, env "CIRCUIT_WINDOW_MS";
    /// How long an open circuit refuses requests before trials, in
    /// milliseconds.
    circuit_cooldown_ms: u64 = 10_000, flag u64, env "CIRCUIT_COOLDOWN_MS";
    /// Trial requests let through after the cool-down; all must succeed to
    /// close the circuit.
    circuit_half_open_requests: u32 = 3, flag u32, env "CIRCUIT_HALF_OPEN_REQUESTS";
    /// Aggregates computed by the upstream with `$apply` where the
    /// capability set in force has it (`auto`, `on`), or `off` (always scan).
    aggregate_pushdown: Pushdown = Pushdown::Auto, flag Pushdown, env "AGGREGATE_PUSHDOWN";
    /// Most rows an aggregate scan may read; past it SCAN_LIMIT_EXCEEDED.
    max_scan_rows: u64 = 1_000_000, flag u64, env "MAX_SCAN_ROWS";
    /// Rows per upstream request of an aggregate scan.
    scan_page_size: u64 = 5_000, flag u64, env "SCAN_PAGE_SIZE";
    /// Scan pages (or pushed-down buckets) requested at once.
    scan_concurrency: usize = 4, flag usize, env "SCAN_CONCURRENCY";
    /// Most groups one aggregate may have; past it QUERY_TOO_COMPLEX.
    max_groups: u64 = 10_000, flag u64, env "MAX_GROUPS";
    /// Most time buckets pushed down (one `$apply` each); more are scanned.
    max_pushdown_buckets: u64 = 400, flag u64, env "MAX_PUSHDOWN_BUCKETS";
    /// Deepest nesting of `{`, `[` and `(` in a GraphQL document, and of
    /// the values in a request's JSON (variables included), counted before
    /// anything parses them; deeper → QUERY_TOO_COMPLEX.
    max_nesting: usize = 64, flag usize, env "MAX_NESTING";
    /// Deepest `and`/`or`/`not` nesting of one `where`; deeper →
    /// BAD_USER_INPUT.
    max_filter_depth: usize = 32, flag usize, env "MAX_FILTER_DEPTH";
    /// Deepest field nesting of an operation; deeper → QUERY_TOO_COMPLEX.
    max_depth: usize = 15, flag usize, env "MAX_DEPTH";
    /// Largest complexity of an operation (each field counts 1, plus its
    /// children); above it → QUERY_TOO_COMPLEX.
    max_complexity: usize = 5_000, flag usize, env "MAX_COMPLEXITY";
    /// Most root fields (aliases included) of the operation that runs.
    max_root_fields: usize = 20, flag usize, env "MAX_ROOT_FIELDS";
    /// Most aliased fields in a document.
    max_aliases: usize = 30, flag usize, env "MAX_ALIASES";
    /// Largest POST body in bytes; larger → HTTP 413.
    max_body_bytes: usize = 1024 * 1024, flag usize, env "MAX_BODY_BYTES";
    /// Longest time one GraphQL request may run, in milliseconds.
    request_timeout_ms: u64 = 60_000, flag u64, env "REQUEST_TIMEOUT_MS";
    /// Longest time a client may take to send a request's headers, in
    /// milliseconds; slower connections are closed (slowloris), and so
    /// are keep-alive connections idle that long.
    header_read_timeout_ms: u64 = 30_000, flag u64, env "HEADER_READ_TIMEOUT_MS";
    /// Requests per second each client may make (per credential, or per API
    /// key in service mode); beyond it → HTTP 429 and RATE_LIMITED. 0: no
    /// limit.
    rate_limit_per_second: u32 = 0, flag u32, env "RATE_LIMIT_PER_SECOND";
    /// Requests a client may make at once above its rate; 0: one second's
    /// worth (`rate_limit_per_second`).
    rate_limit_burst: u32 = 0, flag u32, env "RATE_LIMIT_BURST";
    /// Answer introspection queries (`__schema`, `__type`).
    introspection: bool = true, flag bool, env "INTROSPECTION";
    /// Browser origins allowed by CORS: exact origins, or `*`; empty sends
    /// no CORS headers. Flags and the environment take them
    /// comma-separated.
    cors_allowed_origins: Vec<String> = Vec::new(), flag Vec<String>,
        env "CORS_ALLOWED_ORIGINS", value_delimiter = ',';
    /// Memory for whole GraphQL responses reused while the upstream answers
    /// they were built from are fresh, in bytes; 0 turns it off.
    response_cache_bytes: u64 = 32 * 1024 * 1024, flag u64, env "RESPONSE_CACHE_BYTES";
    /// Compress GraphQL responses of at least 1 KiB with zstd, br or gzip
    /// as the client's `Accept-Encoding` prefers; event streams never.
    compression: bool = true, flag bool, env "COMPRESSION";
    /// Memory for automatic persisted queries, in bytes of query text; 0
    /// turns them off.
    apq_cache_bytes: u64 = 8 * 1024 * 1024, flag u64, env "APQ_CACHE_BYTES";
    /// Service mode: the gateway's own upstream token, sent as Bearer for
    /// every client that shows one of `api_keys` (prefer the environment
    /// or the file: flags show in process lists).
    service_upstream_token: Option<Secret> = None, flag Secret,
        env "SERVICE_UPSTREAM_TOKEN", hide_env_values = true;
    /// Service mode: a file holding the upstream token (e.g. a mounted
    /// secret); instead of `service_upstream_token`.
    service_upstream_token_file: Option<String> = None, flag String,
        env "SERVICE_UPSTREAM_TOKEN_FILE";
    /// A JSON manifest of trusted documents (Apollo's persisted query
    /// manifest, or `{"<sha256>": "<document>"}`): clients may send a
    /// document's hash (`documentId` or `extensions.persistedQuery`) for
    /// its text, and API keys with `trusted_documents_only` run only
    /// these. Read again on SIGHUP.
    trusted_documents_file: Option<String> = None, flag String, env "TRUSTED_DOCUMENTS_FILE";
    /// Service mode: the client API keys, by SHA-256 hash (read again on
    /// SIGHUP).
    api_keys: Vec<ApiKeyConfig> = Vec::new(), file only;
    /// Live queries: seconds between two evaluations of a subscription
    /// that does not ask (`everySeconds`).
    live_default_interval_s: u64 = 30, flag u64, env "LIVE_DEFAULT_INTERVAL_S";
    /// Live queries: the shortest interval; shorter `everySeconds` are
    /// raised to it.
    live_min_interval_s: u64 = 5, flag u64, env "LIVE_MIN_INTERVAL_S";
    /// Live queries: the longest interval; longer `everySeconds` are
    /// lowered to it.
    live_max_interval_s: u64 = 3600, flag u64, env "LIVE_MAX_INTERVAL_S";
    /// Most live subscriptions open at once; more → TOO_MANY_SUBSCRIPTIONS.
    max_subscriptions: usize = 10_000, flag usize, env "MAX_SUBSCRIPTIONS";
    /// Most live subscriptions open at once per credential (per API key in
    /// service mode); more → TOO_MANY_SUBSCRIPTIONS.
    max_subscriptions_per_credential: usize = 100, flag usize,
        env "MAX_SUBSCRIPTIONS_PER_CREDENTIAL";
    /// The analytics replica: `sqlite:///relative/file.db`,
    /// `sqlite:////absolute/file.db` or `postgres://…`; unset: none.
    /// Syncs with `service_upstream_token`.
    replica_url: Option<String> = None, flag String, env "REPLICA_URL";
    /// Seconds between two incremental syncs of the replica.
    replica_sync_interval_s: u64 = 60, flag u64, env "REPLICA_SYNC_INTERVAL_S";
    /// Seconds between two comparisons of the replica's Message and
    /// ReportingEvent ids with the upstream's (deletions); the other
    /// collections are compared at every sync.
    replica_reconcile_interval_s: u64 = 3600, flag u64,
        env "REPLICA_RECONCILE_INTERVAL_S";
    /// Seconds an incremental sync reads again before its watermark.
    replica_overlap_s: u64 = 120, flag u64, env "REPLICA_OVERLAP_S";
    /// Most upstream requests the replica's sync has in flight.
    replica_sync_concurrency: usize = 2, flag usize, env "REPLICA_SYNC_CONCURRENCY";
    /// Rows the replica's sync asks per upstream request (at most the
    /// upstream's page cap): the sync holds a few such pages at once, so
    /// this bounds its memory.
    replica_sync_page_size: u64 = 2000, flag u64, env "REPLICA_SYNC_PAGE_SIZE";
    /// Seconds a client credential stays confirmed as reading the
    /// replica's account before it is checked again.
    replica_account_check_s: u64 = 300, flag u64, env "REPLICA_ACCOUNT_CHECK_S";
    /// Log lines as `text` (human-readable) or `json` (one object a line).
    log_format: LogFormat = LogFormat::Text, flag LogFormat, env "LOG_FORMAT";
}
