//! The upstream layer over HTTP: the per-credential response cache, in-flight
//! sharing, timeouts, retries, the concurrency bound, the circuit breaker,
//! stale-if-error and `/metrics`. Tests that count upstream requests or set
//! faults each have a private test upstream; timings are milliseconds.

mod common;

use common::*;
use liveagent_graphql::config::Config;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const LABELS: &str = "{ labels(first: 5) { nodes { id title accountId } } }";
const INBOXES: &str = "{ inboxes(first: 5) { nodes { id name accountId } } }";

/// How a request carries its credential.
#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Bearer(&'a str),
    ApiKey(&'a str),
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn send(
    http: &reqwest::Client,
    gw: &Gateway,
    auth: Auth<'_>,
    no_cache: bool,
    query: &str,
) -> Value {
    let url = match auth {
        Auth::ApiKey(key) => format!("{}?apikey={key}", gw.url()),
        _ => gw.url(),
    };
    let mut request = http.post(url).json(&json!({ "query": query }));
    if let Auth::Bearer(token) = auth {
        request = request.bearer_auth(token);
    }
    if no_cache {
        request = request.header("cache-control", "no-cache");
    }
    let response = request.send().await.expect("gateway request");
    response.json().await.expect("gateway json")
}

async fn ask(gw: &Gateway, token: &str, query: &str) -> Value {
    send(&client(), gw, Auth::Bearer(token), false, query).await
}

async fn ask_fresh(gw: &Gateway, token: &str, query: &str) -> Value {
    send(&client(), gw, Auth::Bearer(token), true, query).await
}

/// `data` of an answer that must have no errors.
fn data(body: &Value) -> Value {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"].clone()
}

fn config(up: &TestUpstream) -> Config {
    config_for(up, "1.1")
}

/// Every collection fresh for `ms`.
fn ttls(ms: u64, c: Config) -> Config {
    Config {
        cache_ttl_conversation_ms: ms,
        cache_ttl_message_ms: ms,
        cache_ttl_reporting_event_ms: ms,
        cache_ttl_inbox_ms: ms,
        cache_ttl_label_ms: ms,
        cache_ttl_user_ms: ms,
        ..c
    }
}

/// Upstream log entries since `since` for one entity set (lookups included).
async fn requests_to(up: &TestUpstream, since: u64, set: &str) -> Vec<Value> {
    up.requests_since(since)
        .await
        .into_iter()
        .filter(|r| {
            let path = r["path"].as_str().unwrap_or("");
            let Some((_, rest)) = path.split_once("/odata/") else {
                return false;
            };
            rest == set || rest.starts_with(&format!("{set}("))
        })
        .collect()
}

async fn count_to(up: &TestUpstream, since: u64, set: &str) -> usize {
    requests_to(up, since, set).await.len()
}

async fn metrics_text(gw: &Gateway) -> String {
    client()
        .get(format!("http://{}/metrics", gw.addr))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

/// The value of one series, e.g. `gateway_cache_entries` or
/// `gateway_cache_evictions_total{reason="size"}`.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

async fn ready(gw: &Gateway) -> u16 {
    client()
        .get(format!("http://{}/readyz", gw.addr))
        .send()
        .await
        .expect("readyz")
        .status()
        .as_u16()
}

fn all_accounts(data: &Value, list: &str, account: i64) -> bool {
    data[list]["nodes"]
        .as_array()
        .is_some_and(|n| !n.is_empty() && n.iter().all(|r| r["accountId"] == account))
}

#[tokio::test]
async fn cached_answers_never_cross_credentials() {
    let up = private_upstream("layer-isolation");
    let gw = gateway_with(config(up)).await;
    let http = client();

    let before = up.last_seq().await;
    let one = data(&send(&http, &gw, Auth::Bearer(ADMIN_1), false, INBOXES).await);
    assert!(all_accounts(&one, "inboxes", 1), "{one}");
    let again = data(&send(&http, &gw, Auth::Bearer(ADMIN_1), false, INBOXES).await);
    assert_eq!(again, one);
    assert_eq!(
        count_to(up, before, "Inbox").await,
        1,
        "the second came from the cache"
    );

    // Account 2's token: its own upstream request, its own rows.
    let before = up.last_seq().await;
    let two = data(&send(&http, &gw, Auth::Bearer(ADMIN_2), false, INBOXES).await);
    assert!(all_accounts(&two, "inboxes", 2), "{two}");
    let sent = requests_to(up, before, "Inbox").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["account"], 2);

    // No token: refused before any upstream call. A wrong token: the
    // upstream's 401 each time, never cached rows, never a token in the text.
    let before = up.last_seq().await;
    let none = send(&http, &gw, Auth::None, false, INBOXES).await;
    assert_eq!(error_code(&none), Some("UNAUTHENTICATED"), "{none}");
    assert_eq!(count_to(up, before, "Inbox").await, 0);
    for _ in 0..2 {
        let wrong = send(&http, &gw, Auth::Bearer("no-such-token"), false, INBOXES).await;
        assert_eq!(error_code(&wrong), Some("UNAUTHENTICATED"), "{wrong}");
        assert_eq!(wrong["data"], Value::Null, "{wrong}");
        assert!(!wrong.to_string().contains("no-such-token"));
    }
    assert_eq!(
        count_to(up, before, "Inbox").await,
        2,
        "errors are not cached"
    );

    // The same token as an apikey is kept apart from its Bearer form.
    let before = up.last_seq().await;
    let by_key = data(&send(&http, &gw, Auth::ApiKey(ADMIN_1), false, INBOXES).await);
    assert_eq!(by_key, one);
    assert_eq!(count_to(up, before, "Inbox").await, 1);

    // Lookups too, a 404 (null) included, per credential.
    let id = one["inboxes"]["nodes"][0]["id"]
        .as_i64()
        .expect("an inbox id");
    let lookup = format!("{{ inbox(id: {id}) {{ id accountId }} }}");
    let before = up.last_seq().await;
    let mine = data(&send(&http, &gw, Auth::Bearer(ADMIN_1), false, &lookup).await);
    assert_eq!(mine["inbox"]["id"], id);
    let theirs = data(&send(&http, &gw, Auth::Bearer(ADMIN_2), false, &lookup).await);
    assert_eq!(theirs["inbox"], Value::Null, "account 2 cannot see it");
    for token in [ADMIN_1, ADMIN_2] {
        send(&http, &gw, Auth::Bearer(token), false, &lookup).await;
    }
    let mine_again = data(&send(&http, &gw, Auth::Bearer(ADMIN_1), false, &lookup).await);
    assert_eq!(mine_again, mine);
    assert_eq!(
        count_to(up, before, "Inbox").await,
        2,
        "one lookup per token"
    );
    let two_again = data(&send(&http, &gw, Auth::Bearer(ADMIN_2), false, INBOXES).await);
    assert_eq!(two_again, two);
}

/// Fires `n` identical queries at once; all must succeed with one answer.
async fn burst(gw: &Gateway, n: usize, query: &str) -> Value {
    let http = client();
    let calls = (0..n).map(|_| send(&http, gw, Auth::Bearer(ADMIN_1), false, query));
    let bodies = futures::future::join_all(calls).await;
    let first = data(&bodies[0]);
    for body in &bodies {
        assert_eq!(data(body), first);
    }
    first
}

#[tokio::test]
async fn fifty_concurrent_identical_requests_go_upstream_once() {
    let up = private_upstream("layer-coalesce");
    let cached = gateway_with(config(up)).await;
    let uncached = gateway_with(Config {
        cache_max_bytes: 0,
        ..config(up)
    })
    .await;
    // $metadata first, so that the burst is about the data request.
    for gw in [&cached, &uncached] {
        data(&ask(gw, ADMIN_1, "{ users(first: 1) { nodes { id } } }").await);
    }
    // A slow upstream keeps the first request in flight while the rest arrive.
    up.set_fault(json!({"latency_ms": 300, "path_contains": "Label", "count": 1000}))
        .await;
    for gw in [&cached, &uncached] {
        let before = up.last_seq().await;
        let answer = burst(gw, 50, LABELS).await;
        assert!(all_accounts(&answer, "labels", 1), "{answer}");
        assert_eq!(count_to(up, before, "Label").await, 1);
        let text = metrics_text(gw).await;
        let shared = metric(&text, "gateway_upstream_shared_total{collection=\"Label\"}");
        assert!(shared.is_some_and(|n| n > 0.0), "{text}");
    }
    up.clear_faults().await;
    // Without the cache, a later request goes upstream again.
    let before = up.last_seq().await;
    data(&ask(&uncached, ADMIN_1, LABELS).await);
    assert_eq!(count_to(up, before, "Label").await, 1);
}

#[tokio::test]
async fn answers_expire_after_their_collections_ttl() {
    let up = private_upstream("layer-ttl");
    let gw = gateway_with(Config {
        cache_ttl_label_ms: 300,
        cache_ttl_inbox_ms: 60_000,
        ..config(up)
    })
    .await;
    let before = up.last_seq().await;
    let labels = data(&ask(&gw, ADMIN_1, LABELS).await);
    data(&ask(&gw, ADMIN_1, INBOXES).await);
    assert_eq!(data(&ask(&gw, ADMIN_1, LABELS).await), labels);
    data(&ask(&gw, ADMIN_1, INBOXES).await);
    assert_eq!(count_to(up, before, "Label").await, 1);
    assert_eq!(count_to(up, before, "Inbox").await, 1);

    tokio::time::sleep(Duration::from_millis(400)).await;
    let before = up.last_seq().await;
    assert_eq!(data(&ask(&gw, ADMIN_1, LABELS).await), labels);
    data(&ask(&gw, ADMIN_1, INBOXES).await);
    assert_eq!(count_to(up, before, "Label").await, 1, "Label expired");
    assert_eq!(
        count_to(up, before, "Inbox").await,
        0,
        "Inbox is still fresh"
    );
}

#[tokio::test]
async fn no_cache_skips_the_cache_and_refreshes_the_entry() {
    let up = private_upstream("layer-no-cache");
    let gw = gateway_with(ttls(500, config(up))).await;
    let before = up.last_seq().await;
    let labels = data(&ask(&gw, ADMIN_1, LABELS).await);
    let first_stored = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refreshed = Instant::now();
    assert_eq!(data(&ask_fresh(&gw, ADMIN_1, LABELS).await), labels);
    assert_eq!(
        count_to(up, before, "Label").await,
        2,
        "no-cache went upstream"
    );
    // Past the first entry's TTL but within the refreshed one's.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = up.last_seq().await;
    let asked = Instant::now();
    assert_eq!(data(&ask(&gw, ADMIN_1, LABELS).await), labels);
    let answered = Instant::now();
    let ttl = Duration::from_millis(500);
    // Only decisive when this machine kept to the timings.
    if asked > first_stored + ttl && answered < refreshed + ttl {
        assert_eq!(count_to(up, before, "Label").await, 0, "refreshed entry");
    }
}

#[tokio::test]
async fn the_cache_is_bounded_in_bytes() {
    let up = private_upstream("layer-eviction");
    let queries: Vec<String> = (1..=3)
        .map(|n| format!("{{ labels(first: 4, offset: {n}) {{ nodes {{ id title }} }} }}"))
        .collect();
    // Weigh the three answers on a roomy gateway.
    let roomy = gateway_with(config(up)).await;
    let mut total = 0.0;
    for q in &queries {
        data(&ask(&roomy, ADMIN_1, q).await);
        let bytes = metric(&metrics_text(&roomy).await, "gateway_cache_bytes").expect("bytes");
        assert!(bytes > total, "each answer adds bytes");
        total = bytes;
    }
    // One byte too small for all three: the least recently used one goes.
    let capacity = total as u64 - 1;
    let tight = gateway_with(Config {
        cache_max_bytes: capacity,
        response_cache_bytes: 0,
        ..config(up)
    })
    .await;
    for q in &queries {
        data(&ask(&tight, ADMIN_1, q).await);
    }
    let text = metrics_text(&tight).await;
    assert!(metric(&text, "gateway_cache_bytes").is_some_and(|b| b <= capacity as f64));
    assert_eq!(metric(&text, "gateway_cache_entries"), Some(2.0), "{text}");
    assert_eq!(
        metric(&text, "gateway_cache_evictions_total{reason=\"size\"}"),
        Some(1.0),
        "{text}"
    );
    let before = up.last_seq().await;
    data(&ask(&tight, ADMIN_1, &queries[2]).await);
    assert_eq!(count_to(up, before, "Label").await, 0, "the newest stayed");
    data(&ask(&tight, ADMIN_1, &queries[0]).await);
    assert_eq!(count_to(up, before, "Label").await, 1, "the oldest went");
}

#[tokio::test]
async fn a_slow_upstream_times_out_while_other_requests_are_served() {
    let up = private_upstream("layer-timeout");
    let gw = gateway_with(Config {
        upstream_timeout_ms: 300,
        ..config(up)
    })
    .await;
    // A fresh upstream's first reads can pass 300 ms on a loaded machine:
    // warm it directly, so only the injected latency meets the timeout.
    for set in ["Inbox", "Label"] {
        up.odata("1.1", &format!("{set}?$top=1&$skip=0"), ADMIN_1)
            .await;
    }
    data(&ask(&gw, ADMIN_1, INBOXES).await);
    up.set_fault(json!({"latency_ms": 1500, "path_contains": "Label", "count": 5}))
        .await;
    let before = up.last_seq().await;
    let started = Instant::now();
    let slow = ask(&gw, ADMIN_1, LABELS);
    let other = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        ask_fresh(&gw, ADMIN_1, INBOXES).await
    };
    let (slow, other) = tokio::join!(slow, other);
    let elapsed = started.elapsed();
    up.clear_faults().await;
    assert_eq!(error_code(&slow), Some("UPSTREAM_TIMEOUT"), "{slow}");
    assert!(slow["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("300 ms")));
    assert!(
        elapsed < Duration::from_millis(1200),
        "not retried: {elapsed:?}"
    );
    assert_eq!(count_to(up, before, "Label").await, 1);
    assert!(all_accounts(&data(&other), "inboxes", 1));
}

#[tokio::test]
async fn unavailable_upstreams_are_retried_with_backoff() {
    let up = private_upstream("layer-retries");
    let gw = gateway_with(Config {
        upstream_retries: 2,
        retry_backoff_ms: 20,
        retry_max_delay_ms: 1_500,
        cache_max_bytes: 0,
        ..config(up)
    })
    .await;
    data(&ask(&gw, ADMIN_1, INBOXES).await);

    // Down for good: the first attempt and two retries, then the error.
    up.set_fault(json!({"status": 503, "body": "down", "path_contains": "Label", "count": 1000}))
        .await;
    let before = up.last_seq().await;
    let body = ask(&gw, ADMIN_1, LABELS).await;
    up.clear_faults().await;
    assert_eq!(error_code(&body), Some("UPSTREAM_UNAVAILABLE"), "{body}");
    let sent = requests_to(up, before, "Label").await;
    let statuses: Vec<_> = sent.iter().map(|r| r["status"].clone()).collect();
    assert_eq!(statuses, vec![json!(503); 3]);

    // A blip: ridden out by a retry.
    for status in [502, 503, 504] {
        up.set_fault(json!({"status": status, "path_contains": "Label", "count": 1}))
            .await;
        let before = up.last_seq().await;
        data(&ask(&gw, ADMIN_1, LABELS).await);
        let statuses: Vec<_> = requests_to(up, before, "Label")
            .await
            .iter()
            .map(|r| r["status"].clone())
            .collect();
        assert_eq!(statuses, vec![json!(status), json!(200)]);
    }

    // Retry-After is honoured, up to retry_max_delay_ms.
    up.set_fault(json!({"status": 503, "retry_after": 1, "path_contains": "Label", "count": 1}))
        .await;
    let started = Instant::now();
    data(&ask(&gw, ADMIN_1, LABELS).await);
    assert!(started.elapsed() >= Duration::from_millis(1000));
    up.set_fault(json!({"status": 503, "retry_after": 60, "path_contains": "Label", "count": 1}))
        .await;
    let started = Instant::now();
    data(&ask(&gw, ADMIN_1, LABELS).await);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1500) && waited < Duration::from_secs(10));

    // Not retried: a 500, and anything 4xx.
    up.set_fault(json!({"status": 500, "path_contains": "Label", "count": 1}))
        .await;
    let before = up.last_seq().await;
    let body = ask(&gw, ADMIN_1, LABELS).await;
    assert_eq!(error_code(&body), Some("UPSTREAM_UNAVAILABLE"), "{body}");
    assert_eq!(count_to(up, before, "Label").await, 1);
    let retries = metric(
        &metrics_text(&gw).await,
        "gateway_upstream_retries_total{collection=\"Label\"}",
    );
    assert_eq!(retries, Some(7.0));
}

#[tokio::test]
async fn an_invalid_answer_is_an_error_and_never_cached() {
    let up = private_upstream("layer-invalid");
    let gw = gateway_with(config(up)).await;
    data(&ask(&gw, ADMIN_1, INBOXES).await);
    // Every attempt garbled (one garbled answer alone is retried away).
    up.set_fault(json!({"body": "<html>not json</html>", "content_type": "text/html", "path_contains": "Label"}))
        .await;
    let body = ask(&gw, ADMIN_1, LABELS).await;
    up.clear_faults().await;
    assert_eq!(
        error_code(&body),
        Some("UPSTREAM_INVALID_RESPONSE"),
        "{body}"
    );
    let before = up.last_seq().await;
    assert!(all_accounts(
        &data(&ask(&gw, ADMIN_1, LABELS).await),
        "labels",
        1
    ));
    assert_eq!(count_to(up, before, "Label").await, 1);
}

#[tokio::test]
async fn the_circuit_opens_answers_at_once_and_recovers() {
    let up = private_upstream("layer-circuit");
    let gw = gateway_with(Config {
        circuit_failure_threshold: 3,
        circuit_cooldown_ms: 400,
        // One trial closes it (tests/resilience.rs has several).
        circuit_half_open_requests: 1,
        upstream_retries: 0,
        ..config(up)
    })
    .await;
    let inboxes = data(&ask(&gw, ADMIN_1, INBOXES).await);
    assert_eq!(ready(&gw).await, 200);
    up.set_fault(json!({"status": 503, "body": "down", "path_contains": "Label", "count": 1000}))
        .await;
    let before = up.last_seq().await;
    for _ in 0..3 {
        let body = ask(&gw, ADMIN_1, LABELS).await;
        assert_eq!(error_code(&body), Some("UPSTREAM_UNAVAILABLE"), "{body}");
    }
    assert_eq!(count_to(up, before, "Label").await, 3);

    // Open: an answer at once, nothing sent, not ready.
    let started = Instant::now();
    let body = ask(&gw, ADMIN_1, LABELS).await;
    assert!(started.elapsed() < Duration::from_millis(200));
    assert_eq!(error_code(&body), Some("UPSTREAM_UNAVAILABLE"), "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("circuit open")));
    assert_eq!(count_to(up, before, "Label").await, 3);
    assert_eq!(ready(&gw).await, 503);
    let text = metrics_text(&gw).await;
    assert_eq!(metric(&text, "gateway_upstream_circuit_state"), Some(1.0));
    // Cached answers are still served, and health is fine.
    assert_eq!(data(&ask(&gw, ADMIN_1, INBOXES).await), inboxes);
    let health = client()
        .get(format!("http://{}/healthz", gw.addr))
        .send()
        .await
        .expect("healthz");
    assert!(health.status().is_success());

    // After the cool-down, one trial closes it again.
    up.clear_faults().await;
    tokio::time::sleep(Duration::from_millis(450)).await;
    let before = up.last_seq().await;
    assert!(all_accounts(
        &data(&ask(&gw, ADMIN_1, LABELS).await),
        "labels",
        1
    ));
    assert_eq!(count_to(up, before, "Label").await, 1);
    assert_eq!(ready(&gw).await, 200);
    let text = metrics_text(&gw).await;
    assert_eq!(metric(&text, "gateway_upstream_circuit_state"), Some(0.0));
}

#[tokio::test]
async fn stale_answers_are_served_when_the_upstream_fails() {
    let up = private_upstream("layer-stale");
    let base = Config {
        upstream_retries: 0,
        stale_if_error_ms: 60_000,
        ..ttls(200, config(up))
    };
    let gw = gateway_with(base.clone()).await;
    let without = gateway_with(Config {
        stale_if_error_ms: 0,
        ..base
    })
    .await;
    let fresh = ask(&gw, ADMIN_1, LABELS).await;
    let labels = data(&fresh);
    assert!(fresh.get("extensions").is_none(), "{fresh}");
    data(&ask(&without, ADMIN_1, LABELS).await);
    tokio::time::sleep(Duration::from_millis(300)).await;

    up.set_fault(json!({"status": 503, "body": "down", "path_contains": "Label", "count": 1000}))
        .await;
    let stale = ask(&gw, ADMIN_1, LABELS).await;
    assert_eq!(data(&stale), labels);
    assert_eq!(stale["extensions"]["stale"], true, "{stale}");
    // no-cache asks upstream first, and falls back the same way.
    let stale = ask_fresh(&gw, ADMIN_1, LABELS).await;
    assert_eq!(data(&stale), labels);
    assert_eq!(stale["extensions"]["stale"], true, "{stale}");
    // Nothing to fall back on: another token, another query, no window.
    for body in [
        ask(&gw, ADMIN_2, LABELS).await,
        ask(&gw, ADMIN_1, "{ labels(first: 2) { nodes { id } } }").await,
        ask(&without, ADMIN_1, LABELS).await,
    ] {
        assert_eq!(error_code(&body), Some("UPSTREAM_UNAVAILABLE"), "{body}");
        assert!(body.get("extensions").is_none(), "{body}");
    }
    up.clear_faults().await;
    let back = ask(&gw, ADMIN_1, LABELS).await;
    assert_eq!(data(&back), labels);
    assert!(back.get("extensions").is_none(), "fresh again: {back}");
}

#[tokio::test]
async fn the_concurrency_bound_queues_then_refuses() {
    let up = private_upstream("layer-bound");
    let gw = gateway_with(Config {
        max_concurrent_upstream: 1,
        upstream_queue_timeout_ms: 150,
        upstream_retries: 0,
        ..config(up)
    })
    .await;
    data(&ask(&gw, ADMIN_1, "{ users(first: 1) { nodes { id } } }").await);
    up.set_fault(json!({"latency_ms": 800, "path_contains": "Label", "count": 1}))
        .await;
    let slow = ask(&gw, ADMIN_1, LABELS);
    let queued = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ask(&gw, ADMIN_1, INBOXES).await
    };
    let (slow, queued) = tokio::join!(slow, queued);
    assert!(all_accounts(&data(&slow), "labels", 1));
    assert_eq!(
        error_code(&queued),
        Some("UPSTREAM_UNAVAILABLE"),
        "{queued}"
    );
    assert!(queued["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("max_concurrent_upstream")));
    assert!(all_accounts(
        &data(&ask(&gw, ADMIN_1, INBOXES).await),
        "inboxes",
        1
    ));
}

#[tokio::test]
async fn metrics_are_prometheus_text_without_secrets() {
    let up = upstream();
    let gw = gateway_with(config(up)).await;
    data(&ask(&gw, ADMIN_1, INBOXES).await);
    // Another document, same upstream request: an upstream cache hit.
    data(&ask(&gw, ADMIN_1, &format!("{INBOXES} ")).await);
    // The same document: a whole response reused.
    data(&ask(&gw, ADMIN_1, INBOXES).await);
    let bad = ask(&gw, ADMIN_1, "{ inboxes(first: -1) { nodes { id } } }").await;
    assert_eq!(error_code(&bad), Some("BAD_USER_INPUT"));
    let response = client()
        .get(format!("http://{}/metrics", gw.addr))
        .send()
        .await
        .expect("metrics");
    assert!(response.status().is_success());
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(content_type.contains("text"), "{content_type}");
    let text = response.text().await.expect("text");
    let at_least_one = [
        "gateway_upstream_requests_total{collection=\"Inbox\",status=\"200\"}",
        "gateway_upstream_request_duration_seconds_count{collection=\"Inbox\"}",
        "gateway_cache_hits_total{collection=\"Inbox\"}",
        "gateway_cache_misses_total{collection=\"Inbox\"}",
        "gateway_cache_bytes",
        "gateway_cache_entries",
        "gateway_graphql_requests_total",
        "gateway_graphql_errors_total{code=\"BAD_USER_INPUT\"}",
        "gateway_response_cache_hits_total",
        "gateway_response_cache_misses_total",
    ];
    for series in at_least_one {
        assert!(
            metric(&text, series).is_some_and(|v| v >= 1.0),
            "{series} in:\n{text}"
        );
    }
    assert_eq!(metric(&text, "gateway_upstream_circuit_state"), Some(0.0));
    assert!(
        !text.contains("admin-token") && !text.contains("http://"),
        "{text}"
    );
}
