//! Filters, ordering and paging through the gateway, checked against rows
//! read directly from the test upstream and filtered or sorted here.

mod common;

use common::*;
use liveagent_graphql::config::{Config, InOperator};
use liveagent_graphql::odata::dates::parse_date_time;
use serde_json::{json, Value};

const AWKWARD: &str = "it's 100% \"ok\" & + # 😀";

/// Ids the gateway returns for a `where` value (one page of up to 1000).
async fn ids(gw: &Gateway, plural: &str, type_name: &str, filter: Value) -> Vec<i64> {
    let (ids, total) = ids_and_total(gw, plural, type_name, &filter).await;
    assert_eq!(total, Some(ids.len() as u64), "{plural} fits one page");
    ids
}

fn ids_where(rows: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<i64> {
    rows.iter()
        .filter(|r| keep(r))
        .filter_map(|r| r["id"].as_i64())
        .collect()
}

fn int(row: &Value, key: &str) -> Option<i64> {
    row[key].as_i64()
}

#[tokio::test]
async fn int_enum_and_null_operators() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let rows = up.all_rows("1.1", "Conversation", "", ADMIN_1).await;
    let inbox = int(&rows[0], "inbox_id").expect("inbox");
    let other_inbox = rows
        .iter()
        .filter_map(|r| int(r, "inbox_id"))
        .find(|i| *i != inbox)
        .expect("two inboxes");
    let assignee = rows
        .iter()
        .find_map(|r| int(r, "assignee_id"))
        .expect("an assignee");
    let cases: Vec<(Value, Vec<i64>)> = vec![
        (
            json!({"inboxId": {"eq": inbox}}),
            ids_where(&rows, |r| int(r, "inbox_id") == Some(inbox)),
        ),
        (
            json!({"displayId": {"gt": 10, "lte": 40}}),
            ids_where(&rows, |r| {
                int(r, "display_id").is_some_and(|d| d > 10 && d <= 40)
            }),
        ),
        (
            json!({"displayId": {"gte": 590}}),
            ids_where(&rows, |r| int(r, "display_id").is_some_and(|d| d >= 590)),
        ),
        (
            json!({"displayId": {"lt": 5}}),
            ids_where(&rows, |r| int(r, "display_id").is_some_and(|d| d < 5)),
        ),
        (
            json!({"inboxId": {"in": [inbox, other_inbox]}}),
            ids_where(&rows, |r| {
                [Some(inbox), Some(other_inbox)].contains(&int(r, "inbox_id"))
            }),
        ),
        (
            json!({"inboxId": {"nin": [inbox]}}),
            ids_where(&rows, |r| int(r, "inbox_id").is_some_and(|i| i != inbox)),
        ),
        (
            json!({"assigneeId": {"isNull": true}}),
            ids_where(&rows, |r| r["assignee_id"].is_null()),
        ),
        (
            json!({"assigneeId": {"isNull": false, "ne": assignee}}),
            ids_where(&rows, |r| {
                int(r, "assignee_id").is_some_and(|a| a != assignee)
            }),
        ),
        (
            json!({"status": {"in": ["OPEN", "PENDING"]}}),
            ids_where(&rows, |r| matches!(int(r, "status"), Some(0 | 2))),
        ),
        (
            json!({"status": {"nin": ["RESOLVED"]}}),
            ids_where(&rows, |r| int(r, "status").is_some_and(|s| s != 1)),
        ),
        (
            json!({"status": {"eq": "SNOOZED"}}),
            ids_where(&rows, |r| int(r, "status") == Some(3)),
        ),
    ];
    for (filter, expected) in cases {
        assert!(
            !expected.is_empty(),
            "a case must match something: {filter}"
        );
        assert_eq!(
            ids(&gw, "conversations", "Conversation", filter.clone()).await,
            expected,
            "{filter}"
        );
    }
}

#[tokio::test]
async fn string_operators_and_the_awkward_string() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let rows = up
        .all_rows("1.1", "Message", "&$select=id,content,private", ADMIN_1)
        .await;
    let content = |r: &Value| r["content"].as_str().map(str::to_owned);
    let exact = ids(
        &gw,
        "messages",
        "Message",
        json!({"content": {"eq": AWKWARD}}),
    )
    .await;
    assert_eq!(exact.len(), 3, "exactly the rows holding the string");
    assert_eq!(
        exact,
        ids_where(&rows, |r| content(r).as_deref() == Some(AWKWARD))
    );
    let contains = ids(
        &gw,
        "messages",
        "Message",
        json!({"content": {"contains": AWKWARD}}),
    )
    .await;
    assert_eq!(contains.len(), 5);
    assert_eq!(
        contains,
        ids_where(&rows, |r| content(r).is_some_and(|c| c.contains(AWKWARD)))
    );
    let cases: Vec<(Value, Vec<i64>)> = vec![
        (
            json!({"content": {"startsWith": "see: it's"}}),
            ids_where(&rows, |r| {
                content(r).is_some_and(|c| c.starts_with("see: it's"))
            }),
        ),
        (
            json!({"content": {"endsWith": "😀"}}),
            ids_where(&rows, |r| content(r).is_some_and(|c| c.ends_with('😀'))),
        ),
        (
            json!({"content": {"in": [AWKWARD, ""]}}),
            ids_where(&rows, |r| {
                content(r).is_some_and(|c| c == AWKWARD || c.is_empty())
            }),
        ),
        (
            json!({"content": {"isNull": true}}),
            ids_where(&rows, |r| r["content"].is_null()),
        ),
        (
            json!({"private": {"eq": true}}),
            ids_where(&rows, |r| r["private"] == true),
        ),
    ];
    for (filter, expected) in cases {
        assert!(
            !expected.is_empty(),
            "a case must match something: {filter}"
        );
        assert_eq!(
            ids(&gw, "messages", "Message", filter.clone()).await,
            expected,
            "{filter}"
        );
    }
}

#[tokio::test]
async fn date_ranges_and_nested_logic() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let rows = up
        .all_rows(
            "1.1",
            "Conversation",
            "&$select=id,created_at,status,inbox_id",
            ADMIN_1,
        )
        .await;
    let created = |r: &Value| r["created_at"].as_str().and_then(parse_date_time);
    let from = parse_date_time("2026-03-29T02:00:00+02:00").expect("date");
    let to = parse_date_time("2026-06-01T00:00:00Z").expect("date");
    let range = ids(
        &gw,
        "conversations",
        "Conversation",
        json!({"createdAt": {"gte": "2026-03-29T02:00:00+02:00", "lt": "2026-06-01T00:00:00Z"}}),
    )
    .await;
    let expected = ids_where(&rows, |r| created(r).is_some_and(|c| c >= from && c < to));
    assert!(!expected.is_empty());
    assert_eq!(range, expected);

    let one = rows[7]["created_at"].as_str().expect("date");
    let exact = ids(
        &gw,
        "conversations",
        "Conversation",
        json!({"createdAt": {"eq": one}}),
    )
    .await;
    assert_eq!(
        exact,
        ids_where(&rows, |r| created(r) == parse_date_time(one))
    );

    let inbox = rows[0]["inbox_id"].as_i64().expect("inbox");
    let nested = json!({
        "or": [
            {"and": [{"status": {"eq": "OPEN"}}, {"inboxId": {"eq": inbox}}]},
            {"not": {"or": [{"status": {"in": ["OPEN", "RESOLVED", "PENDING"]}}, {"createdAt": {"lt": "2026-01-01T00:00:00Z"}}]}}
        ]
    });
    let cutoff = parse_date_time("2026-01-01T00:00:00Z").expect("date");
    let expected = ids_where(&rows, |r| {
        let status = r["status"].as_i64();
        let first = status == Some(0) && r["inbox_id"].as_i64() == Some(inbox);
        let inner = matches!(status, Some(0..=2)) || created(r).is_some_and(|c| c < cutoff);
        first || !inner
    });
    assert!(!expected.is_empty());
    assert_eq!(
        ids(&gw, "conversations", "Conversation", nested).await,
        expected
    );
}

#[tokio::test]
async fn ordering_by_two_keys() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let mut rows = up
        .all_rows(
            "1.1",
            "Conversation",
            "&$select=id,status,created_at",
            ADMIN_1,
        )
        .await;
    rows.sort_by(|a, b| {
        let key = |r: &Value| {
            (
                r["status"].as_i64(),
                r["created_at"].as_str().and_then(parse_date_time),
                r["id"].as_i64(),
            )
        };
        let (sa, ca, ia) = key(a);
        let (sb, cb, ib) = key(b);
        sb.cmp(&sa).then(ca.cmp(&cb)).then(ia.cmp(&ib))
    });
    let expected: Vec<i64> = rows
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .take(300)
        .collect();
    let data = gw
        .data(
            ADMIN_1,
            "{ conversations(first: 300, orderBy: [{status: DESC}, {createdAt: ASC}]) { nodes { id } } }",
            Value::Null,
        )
        .await;
    let got: Vec<i64> = data["conversations"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["id"].as_i64())
        .collect();
    assert_eq!(got, expected);
}

/// Pages through all messages with `after` or `offset`.
async fn page_through(gw: &Gateway, by_cursor: bool) -> Vec<i64> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let variables = if by_cursor {
            json!({"after": after, "offset": null})
        } else {
            json!({"after": null, "offset": all.len()})
        };
        let data = gw
            .data(
                ADMIN_1,
                "query($after: String, $offset: Int) { messages(first: 700, after: $after, offset: $offset, orderBy: [{createdAt: DESC}]) { nodes { id } pageInfo { hasNextPage hasPreviousPage endCursor } } }",
                variables,
            )
            .await;
        let page = &data["messages"];
        all.extend(
            page["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n["id"].as_i64()),
        );
        assert_eq!(
            page["pageInfo"]["hasPreviousPage"],
            json!(after.is_some() || (!by_cursor && all.len() > 700))
        );
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    all
}

#[tokio::test]
async fn paging_by_cursor_and_by_offset_covers_everything_once() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let mut expected: Vec<i64> = up
        .all_rows("1.1", "Message", "&$select=id", ADMIN_1)
        .await
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    expected.sort_unstable();
    assert!(expected.len() > 1400, "enough rows for several pages");
    for by_cursor in [true, false] {
        let mut got = page_through(&gw, by_cursor).await;
        let count = got.len();
        got.sort_unstable();
        got.dedup();
        assert_eq!(got.len(), count, "no duplicates (cursor: {by_cursor})");
        assert_eq!(got, expected, "no gaps (cursor: {by_cursor})");
    }
}

#[tokio::test]
async fn server_driven_paging_is_followed() {
    if skipped_on_liveagent("the minimal dialect sends no next links (MAX_PAGE_SIZE)") {
        return;
    }
    let up = upstream_with(&[("MAX_PAGE_SIZE", "7")]);
    let gw = gateway(up, "1.1").await;
    let before = up.last_seq().await;
    let data = gw
        .data(
            ADMIN_1,
            "{ labels(first: 20) { nodes { id } } }",
            Value::Null,
        )
        .await;
    let got: Vec<i64> = data["labels"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["id"].as_i64())
        .collect();
    // The same deterministic data, read from an instance without a page cap.
    let expected: Vec<i64> = upstream()
        .all_rows("1.1", "Label", "&$select=id", ADMIN_1)
        .await
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .take(20)
        .collect();
    assert_eq!(got, expected);
    let requests = up.data_requests_since(before).await;
    assert!(
        requests.len() >= 2,
        "next links were followed: {requests:?}"
    );
}

/// On the minimal dialect, which has no `in`, only the `or` chains run
/// (`in_operator = "in"` would ask for what it cannot take).
#[tokio::test]
async fn in_operator_style_gives_the_same_rows() {
    let up = upstream();
    let or_gw = gateway_with(Config {
        in_operator: InOperator::Or,
        ..config_for(up, "1.1")
    })
    .await;
    let rows = up
        .all_rows("1.1", "Conversation", "&$select=id", ADMIN_1)
        .await;
    let wanted: Vec<i64> = rows
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .step_by(7)
        .take(40)
        .collect();
    let filter = json!({"id": {"in": wanted}});
    let before = up.last_seq().await;
    let a = ids(&or_gw, "conversations", "Conversation", filter.clone()).await;
    assert_eq!(a, wanted);
    if on_cap() {
        let in_gw = gateway_with(Config {
            in_operator: InOperator::In,
            ..config_for(up, "1.1")
        })
        .await;
        let b = ids(&in_gw, "conversations", "Conversation", filter).await;
        assert_eq!(b, wanted);
    }
    let urls = up.data_requests_since(before).await;
    assert!(urls.iter().any(|u| u.contains("%20or%20")), "{urls:?}");
    assert_eq!(
        urls.iter().any(|u| u.contains("%20in%20(")),
        on_cap(),
        "{urls:?}"
    );
}

/// The harness's check of upstream URLs against the minimal dialect.
#[test]
fn the_dialect_check_of_the_harness_tells_the_minimal_dialect_apart() {
    let ok = [
        "/v1.1/odata/Message?$select=id&$filter=content%20eq%20%27it%27%27s%2050%25%27&$top=10000&$skip=0",
        "/v1.1/odata/Conversation?$filter=(status%20eq%200%20or%20id%20eq%203)%20and%20created_at%20ge%20%272025-01-01T00%3A00%3A00.000Z%27&$top=5&$skip=0",
        "/v1.1/odata/Message?$filter=contains(content,%27not%20%28x%29%20eq%20null%27)&$top=1&$skip=0",
        "/v1.1/odata/$metadata",
    ];
    for url in ok {
        assert_eq!(
            common::dialect::violations(url, 10_000),
            Vec::<String>::new(),
            "{url}"
        );
    }
    let bad = [
        ("/v1.1/odata/Message?$count=true&$top=1&$skip=0", "$count"),
        ("/v1.1/odata/Message?%24expand=x&$top=1&$skip=0", "$expand"),
        (
            "/v1.1/odata/Message?$apply=groupby((id))&$top=1&$skip=0",
            "$apply",
        ),
        ("/v1.1/odata/Message?$top=10001&$skip=0", "page cap"),
        ("/v1.1/odata/Message?$filter=not%20(id%20eq%201)", "not"),
        ("/v1.1/odata/Message?$filter=id%20in%20(1,2)", "in (...)"),
        (
            "/v1.1/odata/Message?$filter=sender_id%20ne%20null",
            "ne null",
        ),
        (
            "/v1.1/odata/Message?$filter=content%20eq%20%27a/b%27",
            "'/'",
        ),
        (
            "/v1.1/odata/Message?$filter=content%20eq%20'a%20b c'",
            "' '",
        ),
        (
            "/v1.1/odata/Message?$filter=created_at%20ge%202025-01-01T00:00:00Z",
            "unquoted date",
        ),
    ];
    for (url, what) in bad {
        let found = common::dialect::violations(url, 10_000);
        assert!(found.iter().any(|v| v.contains(what)), "{url}: {found:?}");
    }
}
