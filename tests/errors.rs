//! Bad input and upstream faults: the right `extensions.code`, no upstream
//! call for our own validation errors, and the gateway keeps serving.

mod common;

use common::*;
use liveagent_graphql::config::Config;
use serde_json::{json, Value};

/// Runs a query that must fail with `code` before anything reaches the upstream.
async fn rejected_locally(
    gw: &Gateway,
    up: &TestUpstream,
    query: &str,
    code: &str,
    mentions: &str,
) {
    let before = up.last_seq().await;
    let body = gw.query(Some(ADMIN_1), query, Value::Null).await;
    assert_eq!(error_code(&body), Some(code), "{query}: {body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(
        message.contains(mentions),
        "{query}: message should mention {mentions:?}: {message}"
    );
    assert!(
        up.data_requests_since(before).await.is_empty(),
        "{query}: no upstream call expected"
    );
}

#[tokio::test]
async fn bad_arguments_are_bad_user_input_without_upstream_calls() {
    let up = private_upstream("bad-arguments");
    let gw = gateway(up, "1.1").await;
    let cases = [
        ("{ conversations(first: -1) { nodes { id } } }", "first"),
        ("{ conversations(first: 1001) { nodes { id } } }", "1000"),
        (
            "{ conversations(after: \"not-a-cursor\") { nodes { id } } }",
            "cursor",
        ),
        (
            "{ conversations(after: \"cG9zOjE\", offset: 3) { nodes { id } } }",
            "either",
        ),
        ("{ conversations(offset: -5) { nodes { id } } }", "offset"),
        (
            "{ conversations(orderBy: [{}]) { nodes { id } } }",
            "orderBy",
        ),
        (
            "{ conversations(orderBy: [{id: ASC, status: DESC}]) { nodes { id } } }",
            "orderBy",
        ),
        (
            "{ conversations(where: {nope: {eq: 1}}) { nodes { id } } }",
            "nope",
        ),
        (
            "{ conversations(where: {createdAt: {gt: \"soon\"}}) { nodes { id } } }",
            "createdAt",
        ),
        (
            "{ conversations(where: {status: {eq: CLOSED}}) { nodes { id } } }",
            "CLOSED",
        ),
        (
            "{ conversations { nodes { id secretField } } }",
            "secretField",
        ),
        ("{ conversations { nodes { id } ", "expected"),
    ];
    for (query, mentions) in cases {
        rejected_locally(&gw, up, query, "BAD_USER_INPUT", mentions).await;
    }
}

#[tokio::test]
async fn an_over_long_upstream_url_is_refused_before_sending() {
    let up = private_upstream("long-url");
    let gw = gateway(up, "1.1").await;
    let long = "x".repeat(7000);
    let query = format!(
        "{{ messages(where: {{content: {{contains: \"{long}\"}}}}) {{ nodes {{ id }} }} }}"
    );
    rejected_locally(&gw, up, &query, "BAD_USER_INPUT", "max_url_length").await;
}

#[tokio::test]
async fn upstream_400_surfaces_its_message() {
    let up = private_upstream("upstream-400");
    let gw = gateway(up, "1.1").await;
    up.set_fault(json!({
        "status": 400,
        "body": "{\"error\":{\"code\":\"400\",\"message\":\"Property 'x' is not allowed here\"}}",
        "content_type": "application/json",
        "path_contains": "Inbox",
        "count": 1
    }))
    .await;
    let body = gw
        .query(Some(ADMIN_1), "{ inboxes { nodes { id } } }", Value::Null)
        .await;
    up.clear_faults().await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("Property 'x' is not allowed here"));
}

#[tokio::test]
async fn upstream_faults_map_to_codes_and_the_gateway_keeps_serving() {
    let up = private_upstream("fault-codes");
    // One fault, one answer: no retries to ride out a 503, and no cache to
    // answer from (both have tests of their own).
    let gw = gateway_with(Config {
        upstream_timeout_ms: 500,
        upstream_retries: 0,
        cache_max_bytes: 0,
        ..config_for(up, "1.1")
    })
    .await;
    let query = "{ labels { nodes { id title } } }";
    // Warm up: $metadata read, so faults hit the data request.
    gw.data(ADMIN_1, query, Value::Null).await;
    let faults = [
        (
            json!({"latency_ms": 1500, "path_contains": "Label", "count": 1}),
            "UPSTREAM_TIMEOUT",
        ),
        (
            json!({"status": 503, "body": "down", "path_contains": "Label", "count": 1}),
            "UPSTREAM_UNAVAILABLE",
        ),
        (
            json!({"body": "<html>not json</html>", "content_type": "text/html", "path_contains": "Label", "count": 1}),
            "UPSTREAM_INVALID_RESPONSE",
        ),
        (
            json!({"body": "{\"value\": 12}", "content_type": "application/json", "path_contains": "Label", "count": 1}),
            "UPSTREAM_INVALID_RESPONSE",
        ),
    ];
    for (fault, code) in faults {
        up.set_fault(fault.clone()).await;
        let body = gw.query(Some(ADMIN_1), query, Value::Null).await;
        up.clear_faults().await;
        assert_eq!(error_code(&body), Some(code), "{fault}: {body}");
        assert!(
            !body.to_string().contains(ADMIN_1),
            "no credential in errors"
        );
        // Still serving, with the right data.
        let data = gw.data(ADMIN_1, query, Value::Null).await;
        assert!(!data["labels"]["nodes"]
            .as_array()
            .is_some_and(|n| n.is_empty()));
    }
}

#[tokio::test]
async fn an_unreachable_upstream_is_unavailable() {
    // A port that was free a moment ago: connection refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let gw = gateway_with(Config {
        upstream: Some(format!("http://127.0.0.1:{port}/v1.1/odata")),
        ..base_config()
    })
    .await;
    let body = gw
        .query(Some(ADMIN_1), "{ users { nodes { id } } }", Value::Null)
        .await;
    assert_eq!(error_code(&body), Some("UPSTREAM_UNAVAILABLE"), "{body}");
}

#[tokio::test]
async fn an_unknown_enum_value_nulls_only_that_field() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let odd = up
        .odata(
            "1.1",
            "Conversation?$select=id&$filter=status%20eq%207&$top=5&$skip=0",
            ADMIN_1,
        )
        .await;
    let odd_id = odd["value"][0]["id"]
        .as_i64()
        .expect("the status-7 conversation");
    let body = gw
        .query(
            Some(ADMIN_1),
            "query($ids: [Int!]) { conversations(where: {id: {in: $ids}}) { nodes { id status } } }",
            json!({"ids": [odd_id, 1, 2]}),
        )
        .await;
    let nodes = body["data"]["conversations"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(nodes.len(), 3, "{body}");
    let odd_node = nodes.iter().find(|n| n["id"] == odd_id).expect("odd node");
    assert_eq!(odd_node["status"], Value::Null);
    assert!(nodes
        .iter()
        .filter(|n| n["id"] != odd_id)
        .all(|n| n["status"].is_string()));
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["extensions"]["code"], "UPSTREAM_INVALID_RESPONSE");
    assert!(errors[0]["message"].as_str().unwrap_or("").contains('7'));
    let index = nodes.iter().position(|n| n["id"] == odd_id).expect("index");
    assert_eq!(
        errors[0]["path"],
        json!(["conversations", "nodes", index, "status"])
    );
}
