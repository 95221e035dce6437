//! Random requests at the HTTP surface: bodies (bytes, broken and
//! half-valid JSON, queries with random `where` values), content types,
//! `Accept`, credentials and methods. Every one gets an answer, never a
//! 5xx of the gateway's own making, a JSON body with coded errors whenever
//! it is JSON, and the process keeps serving. `PROPTEST_CASES` sets the
//! number of cases.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::Value;
use std::sync::OnceLock;

struct Target {
    runtime: tokio::runtime::Runtime,
    url: String,
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let up = upstream();
        let gw = runtime.block_on(gateway(up, "1.1"));
        Target {
            runtime,
            url: gw.url(),
        }
    })
}

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"query\"",
            "\"variables\"",
            "\"extensions\"",
            "\"operationName\"",
            "null",
            "true",
            "1e309",
            "-0",
            "\"\\u0000\"",
            "\"\\ud800\"",
            "\"{ conversations { nodes { id } } }\"",
            "\"query($w: ConversationFilter) { conversations(where: $w) { nodes { id } } }\"",
            "{\"w\": {\"id\": {\"in\": \"x\"}}}",
            "{\"persistedQuery\": {\"version\": 1, \"sha256Hash\": \"00\"}}",
            "\"mutation { x }\"",
            "\"subscription { x }\"",
            "\"{ __schema { types { name } } }\"",
        ])
        .prop_map(str::to_owned),
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(piece(), 0..12).prop_map(|p| p.concat().into_bytes()),
        (piece(), piece()).prop_map(|(q, v)| format!("{{\"query\": {q}, \"variables\": {v}}}").into_bytes()),
        any::<String>().prop_map(|w| {
            serde_json::json!({
                "query": "query($w: ConversationFilter) { conversations(first: 2, where: $w) { nodes { id } } }",
                "variables": {"w": {"content": {"contains": w}}}
            })
            .to_string()
            .into_bytes()
        }),
    ]
}

fn header_value() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        prop::sample::select(vec![
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "",
            "application/graphql-response+json",
            "multipart/form-data; boundary=x",
            "text/html",
            "*/*",
            "application/*;q=0",
            "text/event-stream",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,40}",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_request_gets_a_coded_answer(
        post in any::<bool>(),
        body in body(),
        content_type in header_value(),
        accept in header_value(),
        token in prop::option::of(prop_oneof![
            Just(ADMIN_1.to_string()),
            "[ -~]{0,30}",
        ]),
        query_string in "[ -~]{0,60}",
    ) {
        let target = target();
        let outcome = target.runtime.block_on(async {
            let client = reqwest::Client::new();
            let mut request = if post {
                client.post(&target.url).body(body)
            } else {
                client.get(format!("{}?{}", target.url, query_string))
            };
            if let Some(ct) = &content_type {
                request = request.header("content-type", ct);
            }
            if let Some(accept) = &accept {
                request = request.header("accept", accept);
            }
            if let Some(token) = &token {
                request = request.header("authorization", format!("Bearer {token}"));
            }
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let media = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let text = response.text().await.map_err(|e| e.to_string())?;
            let healthy = client
                .get(target.url.replace("/graphql", "/healthz"))
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            Ok::<_, String>((status, media, text, healthy))
        });
        prop_assert!(outcome.is_ok(), "no answer: {:?}", outcome);
        let (status, media, text, healthy) = outcome.unwrap_or_default();
        prop_assert!(healthy, "the process stopped serving");
        // 502-504 only come from the upstream; this one is up.
        prop_assert!(status < 500, "{status} {text}");
        if media.contains("json") {
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            prop_assert!(body.is_object(), "{status} not JSON: {text}");
            for error in body["errors"].as_array().into_iter().flatten() {
                prop_assert!(error["extensions"]["code"].is_string(), "uncoded: {text}");
            }
        }
    }
}
