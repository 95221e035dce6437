//! Per-client rate limits over HTTP: one token bucket per credential (per
//! API key in service mode); past it HTTP 429 with `Retry-After` and
//! RATE_LIMITED, no upstream request, other clients unaffected, the bucket
//! refills at its rate; off by default.

mod common;

use common::*;
use liveagent_graphql::config::{ApiKeyConfig, Config};
use reqwest::header::{ACCEPT, RETRY_AFTER};
use serde_json::{json, Value};
use std::time::Duration;

const LABELS: &str = "{ labels(first: 3) { nodes { id title } } }";

/// Status, `Retry-After` and body of one POST with this `Authorization`.
async fn ask(gw: &Gateway, token: &str, accept: &str) -> (u16, Option<String>, Value) {
    let response = reqwest::Client::new()
        .post(gw.url())
        .bearer_auth(token)
        .header(ACCEPT, accept)
        .json(&json!({ "query": LABELS }))
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, retry_after, response.json().await.expect("json"))
}

const JSON: &str = "application/json";
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

fn limited(up: &TestUpstream) -> Config {
    Config {
        rate_limit_per_second: 1,
        rate_limit_burst: 3,
        cache_max_bytes: 0,
        ..config_for(up, "1.1")
    }
}

fn assert_limited((status, retry_after, body): &(u16, Option<String>, Value)) {
    assert_eq!(*status, 429, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
    assert_eq!(error_code(body), Some("RATE_LIMITED"), "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("rate_limit_per_second"), "{message}");
    assert!(
        body.get("data").is_none(),
        "refused before execution: {body}"
    );
}

#[tokio::test]
async fn past_its_burst_a_client_gets_429_and_others_go_on() {
    let up = private_upstream("rate_limit_burst");
    let gw = gateway_with(limited(up)).await;
    // Warm (metadata read) with another client, so that the burst below
    // takes far less than the second one token needs to come back.
    assert_eq!(ask(&gw, ADMIN_2, JSON).await.0, 200);
    let since = up.last_seq().await;
    for _ in 0..3 {
        let (status, _, body) = ask(&gw, ADMIN_1, JSON).await;
        assert_eq!(status, 200);
        assert!(body["data"]["labels"]["nodes"].is_array(), "{body}");
    }
    assert_limited(&ask(&gw, ADMIN_1, JSON).await);
    assert_limited(&ask(&gw, ADMIN_1, GRAPHQL_RESPONSE).await);
    // Another credential has its own bucket.
    let (status, _, body) = ask(&gw, ADMIN_2, JSON).await;
    assert_eq!(status, 200, "{body}");
    // Refused requests never went upstream: 3 + 1 Label requests.
    let labels = up
        .requests_since(since)
        .await
        .into_iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with("/Label")))
        .count();
    assert_eq!(labels, 4);
    // One token a second: one is back after a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, body) = ask(&gw, ADMIN_1, JSON).await;
    assert_eq!(status, 200, "refilled: {body}");
    assert_limited(&ask(&gw, ADMIN_1, JSON).await);
    let metrics = reqwest::get(format!("http://{}/metrics", gw.addr))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gateway_graphql_errors_total{code=\"RATE_LIMITED\"} 3")),
        "{metrics}"
    );
}

fn sha256_hex(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn service_mode_counts_each_api_key_apart() {
    let up = upstream();
    let key = |name: &str, secret: &str| ApiKeyConfig {
        trusted_documents_only: false,
        name: name.into(),
        sha256: sha256_hex(secret),
        collections: None,
    };
    let gw = gateway_with(Config {
        service_upstream_token: Some(ADMIN_1.to_string().into()),
        api_keys: vec![
            key("wallboard", "key-wallboard"),
            key("reports", "key-reports"),
        ],
        rate_limit_per_second: 1,
        rate_limit_burst: 2,
        ..config_for(up, "1.1")
    })
    .await;
    // Warm with the other key (one of its two tokens).
    assert_eq!(ask(&gw, "key-reports", JSON).await.0, 200);
    for _ in 0..2 {
        assert_eq!(ask(&gw, "key-wallboard", JSON).await.0, 200);
    }
    assert_limited(&ask(&gw, "key-wallboard", JSON).await);
    // Both keys send the same upstream token, yet each has its bucket.
    assert_eq!(ask(&gw, "key-reports", JSON).await.0, 200);
    // An unknown key is refused as unauthenticated, not counted.
    for _ in 0..3 {
        let (_, retry_after, body) = ask(&gw, "key-unknown", JSON).await;
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
        assert!(retry_after.is_none());
    }
}

#[tokio::test]
async fn without_a_limit_nothing_is_refused() {
    let up = upstream();
    let gw = gateway_with(config_for(up, "1.1")).await;
    let answers = futures::future::join_all((0..40).map(|_| ask(&gw, ADMIN_1, JSON))).await;
    for (status, retry_after, body) in answers {
        assert_eq!(status, 200, "{body}");
        assert!(
            retry_after.is_none() && body.get("errors").is_none(),
            "{body}"
        );
    }
}
