//! Whole responses reused over HTTP: a repeated operation is answered with
//! no upstream request, only to the same client, only while the upstream
//! answers it was built from are fresh; `no-cache` refreshes it; responses
//! with errors are never kept. Conditional requests: `ETag` and `304`.

mod common;

use common::*;
use liveagent_graphql::config::Config;
use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use serde_json::{json, Value};
use std::time::Duration;

const LABELS: &str = "{ labels(first: 5) { nodes { id title accountId } } }";
const MIXED: &str =
    "{ labels(first: 2) { nodes { id } } conversations(first: 2) { nodes { id } } }";

/// Status, `ETag` and body (empty for a 304) of one POST.
async fn post(
    gw: &Gateway,
    token: &str,
    query: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut request = reqwest::Client::new()
        .post(gw.url())
        .bearer_auth(token)
        .json(&json!({ "query": query }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("post");
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, etag, response.text().await.expect("body"))
}

fn account_ids(body: &str) -> Vec<i64> {
    let body: Value = serde_json::from_str(body).expect("json");
    body["data"]["labels"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["accountId"].as_i64())
        .collect()
}

#[tokio::test]
async fn a_repeat_is_answered_without_the_upstream_and_only_to_its_client() {
    let up = private_upstream("response_cache_repeat");
    let gw = gateway_with(config_for(up, "1.1")).await;
    let (status, _, first) = post(&gw, ADMIN_1, LABELS, &[]).await;
    assert_eq!(status, 200, "{first}");
    let since = up.last_seq().await;
    let (_, _, again) = post(&gw, ADMIN_1, LABELS, &[]).await;
    assert_eq!(again, first, "the same bytes");
    assert_eq!(up.data_requests_since(since).await, Vec::<String>::new());
    assert_eq!(
        metric_of(&gw, "gateway_response_cache_hits_total").await,
        Some(1.0)
    );
    // Another credential: its own execution, its own account's rows.
    let (_, _, other) = post(&gw, ADMIN_2, LABELS, &[]).await;
    assert!(!up.data_requests_since(since).await.is_empty());
    let (mine, theirs) = (account_ids(&first), account_ids(&other));
    assert!(!mine.is_empty() && !theirs.is_empty());
    assert!(
        mine.iter().all(|a| !theirs.contains(a)),
        "{first} vs {other}"
    );
    // no-cache executes again and stores the fresh answer.
    let since = up.last_seq().await;
    let (_, _, fresh) = post(
        &gw,
        ADMIN_1,
        LABELS,
        &[(CACHE_CONTROL.as_str(), "no-cache")],
    )
    .await;
    assert_eq!(fresh, first);
    assert_eq!(up.data_requests_since(since).await.len(), 1);
    let since = up.last_seq().await;
    post(&gw, ADMIN_1, LABELS, &[]).await;
    assert!(up.data_requests_since(since).await.is_empty());
}

#[tokio::test]
async fn a_response_lives_as_long_as_its_freshest_expiring_answer() {
    let up = private_upstream("response_cache_ttl");
    let gw = gateway_with(Config {
        cache_ttl_label_ms: 60_000,
        cache_ttl_conversation_ms: 700,
        ..config_for(up, "1.1")
    })
    .await;
    post(&gw, ADMIN_1, MIXED, &[]).await;
    let since = up.last_seq().await;
    post(&gw, ADMIN_1, MIXED, &[]).await;
    assert!(up.data_requests_since(since).await.is_empty(), "reused");
    tokio::time::sleep(Duration::from_millis(900)).await;
    let since = up.last_seq().await;
    let (status, _, body) = post(&gw, ADMIN_1, MIXED, &[]).await;
    assert_eq!(status, 200, "{body}");
    // Expired with its conversations: executed again, and only the
    // conversations went upstream (the labels' answer is still fresh).
    let urls = up.data_requests_since(since).await;
    assert_eq!(urls.len(), 1, "{urls:?}");
    assert!(urls[0].contains("/Conversation?"), "{urls:?}");
}

#[tokio::test]
async fn responses_with_errors_are_never_reused() {
    let up = private_upstream("response_cache_errors");
    let gw = gateway_with(Config {
        upstream_retries: 0,
        ..config_for(up, "1.1")
    })
    .await;
    up.set_fault(json!({"status": 503, "path_contains": "Label", "count": 1}))
        .await;
    let (_, _, failed) = post(&gw, ADMIN_1, LABELS, &[]).await;
    let failed: Value = serde_json::from_str(&failed).expect("json");
    assert_eq!(
        error_code(&failed),
        Some("UPSTREAM_UNAVAILABLE"),
        "{failed}"
    );
    let since = up.last_seq().await;
    let (_, _, body) = post(&gw, ADMIN_1, LABELS, &[]).await;
    assert!(!account_ids(&body).is_empty(), "{body}");
    assert_eq!(
        up.data_requests_since(since).await.len(),
        1,
        "executed again"
    );
}

#[tokio::test]
async fn a_known_entity_tag_gets_304_without_a_body() {
    let up = upstream();
    let gw = gateway_with(config_for(up, "1.1")).await;
    let (status, etag, body) = post(&gw, ADMIN_1, LABELS, &[]).await;
    assert_eq!(status, 200);
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
    let (status, again, empty) = post(&gw, ADMIN_1, LABELS, &[("if-none-match", &etag)]).await;
    assert_eq!((status, empty.as_str()), (304, ""));
    assert_eq!(again, etag);
    // A stale tag, or none: the body again, with the same tag.
    let (status, same, full) = post(&gw, ADMIN_1, LABELS, &[("if-none-match", "\"0123\"")]).await;
    assert_eq!(
        (status, same.as_str(), full.as_str()),
        (200, etag.as_str(), body.as_str())
    );
    // Over GET as well.
    let response = reqwest::Client::new()
        .get(gw.url())
        .query(&[("query", LABELS)])
        .bearer_auth(ADMIN_1)
        .header(IF_NONE_MATCH, etag.as_str())
        .send()
        .await
        .expect("get");
    assert_eq!(response.status().as_u16(), 304);
    // Another token's answer has another tag: a tag never tells one
    // client's data to another.
    let (status, theirs, _) = post(&gw, ADMIN_2, LABELS, &[("if-none-match", &etag)]).await;
    assert_eq!(status, 200);
    assert_ne!(theirs, etag);
    assert_eq!(
        metric_of(&gw, "gateway_not_modified_total").await,
        Some(2.0)
    );
}
