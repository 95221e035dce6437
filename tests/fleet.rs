//! Several instances sharing one Redis (the L2 cache) over HTTP: an answer
//! one instance fetched is the other's without an upstream request, never
//! another credential's; a Redis that stops fails no request (and shows in
//! /metrics); once it is back it is used again; identical cold queries sent
//! to both at once go upstream once. Each test starts its own
//! `redis-server` on a free port, and each instance is its own gateway
//! process.

mod common;

use common::*;
use liveagent_graphql::config::Config;
use serde_json::{json, Value};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "fleet-test-secret-0123456789";

/// One `redis-server`, killed when dropped.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut redis = Redis { port, child: None };
        redis.restart();
        redis
    }

    /// Starts (again) on the same port, empty, and waits until it listens.
    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): the shared-cache tests need it (apt-get install redis-server; scripts/setup.sh --tests does)")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An instance: the whole-response cache off (it would hide the upstream
/// layer), a generous Redis timeout (a loaded test machine is slow).
fn instance(up: &TestUpstream, redis: &Redis) -> Config {
    Config {
        redis_url: Some(redis.url()),
        cache_key_secret: Some(SECRET.to_string().into()),
        redis_timeout_ms: 1_000,
        response_cache_bytes: 0,
        ..config_for(up, "1.1")
    }
}

fn labels(first: u32) -> String {
    format!("{{ labels(first: {first}) {{ nodes {{ id title accountId }} }} }}")
}

/// A series of `/metrics`; 0 when absent (a counter not yet counted).
async fn metric(gw: &Gateway, series: &str) -> f64 {
    metric_of(gw, series).await.unwrap_or(0.0)
}

fn account_ids(data: &Value) -> Vec<i64> {
    data["labels"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["accountId"].as_i64())
        .collect()
}

/// The L2 write is in the background: give it a moment.
async fn written() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn an_answer_of_one_replica_is_the_others_and_only_for_its_credential() {
    let redis = Redis::start();
    let up = private_upstream("fleet_shared");
    let a = gateway_process(instance(up, &redis)).await;
    let b = gateway_process(instance(up, &redis)).await;
    let query = labels(5);
    let from_a = a.data(ADMIN_1, &query, json!({})).await;
    written().await;
    let since = up.last_seq().await;
    let from_b = b.data(ADMIN_1, &query, json!({})).await;
    assert_eq!(from_b, from_a);
    assert_eq!(up.data_requests_since(since).await, Vec::<String>::new());
    assert_eq!(
        metric(&b, "gateway_cache_l2_hits_total{collection=\"Label\"}").await,
        1.0
    );
    // Another credential: its own upstream request, its own account's rows.
    let since = up.last_seq().await;
    let other = b.data(ADMIN_2, &query, json!({})).await;
    assert_eq!(up.data_requests_since(since).await.len(), 1);
    let (mine, theirs) = (account_ids(&from_a), account_ids(&other));
    assert!(!mine.is_empty() && !theirs.is_empty());
    assert!(
        theirs.iter().all(|id| !mine.contains(id)),
        "{mine:?} {theirs:?}"
    );
}

#[tokio::test]
async fn a_redis_that_stops_fails_no_request_and_is_used_again_once_back() {
    let mut redis = Redis::start();
    let up = private_upstream("fleet_redis_down");
    let a = gateway_process(instance(up, &redis)).await;
    let b = gateway_process(instance(up, &redis)).await;
    let query = labels(4);
    let first = a.data(ADMIN_1, &query, json!({})).await;
    written().await;

    redis.stop();
    // A from its own cache, B from the upstream: both answer.
    let since = up.last_seq().await;
    assert_eq!(a.data(ADMIN_1, &query, json!({})).await, first);
    assert_eq!(up.data_requests_since(since).await, Vec::<String>::new());
    assert_eq!(b.data(ADMIN_1, &query, json!({})).await, first);
    assert_eq!(up.data_requests_since(since).await.len(), 1);
    let cold = "{ inboxes(first: 2) { nodes { id } } }";
    a.data(ADMIN_1, cold, json!({})).await;
    assert!(metric(&a, "gateway_redis_errors_total").await >= 1.0);
    assert!(metric(&b, "gateway_redis_errors_total").await >= 1.0);

    redis.restart();
    // Each instance rests a little after its errors: within seconds, an
    // answer A fetches is B's again.
    let deadline = Instant::now() + Duration::from_secs(15);
    for first in 6.. {
        assert!(
            Instant::now() < deadline,
            "the shared cache was not used again"
        );
        let query = labels(first);
        a.data(ADMIN_1, &query, json!({})).await;
        written().await;
        let since = up.last_seq().await;
        b.data(ADMIN_1, &query, json!({})).await;
        if up.data_requests_since(since).await.is_empty() {
            break;
        }
    }
}

/// Answers both instances took from Redis: waiting on a lease, or found.
async fn from_redis(a: &Gateway, b: &Gateway) -> f64 {
    let mut sum = 0.0;
    for gw in [a, b] {
        sum += metric(gw, "gateway_cache_l2_coalesced_total").await;
        sum += metric(gw, "gateway_cache_l2_hits_total{collection=\"Label\"}").await;
    }
    sum
}

#[tokio::test]
async fn identical_cold_queries_to_two_replicas_go_upstream_once() {
    let redis = Redis::start();
    let up = private_upstream("fleet_coalescing");
    let a = gateway_process(instance(up, &redis)).await;
    let b = gateway_process(instance(up, &redis)).await;
    // Warm both instances' connections (and nothing else).
    a.data(ADMIN_2, &labels(1), json!({})).await;
    b.data(ADMIN_2, &labels(1), json!({})).await;
    let query = labels(7);
    let before = from_redis(&a, &b).await;
    let since = up.last_seq().await;
    let (from_a, from_b) = tokio::join!(
        a.data(ADMIN_1, &query, json!({})),
        b.data(ADMIN_1, &query, json!({}))
    );
    assert_eq!(from_a, from_b);
    assert_eq!(
        up.data_requests_since(since).await.len(),
        1,
        "one instance fetched, the other waited for its answer"
    );
    // The other took it from Redis: on its lease, or just after the write.
    assert_eq!(from_redis(&a, &b).await - before, 1.0);
}

#[tokio::test]
async fn an_upstream_failure_is_answered_stale_from_the_other_replicas_answer() {
    let redis = Redis::start();
    let up = private_upstream("fleet_stale");
    let config = || Config {
        cache_ttl_label_ms: 300,
        upstream_retries: 0,
        ..instance(up, &redis)
    };
    let a = gateway_process(config()).await;
    let b = gateway_process(config()).await;
    let query = labels(3);
    let fresh = a.data(ADMIN_1, &query, json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    up.set_fault(json!({"status": 503, "path_contains": "Label", "count": 1000}))
        .await;
    let body = b.query(Some(ADMIN_1), &query, json!({})).await;
    up.clear_faults().await;
    assert_eq!(body["data"], fresh, "{body}");
    assert_eq!(body["extensions"]["stale"], json!(true), "{body}");
}
