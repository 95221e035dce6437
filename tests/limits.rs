//! Request limits over HTTP: depth, complexity, root fields, aliases, body
//! size, request time, introspection, CORS and automatic persisted queries.

mod common;

use common::*;
use liveagent_graphql::config::Config;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{json, Value};

fn config(up: &TestUpstream) -> Config {
    config_for(up, "1.1")
}

const LABELS: &str = "{ labels(first: 1) { nodes { id } } }";

async fn still_serves(gw: &Gateway) {
    let data = gw.data(ADMIN_1, LABELS, json!({})).await;
    assert_eq!(data["labels"]["nodes"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn depth_and_complexity_limits_are_query_too_complex() {
    let up = upstream();
    let gw = gateway_with(Config {
        max_depth: 3,
        max_complexity: 6,
        ..config(up)
    })
    .await;
    let deep = "{ conversations(first: 1) { nodes { inbox { id } } } }";
    let body = gw.query(Some(ADMIN_1), deep, json!({})).await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("max_depth"));
    assert!(body.get("data").is_none(), "{body}");

    let wide = "{ labels(first: 1) { nodes { id title description color showOnSidebar } } }";
    let body = gw.query(Some(ADMIN_1), wide, json!({})).await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("max_complexity"));
    still_serves(&gw).await;
}

#[tokio::test]
async fn default_limits_let_real_queries_and_introspection_through() {
    let up = upstream();
    let gw = gateway_with(config(up)).await;
    let dashboard = "{ conversations(first: 2) { nodes { id inbox { name } assignee { name assignedConversations(first: 1) { nodes { messages(first: 1) { sender { name } } } } } } } }";
    gw.data(ADMIN_1, dashboard, json!({})).await;
    // The introspection query of GraphiQL and graphql-js nests `ofType`
    // deeply; the default depth must allow it.
    let introspection = "{ __schema { types { name fields { name type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } } } } } }";
    let body = gw.query(None, introspection, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
}

#[tokio::test]
async fn root_fields_and_aliases_are_limited_before_any_upstream_request() {
    let up = private_upstream("limits_roots");
    let gw = gateway_with(Config {
        max_root_fields: 2,
        max_aliases: 3,
        ..config(up)
    })
    .await;
    let since = up.last_seq().await;
    let three = "{ a: labels(first: 1) { nodes { id } } b: labels(first: 2) { nodes { id } } c: inboxes(first: 1) { nodes { id } } }";
    let body = gw.query(Some(ADMIN_1), three, json!({})).await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("max_root_fields"));

    let aliases = "{ labels(first: 1) { nodes { a: id b: id c: id d: id } } }";
    let body = gw.query(Some(ADMIN_1), aliases, json!({})).await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("max_aliases"));
    assert!(up.data_requests_since(since).await.is_empty());

    // graphql-response+json: a request error, 400.
    let response = reqwest::Client::new()
        .post(gw.url())
        .header(ACCEPT, "application/graphql-response+json")
        .bearer_auth(ADMIN_1)
        .json(&json!({ "query": three }))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 400);
    still_serves(&gw).await;
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_with_a_graphql_error() {
    let up = upstream();
    let gw = gateway_with(Config {
        max_body_bytes: 2048,
        ..config(up)
    })
    .await;
    let padding = " ".repeat(4096);
    let response = reqwest::Client::new()
        .post(gw.url())
        .header(CONTENT_TYPE, "application/json")
        .bearer_auth(ADMIN_1)
        .body(format!("{{\"query\": \"{LABELS}{padding}\"}}"))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.expect("json body");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("max_body_bytes"));
    still_serves(&gw).await;
}

#[tokio::test]
async fn requests_past_the_time_limit_fail_and_the_gateway_keeps_serving() {
    let up = private_upstream("limits_timeout");
    let gw = gateway_with(Config {
        request_timeout_ms: 300,
        cache_max_bytes: 0,
        ..config(up)
    })
    .await;
    up.set_fault(json!({"latency_ms": 3000, "path_contains": "Label"}))
        .await;
    let started = std::time::Instant::now();
    let body = gw.query(Some(ADMIN_1), LABELS, json!({})).await;
    assert!(started.elapsed() < std::time::Duration::from_millis(2500));
    up.clear_faults().await;
    assert_eq!(error_code(&body), Some("UPSTREAM_TIMEOUT"), "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("request_timeout_ms"));
    assert_eq!(body["data"], Value::Null);
    // graphql-response+json: 504, still with `data: null`.
    up.set_fault(json!({"latency_ms": 3000, "path_contains": "Label"}))
        .await;
    let response = reqwest::Client::new()
        .post(gw.url())
        .header(ACCEPT, "application/graphql-response+json")
        .bearer_auth(ADMIN_1)
        .json(&json!({ "query": LABELS }))
        .send()
        .await
        .expect("post");
    up.clear_faults().await;
    assert_eq!(response.status(), 504);
    let body: Value = response.json().await.expect("json");
    assert_eq!(error_code(&body), Some("UPSTREAM_TIMEOUT"), "{body}");
    assert_eq!(body["data"], Value::Null);
    gw.data(ADMIN_1, "{ inboxes(first: 1) { nodes { id } } }", json!({}))
        .await;
}

#[tokio::test]
async fn introspection_can_be_turned_off() {
    let up = upstream();
    let query = "{ __schema { queryType { name } } }";
    let on = gateway_with(config(up)).await;
    let body = on.query(None, query, json!({})).await;
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");

    let off = gateway_with(Config {
        introspection: false,
        ..config(up)
    })
    .await;
    let body = off.query(Some(ADMIN_1), query, json!({})).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .contains("__schema"));
    assert!(body["data"]["__schema"].is_null(), "{body}");
    let body = off.query(None, "{ __typename }", json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
    still_serves(&off).await;
}

#[tokio::test]
async fn cors_headers_only_for_allowed_origins() {
    let up = upstream();
    let client = reqwest::Client::new();
    let preflight = |url: String, origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allow = "access-control-allow-origin";

    let none = gateway_with(config(up)).await;
    let r = preflight(none.url(), "https://dash.example.com")
        .await
        .expect("preflight");
    assert!(r.headers().get(allow).is_none());

    let gw = gateway_with(Config {
        cors_allowed_origins: vec!["https://dash.example.com".into()],
        ..config(up)
    })
    .await;
    let r = preflight(gw.url(), "https://dash.example.com")
        .await
        .expect("preflight");
    assert!(r.status().is_success());
    assert_eq!(r.headers()[allow], "https://dash.example.com");
    let methods = r.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap_or("");
    assert!(methods.contains("POST"), "{methods}");
    let r = preflight(gw.url(), "https://evil.example.com")
        .await
        .expect("preflight");
    assert!(r.headers().get(allow).is_none());
    let r = client
        .post(gw.url())
        .header("origin", "https://dash.example.com")
        .bearer_auth(ADMIN_1)
        .json(&json!({ "query": LABELS }))
        .send()
        .await
        .expect("post");
    assert_eq!(r.headers()[allow], "https://dash.example.com");

    let any = gateway_with(Config {
        cors_allowed_origins: vec!["*".into()],
        ..config(up)
    })
    .await;
    let r = preflight(any.url(), "https://other.example.com")
        .await
        .expect("preflight");
    assert_eq!(r.headers()[allow], "*");
}

fn sha256_hex(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn automatic_persisted_queries_follow_apollos_protocol() {
    let up = upstream();
    let gw = gateway_with(config(up)).await;
    let client = reqwest::Client::new();
    let query = "query Apq { labels(first: 2) { nodes { id } } }";
    let hash = sha256_hex(query);
    let ext = json!({"persistedQuery": {"version": 1, "sha256Hash": hash}});
    let post = |body: Value| {
        let request = client.post(gw.url()).bearer_auth(ADMIN_1).json(&body);
        async move {
            let response = request.send().await.expect("post");
            response.json::<Value>().await.expect("json")
        }
    };
    let labels = |body: &Value| body["data"]["labels"]["nodes"].as_array().map(Vec::len);

    // 1. The hash alone: not known yet.
    let body = post(json!({ "extensions": ext })).await;
    assert_eq!(
        error_code(&body),
        Some("PERSISTED_QUERY_NOT_FOUND"),
        "{body}"
    );
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");

    // 2. The query with its hash: runs and is kept.
    let body = post(json!({ "query": query, "extensions": ext })).await;
    assert_eq!(labels(&body), Some(2), "{body}");

    // 3. The hash alone now runs, over POST and GET.
    let body = post(json!({ "extensions": ext })).await;
    assert_eq!(labels(&body), Some(2), "{body}");
    let body: Value = client
        .get(gw.url())
        .query(&[
            ("extensions", ext.to_string().as_str()),
            ("apikey", ADMIN_1),
        ])
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(labels(&body), Some(2), "{body}");

    // 4. A hash that is not the query's: rejected, nothing kept.
    let wrong = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex("{ other }")}});
    let body = post(json!({ "query": query, "extensions": wrong })).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    let body = post(json!({ "extensions": wrong })).await;
    assert_eq!(
        error_code(&body),
        Some("PERSISTED_QUERY_NOT_FOUND"),
        "{body}"
    );
}

/// Opens a connection and sends the start of a request's headers, then
/// one byte every 200 ms; returns how long until the gateway closed it
/// (`None`: still open after 5 s).
async fn trickle_headers(gw: &Gateway) -> Option<std::time::Duration> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(gw.addr)
        .await
        .expect("connect");
    let started = std::time::Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Slow: ")
        .await
        .expect("write");
    let mut buf = [0u8; 512];
    while started.elapsed() < std::time::Duration::from_secs(5) {
        if stream.write_all(b"a").await.is_err() {
            return Some(started.elapsed());
        }
        let read =
            tokio::time::timeout(std::time::Duration::from_millis(200), stream.read(&mut buf))
                .await;
        if let Ok(Ok(0) | Err(_)) = read {
            return Some(started.elapsed());
        }
    }
    None
}

#[tokio::test]
async fn slow_request_headers_are_cut_off_while_others_are_served() {
    let up = upstream();
    let gw = gateway_with(Config {
        header_read_timeout_ms: 600,
        ..config(up)
    })
    .await;
    let slow: Vec<_> = (0..20).map(|_| trickle_headers(&gw)).collect();
    let (closed, ()) = tokio::join!(futures::future::join_all(slow), async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        still_serves(&gw).await;
    });
    for took in closed {
        let took = took.expect("the gateway closed the slow connection");
        assert!(
            took < std::time::Duration::from_millis(3000),
            "closed after {took:?}"
        );
    }
    still_serves(&gw).await;
}
