//! Resilience against an unlucky upstream, over HTTP: transient 503s are
//! absorbed by retries, a down upstream opens the circuit (by failure rate
//! over the window) so queries fail fast, a recovered upstream answers again
//! within the cool-down, and the retry budget keeps retries from multiplying
//! an outage. Each test has a private test upstream; the cache is off so
//! every query is one upstream request; windows are short.

mod common;

use common::*;
use liveagent_graphql::config::Config;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const LABELS: &str = "{ labels(first: 5) { nodes { id title accountId } } }";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn ask(gw: &Gateway, query: &str) -> Value {
    client()
        .post(gw.url())
        .bearer_auth(ADMIN_1)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("gateway request")
        .json()
        .await
        .expect("gateway json")
}

fn answered(body: &Value) -> bool {
    body.get("errors").is_none() && body["data"]["labels"]["nodes"].is_array()
}

fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or("")
}

/// Every query one upstream request, quick retries.
fn config(up: &TestUpstream) -> Config {
    Config {
        cache_max_bytes: 0,
        retry_backoff_ms: 2,
        retry_max_delay_ms: 10,
        ..config_for(up, "1.1")
    }
}

async fn get_text(gw: &Gateway, path: &str) -> (u16, String) {
    let r = client()
        .get(format!("http://{}{path}", gw.addr))
        .send()
        .await
        .expect(path);
    let status = r.status().as_u16();
    (status, r.text().await.expect("text"))
}

/// The value of one series, e.g. `gateway_upstream_circuit_state`.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Upstream requests to Label since `since`, by status.
async fn label_statuses(up: &TestUpstream, since: u64) -> Vec<u64> {
    up.requests_since(since)
        .await
        .into_iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with("/Label")))
        .map(|r| r["status"].as_u64().unwrap_or(0))
        .collect()
}

#[tokio::test]
async fn thirty_percent_transient_503s_are_absorbed_by_retries() {
    let up = private_upstream("resilience-flaky");
    // The breaker and the retry budget at their defaults. 5 retries leave
    // 0.07% of the queries failed, so that 3 failures of 200 (1.5%) are
    // practically impossible and the test is not flaky.
    let gw = gateway_with(Config {
        upstream_retries: 5,
        ..config(up)
    })
    .await;
    assert!(answered(&ask(&gw, LABELS).await));
    up.set_fault(json!({"status": 503, "body": "busy", "retry_after": 1, "rate": 0.3, "path_contains": "Label"}))
        .await;
    let before = up.last_seq().await;
    let total = 200;
    let mut ok = 0;
    for _ in 0..total {
        let body = ask(&gw, LABELS).await;
        if answered(&body) {
            ok += 1;
        } else {
            eprintln!("not answered: {body}");
            assert_eq!(error_code(&body), Some("UPSTREAM_UNAVAILABLE"), "{body}");
        }
    }
    up.clear_faults().await;
    let statuses = label_statuses(up, before).await;
    let failed = statuses.iter().filter(|s| **s == 503).count();
    eprintln!(
        "30% 503s: {ok} of {total} queries answered; {failed} of {} upstream requests were 503",
        statuses.len()
    );
    assert!(ok * 100 >= total * 99, "{ok} of {total} answered");
    // The fault did hit about 30% of the attempts.
    let share = failed as f64 / statuses.len() as f64;
    assert!((0.2..0.4).contains(&share), "{share}");
    let (_, text) = get_text(&gw, "/metrics").await;
    assert_eq!(metric(&text, "gateway_upstream_circuit_state"), Some(0.0));
    let retries = metric(
        &text,
        "gateway_upstream_retries_total{collection=\"Label\"}",
    );
    assert_eq!(retries, Some((statuses.len() - total) as f64));
    assert_eq!(
        metric(
            &text,
            "gateway_upstream_retries_refused_total{collection=\"Label\"}"
        )
        .unwrap_or(0.0),
        0.0
    );
}

#[tokio::test]
async fn a_down_upstream_fails_fast_and_recovers_within_the_cooldown() {
    let up = private_upstream("resilience-down");
    let cooldown = Duration::from_millis(400);
    let gw = gateway_with(Config {
        upstream_retries: 2,
        // The rate rule alone opens the circuit here.
        circuit_failure_threshold: 1_000,
        circuit_failure_rate: 50,
        circuit_min_requests: 10,
        circuit_window_ms: 5_000,
        circuit_cooldown_ms: cooldown.as_millis() as u64,
        circuit_half_open_requests: 3,
        ..config(up)
    })
    .await;
    assert!(answered(&ask(&gw, LABELS).await));
    assert_eq!(get_text(&gw, "/readyz").await.0, 200);

    up.set_fault(
        json!({"status": 503, "body": "down", "path_contains": "Label", "count": 100_000}),
    )
    .await;
    // With a success or two before (the first query's), at most 10
    // requests in the window open the circuit at 50%.
    let mut failed = 0;
    loop {
        let body = ask(&gw, LABELS).await;
        assert_eq!(error_code(&body), Some("UPSTREAM_UNAVAILABLE"), "{body}");
        if message(&body).contains("circuit open") {
            break;
        }
        failed += 1;
        assert!(failed <= 10, "still closed after {failed} failed queries");
    }
    let opened = Instant::now();
    let (status, text) = get_text(&gw, "/readyz").await;
    assert_eq!(status, 503);
    assert!(
        text.contains(&format!("circuit open: {failed} of ")),
        "{text}"
    );
    let (_, text) = get_text(&gw, "/metrics").await;
    assert_eq!(metric(&text, "gateway_upstream_circuit_state"), Some(1.0));
    let requests = metric(&text, "gateway_upstream_circuit_window_requests").unwrap_or(0.0);
    assert_eq!(
        metric(&text, "gateway_upstream_circuit_window_failures"),
        Some(f64::from(failed))
    );
    assert!(
        requests >= 10.0 && f64::from(failed) * 2.0 >= requests,
        "{requests}"
    );

    // Open: every query fails at once, nothing is sent.
    let before = up.last_seq().await;
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let body = ask(&gw, LABELS).await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(error_code(&body), Some("UPSTREAM_UNAVAILABLE"), "{body}");
        assert!(message(&body).contains("circuit open"), "{body}");
        if opened.elapsed() + Duration::from_millis(100) > cooldown {
            break;
        }
    }
    eprintln!("upstream down: the slowest refused query took {slowest:?}");
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
    assert!(label_statuses(up, before).await.is_empty());

    // Back up: answers again once the cool-down is over.
    up.clear_faults().await;
    let first = loop {
        let body = ask(&gw, LABELS).await;
        if answered(&body) {
            break opened.elapsed();
        }
        assert!(message(&body).contains("circuit open"), "{body}");
        assert!(
            opened.elapsed() < cooldown * 2,
            "no answer after {cooldown:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!(
        "upstream back: answered {first:?} after the circuit opened (cool-down {cooldown:?})"
    );
    assert!(first >= cooldown && first < cooldown + Duration::from_millis(300));
    // Three trials in all close it.
    let (_, text) = get_text(&gw, "/metrics").await;
    assert_eq!(metric(&text, "gateway_upstream_circuit_state"), Some(2.0));
    for _ in 0..2 {
        assert!(answered(&ask(&gw, LABELS).await));
    }
    let (_, text) = get_text(&gw, "/metrics").await;
    assert_eq!(metric(&text, "gateway_upstream_circuit_state"), Some(0.0));
    assert_eq!(get_text(&gw, "/readyz").await.0, 200);
}

#[tokio::test]
async fn a_failed_trial_opens_the_circuit_again() {
    let up = private_upstream("resilience-trial");
    let gw = gateway_with(Config {
        upstream_retries: 0,
        circuit_failure_threshold: 2,
        circuit_cooldown_ms: 200,
        ..config(up)
    })
    .await;
    up.set_fault(
        json!({"status": 503, "body": "down", "path_contains": "Label", "count": 100_000}),
    )
    .await;
    for _ in 0..2 {
        ask(&gw, LABELS).await;
    }
    assert!(message(&ask(&gw, LABELS).await).contains("2 upstream requests in a row failed"));
    tokio::time::sleep(Duration::from_millis(250)).await;
    let before = up.last_seq().await;
    let body = ask(&gw, LABELS).await;
    assert!(!message(&body).contains("circuit open"), "a trial: {body}");
    assert_eq!(label_statuses(up, before).await, vec![503]);
    let body = ask(&gw, LABELS).await;
    assert!(
        message(&body).contains("circuit open: a trial request"),
        "{body}"
    );
    assert_eq!(label_statuses(up, before).await.len(), 1);
    // A 4xx is no failure: the answer is the client's business.
    up.clear_faults().await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    for _ in 0..3 {
        assert!(answered(&ask(&gw, LABELS).await));
    }
    up.set_fault(
        json!({"status": 404, "body": "gone", "path_contains": "Label", "count": 100_000}),
    )
    .await;
    for _ in 0..5 {
        let body = ask(&gw, LABELS).await;
        assert!(!message(&body).contains("circuit open"), "{body}");
    }
    up.clear_faults().await;
    let (_, text) = get_text(&gw, "/metrics").await;
    assert_eq!(metric(&text, "gateway_upstream_circuit_state"), Some(0.0));
}

#[tokio::test]
async fn a_refused_connection_opens_the_circuit_too() {
    let gw = gateway_with(Config {
        // Nothing listens on port 9.
        upstream: Some("http://127.0.0.1:9/v1.1/odata".into()),
        cache_max_bytes: 0,
        retry_backoff_ms: 2,
        retry_max_delay_ms: 10,
        circuit_failure_threshold: 1_000,
        circuit_min_requests: 5,
        ..base_config()
    })
    .await;
    for _ in 0..5 {
        let body = ask(&gw, LABELS).await;
        assert_eq!(error_code(&body), Some("UPSTREAM_UNAVAILABLE"), "{body}");
    }
    let started = Instant::now();
    let body = ask(&gw, LABELS).await;
    let took = started.elapsed();
    assert!(
        message(&body).contains("circuit open: 5 of 5 upstream requests failed"),
        "{body}"
    );
    assert!(took < Duration::from_secs(1), "{took:?}");
    let (status, text) = get_text(&gw, "/readyz").await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("circuit open"), "{text}");
}

#[tokio::test]
async fn the_retry_budget_keeps_retries_from_multiplying_an_outage() {
    let up = private_upstream("resilience-budget");
    let gw = gateway_with(Config {
        upstream_retries: 3,
        // Breaker off: only the budget bounds the retries.
        circuit_failure_threshold: 0,
        retry_budget_percent: 20,
        retry_budget_min_per_second: 1,
        circuit_window_ms: 10_000,
        ..config(up)
    })
    .await;
    up.set_fault(
        json!({"status": 503, "body": "down", "path_contains": "Label", "count": 100_000}),
    )
    .await;
    let before = up.last_seq().await;
    let queries: u32 = 30;
    for _ in 0..queries {
        let body = ask(&gw, LABELS).await;
        assert_eq!(error_code(&body), Some("UPSTREAM_UNAVAILABLE"), "{body}");
    }
    up.clear_faults().await;
    // At most 20% of 30 requests plus 1 a second over 10 s: 16 retries,
    // where 3 retries each would have sent 120 requests.
    let sent = label_statuses(up, before).await.len();
    eprintln!("outage: {queries} queries sent {sent} upstream requests");
    assert_eq!(sent, queries as usize + 16);
    let (_, text) = get_text(&gw, "/metrics").await;
    assert_eq!(
        metric(
            &text,
            "gateway_upstream_retries_total{collection=\"Label\"}"
        ),
        Some(16.0)
    );
    // Queries 1 to 3 retried 3 times each, from the 4th on every query's
    // last retry was refused.
    assert_eq!(
        metric(
            &text,
            "gateway_upstream_retries_refused_total{collection=\"Label\"}"
        ),
        Some(f64::from(queries - 3))
    );
}

#[tokio::test]
async fn a_garbled_success_is_asked_again() {
    let up = private_upstream("resilience_garbled");
    let gw = gateway_with(config(up)).await;
    let garbage = json!({"status": 200, "content_type": "application/json",
        "body": "<html>proxy error</html>", "path_contains": "Label"});
    // Once: the retry gets the real answer.
    let since = up.last_seq().await;
    let mut once = garbage.clone();
    once["count"] = json!(1);
    up.set_fault(once).await;
    let body = ask(&gw, LABELS).await;
    assert!(answered(&body), "{body}");
    assert_eq!(label_statuses(up, since).await, vec![200, 200]);
    // Always: the retries run out and the answer is the upstream's fault.
    let since = up.last_seq().await;
    up.set_fault(garbage).await;
    let body = ask(&gw, LABELS).await;
    up.clear_faults().await;
    assert_eq!(
        error_code(&body),
        Some("UPSTREAM_INVALID_RESPONSE"),
        "{body}"
    );
    assert_eq!(
        label_statuses(up, since).await.len(),
        4,
        "one request and 3 retries"
    );
}
