//! GraphQL over HTTP: methods, content types, negotiation and status codes.

mod common;

use common::*;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{json, Value};

#[tokio::test]
async fn get_and_post_both_answer_queries() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let client = reqwest::Client::new();
    let response = client
        .get(gw.url())
        .query(&[
            (
                "query",
                "query Q($n: Int) { labels(first: $n) { nodes { id } } }",
            ),
            ("variables", "{\"n\": 2}"),
            ("apikey", ADMIN_1),
        ])
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["data"]["labels"]["nodes"].as_array().map(Vec::len),
        Some(2),
        "{body}"
    );
}

#[tokio::test]
async fn request_errors_get_the_status_their_media_type_calls_for() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let client = reqwest::Client::new();
    let invalid = json!({"query": "{ labels { nodes { nope } } }"});

    let legacy = client
        .post(gw.url())
        .json(&invalid)
        .send()
        .await
        .expect("post");
    assert_eq!(
        legacy.status(),
        200,
        "application/json: 200 even for validation errors"
    );
    assert!(legacy.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap_or("")
        .starts_with("application/json"));
    let body: Value = legacy.json().await.expect("json");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));

    let modern = client
        .post(gw.url())
        .header(ACCEPT, "application/graphql-response+json")
        .json(&invalid)
        .send()
        .await
        .expect("post");
    assert_eq!(modern.status(), 400);
    assert!(modern.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap_or("")
        .starts_with("application/graphql-response+json"));
    let body: Value = modern.json().await.expect("json");
    assert!(
        body.get("data").is_none(),
        "no data for a request error: {body}"
    );

    let ok = client
        .post(gw.url())
        .header(ACCEPT, "application/graphql-response+json")
        .bearer_auth(ADMIN_1)
        .json(&json!({"query": "{ labels(first: 1) { nodes { id } } }"}))
        .send()
        .await
        .expect("post");
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn malformed_requests_are_refused_and_the_gateway_keeps_serving() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let client = reqwest::Client::new();
    let status = |r: reqwest::Response| r.status().as_u16();

    let r = client
        .post(gw.url())
        .header(CONTENT_TYPE, "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(status(r), 400);
    let r = client
        .post(gw.url())
        .header(CONTENT_TYPE, "text/plain")
        .body("{ labels { nodes { id } } }")
        .send()
        .await
        .expect("post");
    assert_eq!(status(r), 415);
    let r = client
        .post(gw.url())
        .json(&json!({"query": 42}))
        .send()
        .await
        .expect("post");
    assert_eq!(status(r), 400);
    let r = client
        .post(gw.url())
        .json(&json!({"query": "{ __typename }", "variables": [1]}))
        .send()
        .await
        .expect("post");
    assert_eq!(status(r), 400);
    let r = client
        .get(gw.url())
        .query(&[("query", "mutation { x }")])
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    let r = client
        .post(gw.url())
        .header(ACCEPT, "text/plain")
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .expect("post");
    assert_eq!(status(r), 406);

    let data = gw
        .data(
            ADMIN_1,
            "{ __typename labels(first: 1) { nodes { id } } }",
            Value::Null,
        )
        .await;
    assert_eq!(data["__typename"], "Query");
}

#[tokio::test]
async fn health_and_readiness() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let base = format!("http://{}", gw.addr);
    let r = reqwest::get(format!("{base}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(r.status(), 200);
    let r = reqwest::get(format!("{base}/readyz"))
        .await
        .expect("readyz");
    assert_eq!(
        r.status(),
        200,
        "the upstream answers (401 without a token counts)"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let down = gateway_with(liveagent_graphql::config::Config {
        upstream: Some(format!("http://127.0.0.1:{port}/v1.1/odata")),
        ..base_config()
    })
    .await;
    let r = reqwest::get(format!("http://{}/readyz", down.addr))
        .await
        .expect("readyz");
    assert_eq!(r.status(), 503);
}

#[tokio::test]
async fn response_fields_come_in_selection_order() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let text = reqwest::Client::new()
        .post(gw.url())
        .bearer_auth(ADMIN_1)
        .json(&json!({"query": "{ labels(first: 1) { nodes { title id color } } }"}))
        .send()
        .await
        .expect("post")
        .text()
        .await
        .expect("text");
    let at = |needle: &str| text.find(needle).unwrap_or(usize::MAX);
    // Columns of a row come in selection order (root fields resolved in
    // parallel come in the order they finish).
    assert!(
        at("\"title\"") < at("\"id\"") && at("\"id\"") < at("\"color\""),
        "{text}"
    );
}

#[tokio::test]
async fn a_query_is_an_event_stream_only_when_the_client_prefers_one() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let client = reqwest::Client::new();
    let post = |accept: &'static str, query: &'static str| {
        client
            .post(gw.url())
            .bearer_auth(ADMIN_1)
            .header(ACCEPT, accept)
            .json(&json!({"query": query}))
            .send()
    };
    // urql's default Accept: JSON (with an ETag) for a query.
    let urql =
        "application/graphql-response+json, application/json, text/event-stream, multipart/mixed";
    let response = post(urql, "{ inbox(id: 1) { id } }").await.expect("post");
    assert_eq!(response.status(), 200);
    assert!(response.headers()[CONTENT_TYPE]
        .to_str()
        .expect("type")
        .starts_with("application/graphql-response+json"));
    assert!(response.headers().contains_key("etag"));
    // The same Accept still streams a subscription.
    let subscription = "subscription { inbox(id: 1, everySeconds: 5) { id } }";
    let response = post(urql, subscription).await.expect("post");
    assert!(response.headers()[CONTENT_TYPE]
        .to_str()
        .expect("type")
        .starts_with("text/event-stream"));
    drop(response);
    // A client that prefers the event stream gets one for a query too.
    let response = post(
        "text/event-stream, application/json;q=0.9",
        "{ inbox(id: 1) { id } }",
    )
    .await
    .expect("post");
    assert!(response.headers()[CONTENT_TYPE]
        .to_str()
        .expect("type")
        .starts_with("text/event-stream"));
}

#[tokio::test]
async fn int_inputs_outside_32_bits_are_bad_user_input() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    for (query, variables) in [
        ("{ conversation(id: 2147483648) { id } }", json!({})),
        (
            "query($id: Int!) { conversation(id: $id) { id } }",
            json!({"id": 4294967296i64}),
        ),
        (
            "{ conversations(where: {id: {in: [1, -2147483649]}}) { totalCount } }",
            json!({}),
        ),
    ] {
        let body = gw.query(Some(ADMIN_1), query, variables).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{query}: {body}");
        assert!(body.get("data").is_none_or(Value::is_null), "{body}");
    }
    let body = gw
        .query(
            Some(ADMIN_1),
            "{ conversation(id: 2147483647) { id } }",
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
}

#[tokio::test]
async fn introspection_agrees_with_schema_graphql() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let body = gw
        .query(
            Some(ADMIN_1),
            "{ __schema { description types { name } } d: __type(name: \"DateTime\") { specifiedByURL } }",
            json!({}),
        )
        .await;
    let data = &body["data"];
    assert_eq!(data["__schema"]["description"], Value::Null, "{body}");
    let sdl = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql");
    let url = data["d"]["specifiedByURL"]
        .as_str()
        .expect("DateTime's url");
    assert!(
        sdl.contains(&format!("scalar DateTime @specifiedBy(url: \"{url}\")")),
        "schema.graphql declares DateTime's specifiedBy as introspection reports it"
    );
    let types = data["__schema"]["types"].as_array().expect("types");
    for name in types.iter().filter_map(|t| t["name"].as_str()) {
        if name.starts_with("__") || ["Int", "Float", "String", "Boolean", "ID"].contains(&name) {
            continue;
        }
        let declared = ["type", "input", "enum", "scalar"].iter().any(|kind| {
            sdl.contains(&format!("{kind} {name} ")) || sdl.contains(&format!("{kind} {name}\n"))
        });
        assert!(declared, "{name} is in schema.graphql");
    }
}
