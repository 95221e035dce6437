//! A request past `request_timeout_ms` cancels the upstream work nobody
//! else waits for: the upstream sees its connection closed (`aborted` in
//! its log) instead of a request finishing in the background. Work another
//! request shares goes on and answers it. Each test has its own upstream,
//! held slow by a fault on one collection, and a gateway whose probes (if
//! on) ran before.

mod common;

use common::*;
use liveagent_graphql::config::Config;
use serde_json::{json, Value};
use std::time::Duration;

const LABELS: &str = "{ labels(first: 5) { nodes { id title } } }";

async fn gateway_timing_out_at(up: &TestUpstream, timeout_ms: u64) -> Gateway {
    let gw = gateway_with(Config {
        request_timeout_ms: timeout_ms,
        cache_max_bytes: 0,
        ..config_for(up, "1.1")
    })
    .await;
    probes_settled(&gw).await;
    gw
}

/// The upstream's log entries since `since` whose path ends in `/collection`.
async fn requests_to(up: &TestUpstream, since: u64, collection: &str) -> Vec<Value> {
    let suffix = format!("/{collection}");
    up.requests_since(since)
        .await
        .into_iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with(&suffix)))
        .collect()
}

/// Waits (bounded) until every request to `collection` since `since` has
/// ended, answered or aborted, and returns them.
async fn settled(up: &TestUpstream, since: u64, collection: &str) -> Vec<Value> {
    for _ in 0..50 {
        let found = requests_to(up, since, collection).await;
        if !found.is_empty() && found.iter().all(|r| !r["ms"].is_null()) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    requests_to(up, since, collection).await
}

#[tokio::test]
async fn a_timed_out_request_closes_its_upstream_request() {
    let up = private_upstream("cancel_alone");
    let gw = gateway_timing_out_at(up, 400).await;
    let since = up.last_seq().await;
    up.set_fault(json!({"latency_ms": 4000, "path_contains": "Label"}))
        .await;
    let body = gw.query(Some(ADMIN_1), LABELS, json!({})).await;
    assert_eq!(error_code(&body), Some("UPSTREAM_TIMEOUT"), "{body}");
    let labels = settled(up, since, "Label").await;
    up.clear_faults().await;
    assert_eq!(labels.len(), 1, "{labels:?}");
    assert_eq!(
        labels[0]["aborted"], true,
        "closed, not left running: {labels:?}"
    );
    let ms = labels[0]["ms"].as_f64().unwrap_or(f64::MAX);
    assert!(ms < 2000.0, "closed at {ms} ms, well before the 4 s answer");
    // The key is free again: the next query goes upstream and is answered.
    let data = gw.data(ADMIN_1, LABELS, json!({})).await;
    assert!(!data["labels"]["nodes"].as_array().is_none_or(Vec::is_empty));
}

#[tokio::test]
async fn relation_lookups_of_a_timed_out_request_are_closed_too() {
    let up = private_upstream("cancel_lookups");
    let gw = gateway_timing_out_at(up, 500).await;
    let since = up.last_seq().await;
    up.set_fault(json!({"latency_ms": 4000, "path_contains": "/User"}))
        .await;
    let query = "{ conversations(first: 20) { nodes { id assignee { name } } } }";
    let body = gw.query(Some(ADMIN_1), query, json!({})).await;
    assert_eq!(error_code(&body), Some("UPSTREAM_TIMEOUT"), "{body}");
    let users = settled(up, since, "User").await;
    up.clear_faults().await;
    assert!(!users.is_empty(), "the lookup reached the upstream");
    assert!(
        users.iter().all(|r| r["aborted"] == true),
        "every lookup closed: {users:?}"
    );
}

#[tokio::test]
async fn shared_work_goes_on_for_the_request_still_waiting() {
    let up = private_upstream("cancel_shared");
    let gw = gateway_timing_out_at(up, 1500).await;
    let since = up.last_seq().await;
    up.set_fault(json!({"latency_ms": 2000, "path_contains": "Label"}))
        .await;
    let first = gw.query(Some(ADMIN_1), LABELS, json!({}));
    let second = async {
        // Joins the first one's upstream request 800 ms in; the first gives
        // up at 1.5 s, this one would at 2.3 s, the answer comes at 2 s.
        tokio::time::sleep(Duration::from_millis(800)).await;
        gw.query(Some(ADMIN_1), LABELS, json!({})).await
    };
    let (first, second) = tokio::join!(first, second);
    up.clear_faults().await;
    assert_eq!(error_code(&first), Some("UPSTREAM_TIMEOUT"), "{first}");
    assert!(second.get("errors").is_none(), "{second}");
    assert!(second["data"]["labels"]["nodes"].is_array(), "{second}");
    let labels = settled(up, since, "Label").await;
    assert_eq!(labels.len(), 1, "one shared request: {labels:?}");
    assert_eq!(labels[0]["status"], 200, "{labels:?}");
    assert!(labels[0].get("aborted").is_none(), "{labels:?}");
}

#[tokio::test]
async fn a_client_that_disconnects_closes_its_upstream_request() {
    let up = private_upstream("cancel_disconnect");
    let gw = gateway_timing_out_at(up, 60_000).await;
    let since = up.last_seq().await;
    up.set_fault(json!({"latency_ms": 4000, "path_contains": "Label"}))
        .await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(400))
        .build()
        .expect("client");
    let sent = impatient
        .post(gw.url())
        .bearer_auth(ADMIN_1)
        .json(&json!({ "query": LABELS }))
        .send()
        .await;
    assert!(sent.is_err(), "the client gave up first");
    let labels = settled(up, since, "Label").await;
    up.clear_faults().await;
    assert_eq!(labels.len(), 1, "{labels:?}");
    assert_eq!(labels[0]["aborted"], true, "{labels:?}");
}
