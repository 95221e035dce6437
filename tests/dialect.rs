//! Exact answers whatever the upstream can evaluate: random `where` trees
//! (`not`, `nin`, `isNull`, `ne` on nullable fields, patterns holding `%`,
//! `_` and `\`) checked against an evaluator of the contract's SQL null
//! semantics written here, on rows read directly from the test upstream;
//! residual reads bounded by `max_scan_rows`; totals without `$count`;
//! literals the minimal dialect cannot take raw. (Probes: tests/probes.rs.)

mod common;

use common::*;
use liveagent_graphql::config::Config;
use liveagent_graphql::odata::{CapabilityOverrides, DialectName};
use serde_json::{json, Value};

fn on_minimal_upstream() -> bool {
    !on_cap()
}

/// A gateway that plans for the minimal dialect, whatever the upstream
/// (probes off, or they would find the complete server's capabilities). On
/// the complete server `ne` matches nulls (OData's rule): said here, the
/// gateway checks those rows itself.
async fn minimal_gateway(up: &TestUpstream, tweak: impl FnOnce(&mut Config)) -> Gateway {
    let mut config = Config {
        upstream: Some(up.url("1.1")),
        upstream_dialect: DialectName::Liveagent,
        upstream_capabilities: CapabilityOverrides {
            ne_matches_null: (!on_minimal_upstream()).then_some(true),
            ..CapabilityOverrides::default()
        },
        upstream_probes: false,
        ..Config::default()
    };
    tweak(&mut config);
    gateway_with(config).await
}

/// A column of the generated trees: GraphQL name, OData name, kind.
#[derive(Clone, Copy)]
enum Kind {
    Int(&'static [i64]),
    Enum(&'static [(&'static str, i64)]),
    Text(&'static [&'static str]),
}

const STATUS: &[(&str, i64)] = &[("OPEN", 0), ("RESOLVED", 1), ("PENDING", 2), ("SNOOZED", 3)];
const MESSAGE_TYPE: &[(&str, i64)] = &[("INCOMING", 0), ("OUTGOING", 1), ("ACTIVITY", 2)];
const CONVERSATION: &[(&str, &str, Kind)] = &[
    ("id", "id", Kind::Int(&[5, 50, 300])),
    ("inboxId", "inbox_id", Kind::Int(&[1, 2, 3])),
    ("assigneeId", "assignee_id", Kind::Int(&[1, 3, 9, 10])),
    ("status", "status", Kind::Enum(STATUS)),
];
const MESSAGE: &[(&str, &str, Kind)] = &[
    ("id", "id", Kind::Int(&[20, 400, 850])),
    ("senderId", "sender_id", Kind::Int(&[1, 3, 9])),
    ("messageType", "message_type", Kind::Enum(MESSAGE_TYPE)),
    (
        "content",
        "content",
        Kind::Text(&[
            "%", "100%", "a", "_", "it's", "\"ok\"", "\\", "e ", "😀", "/", "<",
        ]),
    ),
];

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn random_where(rng: &mut Lcg, columns: &[(&str, &str, Kind)], depth: u32) -> Value {
    let kind = if depth == 0 { 3 } else { rng.below(6) };
    match kind {
        0 => {
            json!({"and": [random_where(rng, columns, depth - 1), random_where(rng, columns, depth - 1)]})
        }
        1 => {
            json!({"or": [random_where(rng, columns, depth - 1), random_where(rng, columns, depth - 1)]})
        }
        2 => json!({"not": random_where(rng, columns, depth - 1)}),
        _ => {
            let (name, _, kind) = columns[rng.below(columns.len())];
            let (op, value) = match kind {
                Kind::Int(values) => {
                    let ops = ["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "isNull"];
                    let op = ops[rng.below(ops.len())];
                    let v = values[rng.below(values.len())];
                    match op {
                        "in" | "nin" => (op, json!([v, values[rng.below(values.len())]])),
                        "isNull" => (op, json!(rng.below(2) == 0)),
                        _ => (op, json!(v)),
                    }
                }
                Kind::Enum(values) => {
                    let ops = ["eq", "ne", "in", "nin", "isNull"];
                    let op = ops[rng.below(ops.len())];
                    let v = values[rng.below(values.len())].0;
                    match op {
                        "in" | "nin" => (op, json!([v])),
                        "isNull" => (op, json!(rng.below(2) == 0)),
                        _ => (op, json!(v)),
                    }
                }
                Kind::Text(values) => {
                    let ops = ["contains", "startsWith", "endsWith", "ne", "isNull"];
                    let op = ops[rng.below(ops.len())];
                    match op {
                        "isNull" => (op, json!(rng.below(2) == 0)),
                        _ => (op, json!(values[rng.below(values.len())])),
                    }
                }
            };
            json!({ name: { op: value } })
        }
    }
}

/// The contract's semantics: SQL's three-valued logic (`None` unknown).
fn eval(filter: &Value, row: &Value, columns: &[(&str, &str, Kind)]) -> Option<bool> {
    let mut result = Some(true);
    for (key, value) in filter.as_object().into_iter().flatten() {
        let part = match key.as_str() {
            "and" => and(value
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| eval(f, row, columns))),
            "or" => or(value
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| eval(f, row, columns))),
            "not" => eval(value, row, columns).map(|b| !b),
            name => {
                let (_, odata, kind) = columns
                    .iter()
                    .find(|(n, _, _)| *n == name)
                    .copied()
                    .expect("a generated column");
                let ops = value.as_object().into_iter().flatten();
                and(ops.map(|(op, arg)| operator(op, arg, &row[odata], kind)))
            }
        };
        result = and([result, part].into_iter());
    }
    result
}

fn and(parts: impl Iterator<Item = Option<bool>>) -> Option<bool> {
    let mut out = Some(true);
    for p in parts {
        out = match (out, p) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        };
    }
    out
}

/// De Morgan holds in three-valued logic.
fn or(parts: impl Iterator<Item = Option<bool>>) -> Option<bool> {
    and(parts.map(|p| p.map(|b| !b))).map(|b| !b)
}

fn operator(op: &str, arg: &Value, field: &Value, kind: Kind) -> Option<bool> {
    let number = |v: &Value| match (kind, v) {
        (Kind::Enum(values), Value::String(name)) => {
            values.iter().find(|(n, _)| n == name).map(|(_, x)| *x)
        }
        (_, v) => v.as_i64(),
    };
    let list = || arg.as_array().cloned().unwrap_or_default();
    if op == "isNull" {
        return Some(field.is_null() == arg.as_bool()?);
    }
    if (op == "in" || op == "nin") && list().is_empty() {
        return Some(op == "nin");
    }
    if field.is_null() {
        return None;
    }
    if let Kind::Text(_) = kind {
        let (text, arg) = (field.as_str()?, arg.as_str()?);
        return Some(match op {
            "contains" => text.contains(arg),
            "startsWith" => text.starts_with(arg),
            "endsWith" => text.ends_with(arg),
            "eq" => text == arg,
            "ne" => text != arg,
            other => panic!("no text operator {other}"),
        });
    }
    let v = field.as_i64()?;
    Some(match op {
        "eq" => Some(v) == number(arg),
        "ne" => Some(v) != number(arg),
        "gt" => v > number(arg)?,
        "gte" => v >= number(arg)?,
        "lt" => v < number(arg)?,
        "lte" => v <= number(arg)?,
        "in" => list().iter().any(|a| number(a) == Some(v)),
        "nin" => !list().iter().any(|a| number(a) == Some(v)),
        other => panic!("no int operator {other}"),
    })
}

/// `trees` random `where` trees, half on conversations, half on messages,
/// each answered by `gw` and by the evaluator here on rows read directly;
/// every tree whose rows or total differ is listed, and the test fails
/// unless there are none.
async fn random_trees_match(gw: &Gateway, up: &TestUpstream, seed: u64, trees: usize) {
    let conversations = up.all_rows("1.1", "Conversation", "", ADMIN_1).await;
    // Messages of the first conversations: one page of the gateway's lists.
    let messages: Vec<Value> = up
        .all_rows("1.1", "Message", "&$filter=id%20le%20900", ADMIN_1)
        .await;
    let mut rng = Lcg(seed);
    let (mut wrong_rows, mut wrong_totals) = (Vec::new(), Vec::new());
    for round in 0..trees {
        let (plural, type_name, columns, rows, scope) = if round % 2 == 0 {
            (
                "conversations",
                "Conversation",
                CONVERSATION,
                &conversations,
                json!({}),
            )
        } else {
            (
                "messages",
                "Message",
                MESSAGE,
                &messages,
                json!({"id": {"lte": 900}}),
            )
        };
        let tree = random_where(&mut rng, columns, 3);
        let filter = json!({"and": [scope, tree]});
        let want: Vec<i64> = rows
            .iter()
            .filter(|r| eval(&filter, r, columns) == Some(true))
            .filter_map(|r| r["id"].as_i64())
            .collect();
        let (got, total) = ids_and_total(gw, plural, type_name, &filter).await;
        if got != want {
            wrong_rows.push(format!("{plural} where {filter}: {got:?}, not {want:?}"));
        }
        if total != Some(want.len() as u64) {
            wrong_totals.push(format!(
                "{plural} where {filter}: {total:?}, not {}",
                want.len()
            ));
        }
    }
    eprintln!(
        "{trees} random trees (seed {seed}): {} wrong rows, {} wrong totals",
        wrong_rows.len(),
        wrong_totals.len()
    );
    assert!(
        wrong_rows.is_empty() && wrong_totals.is_empty(),
        "wrong rows: {wrong_rows:#?}\nwrong totals: {wrong_totals:#?}"
    );
}

/// Random trees per gateway: `RANDOM_TREES`, else 24.
fn trees() -> usize {
    std::env::var("RANDOM_TREES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24)
}

#[tokio::test]
async fn random_filters_give_exact_answers_on_the_default_and_the_minimal_plan() {
    let up = upstream();
    let default = gateway(up, "1.1").await;
    random_trees_match(&default, up, 11, trees()).await;
    let minimal = minimal_gateway(up, |_| {}).await;
    random_trees_match(&minimal, up, 12, trees()).await;
}

/// A new user's gateway: nothing configured but the upstream, the probes
/// deciding every capability. Probes send what the minimal dialect lacks,
/// on purpose: an upstream of this test's own, kept out of the error log.
#[tokio::test]
async fn random_filters_give_exact_answers_with_the_default_configuration() {
    let up = upstream_with(&[("ERROR_LOG", "")]);
    let gw = gateway_with(Config {
        upstream: Some(up.url("1.1")),
        ..Config::default()
    })
    .await;
    random_trees_match(&gw, up, 13, trees().max(300)).await;
}

fn error_message(body: &Value) -> String {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn residual_reads_are_bounded_by_max_scan_rows() {
    let up = upstream();
    let gw = minimal_gateway(up, |c| c.max_scan_rows = 100).await;
    let rows = up.all_rows("1.1", "Conversation", "", ADMIN_1).await;
    assert!(rows.len() > 100, "more rows than the limit");
    let unassigned: Vec<i64> = rows
        .iter()
        .filter(|r| r["assignee_id"].is_null())
        .filter_map(|r| r["id"].as_i64())
        .collect();
    // A page found within the limit is answered.
    let data = gw
        .data(
            ADMIN_1,
            "{ conversations(first: 3, where: {assigneeId: {isNull: true}}) { nodes { id } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(node_ids(&data["conversations"]), unassigned[..3].to_vec());
    assert_eq!(
        data["conversations"]["pageInfo"]["hasNextPage"],
        json!(true)
    );
    // A total needs every row: past the limit, a typed error naming the
    // residual predicate and the key.
    let body = gw
        .query(
            Some(ADMIN_1),
            "{ conversations(first: 3, where: {assigneeId: {isNull: true}}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), Some("SCAN_LIMIT_EXCEEDED"), "{body}");
    let message = error_message(&body);
    assert!(
        message.contains("assignee_id eq null") && message.contains("max_scan_rows"),
        "{message}"
    );
    // Counting without `$count` is bounded the same way.
    let body = gw
        .query(Some(ADMIN_1), "{ conversations { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&body), Some("SCAN_LIMIT_EXCEEDED"), "{body}");
    // The process keeps serving.
    let data = gw
        .data(
            ADMIN_1,
            "{ conversations(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["conversations"]["nodes"][0]["id"], rows[0]["id"]);
}

#[tokio::test]
async fn totals_without_count_are_counted_from_ids() {
    let up = private_upstream("totals_without_count");
    let gw = minimal_gateway(up, |_| {}).await;
    let rows = up.all_rows("1.1", "Conversation", "", ADMIN_1).await;
    let inbox = rows[0]["inbox_id"].as_i64().expect("inbox");
    let want = rows
        .iter()
        .filter(|r| r["inbox_id"].as_i64() == Some(inbox))
        .count();
    let since = up.last_seq().await;
    let data = gw
        .data(
            ADMIN_1,
            "query($i: Int) { a: conversations(first: 2, where: {inboxId: {eq: $i}}) { totalCount nodes { id } } b: conversations(first: 0) { totalCount } }",
            json!({"i": inbox}),
        )
        .await;
    assert_eq!(data["a"]["totalCount"].as_u64(), Some(want as u64));
    assert_eq!(data["b"]["totalCount"].as_u64(), Some(rows.len() as u64));
    let urls = up.data_requests_since(since).await;
    assert!(!urls.iter().any(|u| u.contains("$count")), "{urls:?}");
    assert!(
        urls.iter().any(|u| u.contains("$select=id&")),
        "ids read: {urls:?}"
    );
}

#[tokio::test]
async fn sparse_matches_fill_the_page_in_order_with_offsets() {
    let up = upstream();
    let gw = minimal_gateway(up, |_| {}).await;
    let messages = up.all_rows("1.1", "Message", "", ADMIN_1).await;
    let want: Vec<i64> = messages
        .iter()
        .filter(|m| m["content"].as_str().is_some_and(|c| c.contains("100%")))
        .filter_map(|m| m["id"].as_i64())
        .collect();
    assert!(want.len() > 4, "enough matches: {}", want.len());
    let data = gw
        .data(
            ADMIN_1,
            r#"{ a: messages(first: 2, where: {content: {contains: "100%"}}) { nodes { id } pageInfo { hasNextPage } }
                 b: messages(first: 2, offset: 2, where: {content: {contains: "100%"}}) { nodes { id } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(node_ids(&data["a"]), want[..2].to_vec());
    assert_eq!(data["a"]["pageInfo"]["hasNextPage"], json!(true));
    assert_eq!(node_ids(&data["b"]), want[2..4].to_vec());
}

#[tokio::test]
async fn dates_keep_full_precision_and_any_hour() {
    let up = upstream();
    let rows = up.all_rows("1.1", "Conversation", "", ADMIN_1).await;
    let created = |r: &Value| {
        r["created_at"]
            .as_str()
            .and_then(liveagent_graphql::odata::dates::parse_date_time)
    };
    let row = &rows[rows.len() / 2];
    let at = created(row).expect("created_at");
    let just_after = (at + chrono::Duration::microseconds(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let evening = format!("{}T20:00:00Z", at.format("%Y-%m-%d"));
    let evening_at = liveagent_graphql::odata::dates::parse_date_time(&evening).expect("date");
    for gw in [gateway(up, "1.1").await, minimal_gateway(up, |_| {}).await] {
        let data = gw
            .data(
                ADMIN_1,
                "query($a: DateTime, $e: DateTime) { after: conversations(first: 1000, where: {createdAt: {gte: $a}}) { nodes { id } } evening: conversations(first: 1000, where: {createdAt: {lt: $e}}) { nodes { id } } }",
                json!({"a": just_after, "e": evening}),
            )
            .await;
        let after = node_ids(&data["after"]);
        assert!(
            !after.contains(&row["id"].as_i64().unwrap_or(-1)),
            "a bound 1 µs later leaves the row out"
        );
        let want_after: Vec<i64> = rows
            .iter()
            .filter(|r| created(r).is_some_and(|t| t > at))
            .filter_map(|r| r["id"].as_i64())
            .collect();
        assert_eq!(after, want_after);
        let want_evening: Vec<i64> = rows
            .iter()
            .filter(|r| created(r).is_some_and(|t| t < evening_at))
            .filter_map(|r| r["id"].as_i64())
            .collect();
        assert_eq!(node_ids(&data["evening"]), want_evening);
    }
}

#[tokio::test]
async fn relations_and_aggregates_apply_residuals() {
    let up = upstream();
    let gw = minimal_gateway(up, |_| {}).await;
    let conversations = up.all_rows("1.1", "Conversation", "", ADMIN_1).await;
    let messages = up.all_rows("1.1", "Message", "", ADMIN_1).await;
    let data = gw
        .data(
            ADMIN_1,
            r#"{ conversations(first: 20) { nodes { id messages(where: {not: {messageType: {eq: INCOMING}}, senderId: {isNull: true}}) { id } } }
                 messagesAggregate(where: {senderId: {isNull: true}, not: {content: {contains: "a"}}}) { count } }"#,
            json!({}),
        )
        .await;
    for node in data["conversations"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let id = node["id"].as_i64();
        let want: Vec<i64> = messages
            .iter()
            .filter(|m| m["conversation_id"].as_i64() == id)
            .filter(|m| m["message_type"].as_i64().is_some_and(|t| t != 0))
            .filter(|m| m["sender_id"].is_null())
            .filter_map(|m| m["id"].as_i64())
            .collect();
        assert_eq!(
            node_ids(&node["messages"]),
            want,
            "messages of conversation {id:?}"
        );
    }
    let want = messages
        .iter()
        .filter(|m| m["sender_id"].is_null())
        .filter(|m| m["content"].as_str().is_some_and(|c| !c.contains('a')))
        .count();
    assert_eq!(
        data["messagesAggregate"][0]["count"].as_u64(),
        Some(want as u64)
    );
    assert!(!conversations.is_empty());
}

#[tokio::test]
async fn explain_shows_the_residual_and_the_requests_it_took() {
    let up = upstream();
    let gw = minimal_gateway(up, |_| {}).await;
    let response = reqwest::Client::new()
        .post(gw.url())
        .bearer_auth(ADMIN_1)
        .header("x-explain", "1")
        .json(&json!({"query": "{ conversations(first: 2, where: {assigneeId: {isNull: true}}) { totalCount nodes { id } } }"}))
        .send()
        .await
        .expect("request");
    let body: Value = response.json().await.expect("json");
    assert!(body.get("errors").is_none(), "{body}");
    let explain = &body["extensions"]["explain"];
    let residual = &explain["residuals"][0];
    assert_eq!(residual["collection"], json!("Conversation"), "{explain}");
    assert_eq!(
        residual["predicate"],
        json!("assignee_id eq null"),
        "{explain}"
    );
    assert_eq!(
        residual["rowsMatched"], body["data"]["conversations"]["totalCount"],
        "{explain}"
    );
    let requests = explain["requests"].as_array().cloned().unwrap_or_default();
    let read: u64 = requests.iter().filter_map(|r| r["rows"].as_u64()).sum();
    assert_eq!(residual["rowsRead"].as_u64(), Some(read), "{explain}");
    assert!(
        requests
            .iter()
            .all(|r| r["url"].as_str().is_some_and(|u| !u.contains("null"))),
        "the null test stays in the gateway: {explain}"
    );
}
