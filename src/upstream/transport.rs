//! One upstream HTTP GET, made resilient: the circuit breaker's leave, a
//! slot under the concurrency bound, retries with backoff within the retry
//! budget, and metrics for each attempt. The breaker judges the request
//! once, after its retries. Statuses are returned as they came; mapping
//! them to error codes is `check_status`'s job (mod.rs).

use super::circuit::{CircuitBreaker, CircuitSettings, CircuitState, Transition};
use super::credential::Credential;
use super::refusals::Refusals;
use super::retry::{self, RetryBudget, RetryPolicy};
use crate::config::{ConfigError, UpstreamSettings};
use crate::error::GatewayError;
use crate::metrics::{CollectionLabel, Metrics, ReasonLabel, RequestLabels};
use crate::odata;
use bytes::Bytes;
use reqwest::StatusCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

pub struct Transport {
    http: reqwest::Client,
    /// Service root without a trailing slash.
    pub base: String,
    pub max_next_links: usize,
    timeout_ms: u64,
    retry: RetryPolicy,
    budget: RetryBudget,
    circuit: CircuitBreaker,
    slots: Semaphore,
    max_concurrent: usize,
    queue_timeout: Duration,
    pub metrics: Arc<Metrics>,
    /// The upstream's refusals of collection and key requests (`fetch`).
    pub refusals: Refusals,
}

/// One attempt that got no usable answer.
struct Failure {
    error: GatewayError,
    retryable: bool,
    retry_after: Option<Duration>,
    /// Whether it says anything about the upstream's health (a full queue
    /// says nothing).
    judged: bool,
}

/// One attempt's answer (status, body, `Retry-After`) or failure.
type Attempt = Result<(StatusCode, Bytes, Option<Duration>), Failure>;

impl Transport {
    pub fn new(
        settings: &UpstreamSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Transport, ConfigError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            // Keep-alive connections are pooled and reused; the keepalive
            // probes notice a peer that vanished between requests.
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_keepalive(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ConfigError::Key {
                key: "upstream",
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Transport {
            refusals: Refusals::default(),
            http,
            base: settings.base_url()?.to_string(),
            max_next_links: settings.max_next_links,
            timeout_ms: u64::try_from(settings.timeout.as_millis()).unwrap_or(u64::MAX),
            retry: RetryPolicy {
                retries: settings.retries,
                base: settings.retry_backoff,
                max_delay: settings.retry_max_delay,
            },
            budget: RetryBudget::new(
                settings.retry_budget_percent,
                settings.retry_budget_min_per_second,
                settings.circuit_window,
                Instant::now(),
            ),
            circuit: CircuitBreaker::new(
                CircuitSettings {
                    consecutive: settings.circuit_failure_threshold,
                    failure_rate: settings.circuit_failure_rate,
                    min_requests: settings.circuit_min_requests,
                    window: settings.circuit_window,
                    cooldown: settings.circuit_cooldown,
                    trials: settings.circuit_half_open_requests,
                },
                Instant::now(),
            ),
            slots: Semaphore::new(settings.max_concurrent),
            max_concurrent: settings.max_concurrent,
            queue_timeout: settings.queue_timeout,
            metrics,
        })
    }

    pub fn circuit_state(&self) -> CircuitState {
        let now = Instant::now();
        let state = self.circuit.state(now);
        let window = self.circuit.window_counts(now);
        let m = &self.metrics;
        m.circuit_state.set(state.gauge());
        m.circuit_window_requests.set(gauge(window.requests));
        m.circuit_window_failures.set(gauge(window.failures));
        m.retry_window_retries
            .set(gauge(self.budget.counts(now).retries));
        state
    }

    /// Any HTTP answer from the service root: readiness needs no token. Not
    /// queued and not retried; refused, with the reason, while the circuit
    /// is open.
    pub async fn probe(&self) -> Result<u16, GatewayError> {
        self.circuit_state();
        if let Some(refused) = self.circuit.open_reason(Instant::now()) {
            return Err(GatewayError::UpstreamUnavailable(refused.to_string()));
        }
        let response = self
            .http
            .get(format!("{}/", self.base))
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        Ok(response.status().as_u16())
    }

    /// GETs `url` with the credential, retrying connect errors, 502/503/504
    /// and garbled JSON while the retry budget allows (the last such answer is
    /// returned as it is). The circuit breaker admits the request once and
    /// judges its final outcome.
    pub async fn get(
        &self,
        cred: &Credential,
        request_id: Option<&str>,
        url: &str,
        accept: &'static str,
        collection: &'static str,
    ) -> Result<(StatusCode, Bytes), GatewayError> {
        self.get_judged(cred, request_id, url, accept, collection, false)
            .await
    }

    /// [`Transport::get`], or with `probe` for a probe, whose answer says
    /// nothing of the upstream's health (a refusal may be the answer it
    /// looks for): refused while the circuit is open, but not judged by it,
    /// and not counted in the retry budget's requests.
    pub async fn get_judged(
        &self,
        cred: &Credential,
        request_id: Option<&str>,
        url: &str,
        accept: &'static str,
        collection: &'static str,
        probe: bool,
    ) -> Result<(StatusCode, Bytes), GatewayError> {
        let permit = self.circuit.admit(Instant::now()).map_err(|refused| {
            self.reject("circuit_open");
            GatewayError::UpstreamUnavailable(refused.to_string())
        })?;
        if !probe {
            self.budget.request(Instant::now());
        }
        let mut retry = 0;
        let last = loop {
            let result = self
                .attempt(cred, request_id, url, accept, collection)
                .await;
            let retry_after = match &result {
                Ok((status, _, retry_after)) if retry::retryable_status(status.as_u16()) => {
                    *retry_after
                }
                Ok((status, body, _)) if garbled(*status, accept, body) => None,
                Err(f) if f.retryable => f.retry_after,
                _ => break result,
            };
            if retry >= self.retry.retries || !self.may_retry(collection) {
                break result;
            }
            tokio::time::sleep(self.retry.next_delay(retry, retry_after)).await;
            retry += 1;
        };
        let verdict = match &last {
            _ if probe => None,
            Ok((status, body, _)) => {
                Some(!status.is_server_error() && !garbled(*status, accept, body))
            }
            Err(f) if f.judged => Some(false),
            // A full queue says nothing about the upstream: the permit is
            // dropped unjudged.
            Err(_) => None,
        };
        let transition = verdict.map(|healthy| permit.record(healthy, Instant::now()));
        match transition {
            Some(Transition::Opened(reason)) => tracing::warn!(%reason, "upstream circuit opened"),
            Some(Transition::Closed) => {
                tracing::info!("upstream circuit closed: the trial requests succeeded")
            }
            Some(Transition::None) | None => {}
        }
        self.circuit_state();
        last.map(|(status, body, _)| (status, body))
            .map_err(|f| f.error)
    }

    /// Whether one more retry may go: not while the circuit is open (other
    /// requests found the upstream down meanwhile), and only within the
    /// budget. Counts the retry either way.
    fn may_retry(&self, collection: &'static str) -> bool {
        let now = Instant::now();
        if self.circuit.state(now) == CircuitState::Open {
            return false;
        }
        let label = CollectionLabel { collection };
        if !self.budget.try_retry(now) {
            self.metrics
                .upstream_retries_refused
                .get_or_create(&label)
                .inc();
            return false;
        }
        self.metrics.upstream_retries.get_or_create(&label).inc();
        true
    }

    async fn attempt(
        &self,
        cred: &Credential,
        request_id: Option<&str>,
        url: &str,
        accept: &'static str,
        collection: &'static str,
    ) -> Attempt {
        let _slot = match tokio::time::timeout(self.queue_timeout, self.slots.acquire()).await {
            Ok(Ok(slot)) => slot,
            // The semaphore is never closed; both arms mean no slot came.
            Ok(Err(_)) | Err(_) => {
                self.reject("queue_timeout");
                return Err(Failure {
                    error: GatewayError::UpstreamUnavailable(format!(
                        "all {} upstream request slots stayed busy for {} ms (max_concurrent_upstream)",
                        self.max_concurrent,
                        self.queue_timeout.as_millis()
                    )),
                    retryable: false,
                    retry_after: None,
                    judged: false,
                });
            }
        };
        let _active = Active::new(&self.metrics);
        let started = Instant::now();
        let result = self.send(cred, request_id, url, accept).await;
        self.metrics
            .upstream_duration
            .get_or_create(&CollectionLabel { collection })
            .observe(started.elapsed().as_secs_f64());
        let status_label = match &result {
            Ok((status, ..)) => status.as_str().to_string(),
            Err(e) if e.is_timeout() => "timeout".to_string(),
            Err(e) if e.is_connect() => "connect_error".to_string(),
            Err(_) => "error".to_string(),
        };
        self.metrics
            .upstream_requests
            .get_or_create(&RequestLabels {
                collection,
                status: status_label,
            })
            .inc();
        match result {
            Ok((status, body, retry_after)) => {
                tracing::debug!(
                    trace_id = crate::telemetry::trace_id().map(tracing::field::display),
                    collection,
                    status = status.as_u16(),
                    ms = started.elapsed().as_millis() as u64,
                    bytes = body.len(),
                    "upstream request"
                );
                Ok((status, body, retry_after))
            }
            Err(e) => Err(Failure {
                // A GET may be sent again: connect errors, a connection
                // closed before the answer or in the middle of its body.
                // Not a timeout: the client has waited long enough.
                retryable: !e.is_timeout() && (e.is_connect() || e.is_request() || e.is_body()),
                error: self.transport_error(e),
                retry_after: None,
                judged: true,
            }),
        }
    }

    async fn send(
        &self,
        cred: &Credential,
        request_id: Option<&str>,
        url: &str,
        accept: &'static str,
    ) -> Result<(StatusCode, Bytes, Option<Duration>), reqwest::Error> {
        let mut url = url.to_string();
        if let Credential::ApiKey(key) = cred {
            if !url.contains("apikey=") {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str("apikey=");
                url.push_str(&odata::query::encode(key));
            }
        }
        let mut request = self.http.get(&url).header("accept", accept);
        if let Credential::Bearer(token) = cred {
            request = request.bearer_auth(token);
        }
        if let Some(id) = request_id {
            request = request.header("x-request-id", id);
        }
        if crate::telemetry::enabled() {
            let mut headers = reqwest::header::HeaderMap::new();
            crate::telemetry::inject(&mut headers);
            request = request.headers(headers);
        }
        let response = request.send().await?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry::parse_retry_after);
        let body = response.bytes().await?;
        Ok((status, body, retry_after))
    }

    fn reject(&self, reason: &'static str) {
        self.metrics
            .upstream_rejected
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    fn transport_error(&self, e: reqwest::Error) -> GatewayError {
        if e.is_timeout() {
            GatewayError::timeout(self.timeout_ms)
        } else if e.is_connect() {
            GatewayError::UpstreamUnavailable("cannot connect to the upstream".into())
        } else {
            // `without_url` keeps an apikey in the URL out of the message.
            GatewayError::UpstreamUnavailable(e.without_url().to_string())
        }
    }
}

fn gauge(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// Counts a request in the active-requests gauge while it lives.
struct Active<'a>(&'a Metrics);

impl<'a> Active<'a> {
    fn new(metrics: &'a Metrics) -> Self {
        metrics.upstream_active.inc();
        Active(metrics)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.upstream_active.dec();
    }
}

/// A success whose JSON body does not even parse: a proxy's error page or
/// a body mangled on the way, which a second GET usually gets right. A body
/// that parses but has the wrong shape is the upstream's answer, not
/// retried.
fn garbled(status: StatusCode, accept: &str, body: &[u8]) -> bool {
    status.is_success()
        && accept == "application/json"
        && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err()
}
