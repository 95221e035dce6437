//! Explain over HTTP: `X-Explain: 1` (or `extensions.explain`) adds
//! `extensions.explain` listing the caller's upstream requests as the test
//! upstream saw them, how the cache served each, and never a credential;
//! the data stays the same.

mod common;

use common::*;
use liveagent_graphql::config::{ApiKeyConfig, Config};
use serde_json::{json, Value};
use std::time::Duration;

/// Conversations with their messages: one request for each.
const WITH_MESSAGES: &str = r#"{
  conversations(first: 3, orderBy: [{id: ASC}]) {
    nodes { id messages(first: 2, orderBy: [{id: ASC}]) { id } }
  }
}"#;

/// POSTs `body` with `headers`; the response's JSON.
async fn post(gw: &Gateway, headers: &[(&str, &str)], body: Value) -> Value {
    let mut request = reqwest::Client::new().post(gw.url()).json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("post");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

/// `query` as ADMIN_1, asking for explain with the header.
async fn explained(gw: &Gateway, query: &str) -> Value {
    let auth = format!("Bearer {ADMIN_1}");
    post(
        gw,
        &[("authorization", &auth), ("x-explain", "1")],
        json!({ "query": query }),
    )
    .await
}

fn requests(body: &Value) -> Vec<Value> {
    body["extensions"]["explain"]["requests"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no extensions.explain.requests: {body}"))
}

/// The explain entries' URLs as the upstream logs them, sorted.
fn logged_form(requests: &[Value], version: &str) -> Vec<String> {
    let mut urls: Vec<String> = requests
        .iter()
        .map(|r| format!("/v{version}/odata/{}", r["url"].as_str().unwrap_or("")))
        .collect();
    urls.sort();
    urls
}

fn sorted(mut urls: Vec<String>) -> Vec<String> {
    urls.sort();
    urls
}

fn entry<'a>(requests: &'a [Value], collection: &str) -> &'a Value {
    requests
        .iter()
        .find(|r| r["collection"] == collection)
        .unwrap_or_else(|| panic!("no {collection} request: {requests:?}"))
}

#[tokio::test]
async fn a_list_with_a_relation_shows_its_upstream_requests_then_cache_hits() {
    let up = private_upstream("explain_requests");
    let gw = gateway(up, "1.1").await;
    // `$metadata` first: it is read once per process, not per request.
    gw.data(ADMIN_1, "{ labels(first: 1) { nodes { id } } }", json!({}))
        .await;

    let since = up.last_seq().await;
    let body = explained(&gw, WITH_MESSAGES).await;
    assert!(body.get("errors").is_none(), "{body}");
    let first = requests(&body);
    let sent = up.data_requests_since(since).await;
    assert_eq!(first.len(), 2, "{first:?}");
    assert_eq!(logged_form(&first, "1.1"), sorted(sent), "{first:?}");
    assert!(first.iter().all(|r| r["cache"] == "miss"), "{first:?}");
    assert!(
        first
            .iter()
            .all(|r| r["ms"].as_f64().is_some_and(|ms| ms > 0.0)),
        "{first:?}"
    );
    // Rows as the upstream answers them (a page asks one more row than
    // shown, a relation's batch holds every parent's rows).
    for request in &first {
        let url = request["url"].as_str().unwrap_or("");
        let direct = up.odata("1.1", url, ADMIN_1).await;
        let rows = direct["value"].as_array().map_or(0, Vec::len);
        assert!(rows > 0, "{direct}");
        assert_eq!(request["rows"], rows, "{request}");
    }
    let conversations = entry(&first, "Conversation")["url"].as_str().unwrap_or("");
    assert!(
        conversations.starts_with("Conversation?$select=id"),
        "{first:?}"
    );
    let messages = entry(&first, "Message")["url"].as_str().unwrap_or("");
    assert!(messages.starts_with("Message?"), "{first:?}");
    assert_eq!(body["extensions"]["explain"]["residuals"], json!([]));

    // The same query again: both from the cache, nothing sent.
    let since = up.last_seq().await;
    let again = explained(&gw, WITH_MESSAGES).await;
    assert_eq!(again["data"], body["data"]);
    let second = requests(&again);
    assert_eq!(up.data_requests_since(since).await, Vec::<String>::new());
    assert_eq!(logged_form(&second, "1.1"), logged_form(&first, "1.1"));
    assert!(second.iter().all(|r| r["cache"] == "hit"), "{second:?}");
    for (hit, miss) in second.iter().zip(&first) {
        assert_eq!((&hit["url"], &hit["rows"]), (&miss["url"], &miss["rows"]));
    }

    // Without asking: the same data, no explain.
    let plain = gw.query(Some(ADMIN_1), WITH_MESSAGES, json!({})).await;
    assert_eq!(plain["data"], body["data"]);
    assert!(plain.get("extensions").is_none(), "{plain}");
}

#[tokio::test]
async fn the_body_and_get_extensions_ask_too_and_the_data_is_the_same() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let query = "{ labels(first: 4, orderBy: [{id: ASC}]) { nodes { id title } } }";
    // Asked for after a plain read: explain shares its cache entry.
    let plain = gw.query(Some(ADMIN_1), query, json!({})).await;
    assert!(plain.get("extensions").is_none(), "{plain}");

    let auth = format!("Bearer {ADMIN_1}");
    let body = post(
        &gw,
        &[("authorization", &auth)],
        json!({ "query": query, "extensions": {"explain": true} }),
    )
    .await;
    assert_eq!(body["data"], plain["data"]);
    let listed = requests(&body);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["collection"], "Label");
    assert_eq!(listed[0]["cache"], "hit", "{listed:?}");

    let extensions =
        url::form_urlencoded::byte_serialize(br#"{"explain":true}"#).collect::<String>();
    let query_param = url::form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>();
    let got: Value = reqwest::Client::new()
        .get(format!(
            "{}?query={query_param}&extensions={extensions}",
            gw.url()
        ))
        .bearer_auth(ADMIN_1)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(got["data"], plain["data"]);
    assert_eq!(requests(&got)[0]["url"], listed[0]["url"]);

    // `false`, `0` or another value does not ask.
    for (header, explain) in [("0", json!(false)), ("no", json!("true"))] {
        let body = post(
            &gw,
            &[("authorization", &auth), ("x-explain", header)],
            json!({ "query": query, "extensions": {"explain": explain} }),
        )
        .await;
        assert_eq!(body["data"], plain["data"]);
        assert!(body.get("extensions").is_none(), "{body}");
    }
}

#[tokio::test]
async fn a_request_refused_before_execution_has_no_explain() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let body = explained(&gw, "{ labels(first: 1) { nodes { nope } } }").await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(body.get("extensions").is_none(), "{body}");
}

#[tokio::test]
async fn no_credential_appears_in_the_explain_output() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let query = "{ inboxes(first: 2) { nodes { id name } } }";
    let bearer = explained(&gw, query).await;
    assert!(!requests(&bearer).is_empty(), "{bearer}");
    assert!(!bearer.to_string().contains(ADMIN_1), "{bearer}");

    // The `?apikey=` form puts the token in the upstream URL; never here.
    let url = format!("{}?apikey={ADMIN_1}", gw.url());
    let apikey: Value = reqwest::Client::new()
        .post(url)
        .header("x-explain", "true")
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let listed = requests(&apikey);
    assert!(!listed.is_empty(), "{apikey}");
    assert!(!apikey.to_string().contains(ADMIN_1), "{apikey}");
    assert!(!apikey.to_string().contains("apikey"), "{apikey}");
    assert_eq!(apikey["data"], bearer["data"]);
}

fn sha256_hex(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn service_mode_shows_its_requests_without_the_service_token() {
    const CLIENT_KEY: &str = "client-key-explain";
    let up = private_upstream("explain_service");
    let gw = gateway_with(Config {
        upstream: Some(up.url("1.1")),
        service_upstream_token: Some(ADMIN_1.to_string().into()),
        api_keys: vec![ApiKeyConfig {
            trusted_documents_only: false,
            name: "dash".into(),
            sha256: sha256_hex(CLIENT_KEY),
            collections: None,
        }],
        ..base_config()
    })
    .await;
    gw.data(
        CLIENT_KEY,
        "{ labels(first: 1) { nodes { id } } }",
        json!({}),
    )
    .await;
    let since = up.last_seq().await;
    let body = post(
        &gw,
        &[("x-api-key", CLIENT_KEY), ("x-explain", "1")],
        json!({ "query": WITH_MESSAGES }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    let listed = requests(&body);
    assert_eq!(
        logged_form(&listed, "1.1"),
        sorted(up.data_requests_since(since).await)
    );
    let text = body.to_string();
    assert!(
        !text.contains(ADMIN_1) && !text.contains(CLIENT_KEY),
        "{text}"
    );
}

#[tokio::test]
async fn a_caller_that_joins_a_request_in_flight_sees_it_shared() {
    let up = private_upstream("explain_shared");
    let gw = gateway(up, "1.1").await;
    gw.data(ADMIN_1, "{ users(first: 1) { nodes { id } } }", json!({}))
        .await;
    let query = "{ labels(first: 2) { nodes { id } } }";
    up.set_fault(json!({"latency_ms": 1500, "path_contains": "Label", "count": 1000}))
        .await;
    let since = up.last_seq().await;
    let first = explained(&gw, query);
    let second = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        explained(&gw, query).await
    };
    let (first, second) = tokio::join!(first, second);
    up.clear_faults().await;
    assert_eq!(up.data_requests_since(since).await.len(), 1);
    assert_eq!(first["data"], second["data"]);
    // Whichever reached the upstream layer first sent the request.
    let mut both = [requests(&first), requests(&second)];
    both.sort_by_key(|listed| listed[0]["cache"].as_str().map(str::to_owned));
    let [led, joined] = both;
    assert_eq!(led[0]["cache"], "miss", "{led:?}");
    assert_eq!(joined[0]["cache"], "shared", "{joined:?}");
    assert_eq!(joined[0]["url"], led[0]["url"]);
    assert_eq!(joined[0]["rows"], 3);
    // Each shows its own wait: the one that joined came later.
    let waited = |r: &Value| r["ms"].as_f64().unwrap_or(0.0);
    assert!(waited(&joined[0]) < waited(&led[0]), "{led:?} {joined:?}");
}

#[tokio::test]
async fn failures_and_stale_answers_are_shown_with_their_code() {
    let up = private_upstream("explain_failures");
    let gw = gateway_with(Config {
        upstream: Some(up.url("1.1")),
        cache_ttl_label_ms: 50,
        upstream_retries: 0,
        ..base_config()
    })
    .await;
    let query = "{ labels(first: 2) { nodes { id } } }";
    let fresh = explained(&gw, query).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    up.set_fault(json!({"status": 500, "body": "down", "path_contains": "Label", "count": 1000}))
        .await;
    let stale = explained(&gw, query).await;
    let uncached = explained(&gw, "{ labels(first: 5) { nodes { id } } }").await;
    up.clear_faults().await;

    assert_eq!(stale["data"], fresh["data"]);
    assert_eq!(stale["extensions"]["stale"], true, "{stale}");
    let listed = requests(&stale);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["cache"], "stale", "{listed:?}");
    assert_eq!(listed[0]["rows"], requests(&fresh)[0]["rows"]);

    assert_eq!(
        error_code(&uncached),
        Some("UPSTREAM_UNAVAILABLE"),
        "{uncached}"
    );
    let listed = requests(&uncached);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["cache"], "error", "{listed:?}");
    assert_eq!(listed[0]["error"], "UPSTREAM_UNAVAILABLE", "{listed:?}");
    assert!(listed[0].get("rows").is_none(), "{listed:?}");
}

#[tokio::test]
async fn browsers_of_allowed_origins_may_send_the_header() {
    let gw = gateway_with(Config {
        upstream: Some(upstream().url("1.1")),
        cors_allowed_origins: vec!["https://dash.example.com".into()],
        ..base_config()
    })
    .await;
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, gw.url())
        .header("origin", "https://dash.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,x-explain")
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success());
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(allowed.contains("x-explain"), "{allowed}");
}
