//! Requests nested at any depth — `where` trees (`not`, `and`, `or`),
//! nested lists, selection sets and fragment chains, inline and through
//! variables, at 10 to 100 000 levels — get a typed error naming the limit,
//! send nothing upstream, and leave the process serving.

mod common;

use common::*;
use serde_json::{json, Value};

const LEVELS: [usize; 5] = [10, 100, 1_000, 10_000, 100_000];

/// `{not: {not: ... {id: {eq: 1}} ...}}` and friends, `n` levels deep.
fn where_tree(kind: &str, n: usize) -> String {
    let (open, close) = match kind {
        "not" => ("{not: ", "}"),
        "and" => ("{and: [", "]}"),
        _ => ("{or: [", "]}"),
    };
    format!("{}{{id: {{gte: 1}}}}{}", open.repeat(n), close.repeat(n))
}

/// The same tree as JSON, for variables.
fn where_json(kind: &str, n: usize) -> String {
    let (open, close) = match kind {
        "not" => ("{\"not\": ", "}"),
        "and" => ("{\"and\": [", "]}"),
        _ => ("{\"or\": [", "]}"),
    };
    format!(
        "{}{{\"id\": {{\"gte\": 1}}}}{}",
        open.repeat(n),
        close.repeat(n)
    )
}

async fn post_raw(gw: &Gateway, body: String) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(gw.url())
        .bearer_auth(ADMIN_1)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Either the data (shallow enough) or a limit error naming its key.
fn assert_answered_or_limited(n: usize, what: &str, status: u16, body: &Value) {
    if n <= 10 {
        assert!(body["errors"].is_null(), "{what} at {n}: {body}");
        return;
    }
    let code = error_code(body);
    assert!(
        matches!(code, Some("BAD_USER_INPUT" | "QUERY_TOO_COMPLEX")),
        "{what} at {n}: {status} {body}"
    );
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        ["max_nesting", "max_filter_depth", "max_depth"]
            .iter()
            .any(|key| message.contains(key)),
        "{what} at {n} names its limit: {message}"
    );
    assert!(
        message.len() < 400,
        "{what} at {n}: the error does not echo the document"
    );
}

#[tokio::test]
async fn deep_requests_are_refused_by_name_and_the_process_keeps_serving() {
    let up = private_upstream("deep-requests");
    let gw = gateway_with(liveagent_graphql::config::Config {
        // Room for the deepest documents, so the nesting limit decides.
        max_body_bytes: 16 * 1024 * 1024,
        ..config_for(up, "1.1")
    })
    .await;
    // The shallow requests of each kind read upstream; the deep ones never.
    let mut upstream_before_deep = None;
    for n in LEVELS {
        if n > 10 && upstream_before_deep.is_none() {
            upstream_before_deep = Some(up.last_seq().await);
        }
        for kind in ["not", "and", "or"] {
            let query = format!(
                "{{ conversations(first: 1, where: {}) {{ nodes {{ id }} }} }}",
                where_tree(kind, n)
            );
            let (status, body) = post_raw(&gw, json!({ "query": query }).to_string()).await;
            assert_answered_or_limited(n, &format!("inline {kind}"), status, &body);

            let body = format!(
                r#"{{"query": "query($w: ConversationFilter) {{ conversations(first: 1, where: $w) {{ nodes {{ id }} }} }}", "variables": {{"w": {}}}}}"#,
                where_json(kind, n)
            );
            let (status, body) = post_raw(&gw, body).await;
            assert_answered_or_limited(n, &format!("variables {kind}"), status, &body);
        }
        let list = format!("{}1{}", "[".repeat(n), "]".repeat(n));
        let query =
            format!("{{ conversations(where: {{id: {{in: {list}}}}}) {{ nodes {{ id }} }} }}");
        let (_, body) = post_raw(&gw, json!({ "query": query }).to_string()).await;
        // A list of lists is no Int list: refused either way, never run.
        assert!(body["errors"].is_array(), "nested list at {n}: {body}");
        if n > 10 {
            assert_answered_or_limited(n, "nested list", 200, &body);
        }

        let selection = format!(
            "{{ __schema {{ types {{ {}name{} }} }} }}",
            "ofType { ".repeat(n),
            " }".repeat(n)
        );
        let (status, body) = post_raw(&gw, json!({ "query": selection }).to_string()).await;
        assert_answered_or_limited(n, "selection", status, &body);

        let mut fragments = String::from("{ conversations(first: 1) { nodes { ...F0 } } }\n");
        for i in 0..n {
            fragments.push_str(&format!(
                "fragment F{i} on Conversation {{ id ...F{} }}\n",
                i + 1
            ));
        }
        fragments.push_str(&format!("fragment F{n} on Conversation {{ id }}\n"));
        let (status, body) = post_raw(&gw, json!({ "query": fragments }).to_string()).await;
        if n > 10 {
            assert_answered_or_limited(n, "fragment chain", status, &body);
        }
    }
    let since = upstream_before_deep.unwrap_or_default();
    assert_eq!(up.data_requests_since(since).await, Vec::<String>::new());
    // Still serving.
    let data = gw
        .data(
            ADMIN_1,
            "{ conversations(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert!(data["conversations"]["nodes"][0]["id"].is_i64());
}

#[tokio::test]
async fn deep_get_variables_are_refused_by_name() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let variables = format!("{{\"w\": {}}}", where_json("not", 200));
    let response = reqwest::Client::new()
        .get(gw.url())
        .bearer_auth(ADMIN_1)
        .query(&[
            (
                "query",
                "query($w: ConversationFilter) { conversations(where: $w) { nodes { id } } }",
            ),
            ("variables", variables.as_str()),
        ])
        .send()
        .await
        .expect("request");
    let body: Value = response.json().await.expect("json");
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("max_nesting")));
}
