//! The upstream page cap over HTTP: against a test upstream that answers 400
//! to any `$top` above 1000 (like Live Agent above 10 000; `MAX_TOP`, the
//! liveagent upstream's `PAGE_CAP`), a gateway with
//! `upstream_page_cap = 1000` reads more in pages and answers exactly what a
//! gateway on an uncapped upstream answers.

mod common;

use common::*;
use liveagent_graphql::config::{Config, Pushdown};
use serde_json::{json, Value};

const CAP: u64 = 1000;
/// Enough conversations (account 1) for a first page that is full.
const CONVERSATIONS: &str = "1200";

fn capped() -> &'static TestUpstream {
    upstream_with(&[("CONVERSATIONS", CONVERSATIONS), ("MAX_TOP", "1000")])
}

fn uncapped() -> &'static TestUpstream {
    upstream_with(&[("CONVERSATIONS", CONVERSATIONS)])
}

async fn gateway_for(up: &TestUpstream, extra: Config) -> Gateway {
    gateway_with(Config {
        upstream: Some(up.url("1.1")),
        upstream_page_cap: CAP,
        ..extra
    })
    .await
}

/// The same query through the capped and the uncapped upstream; the data
/// once both agree, with the capped upstream's requests since `since`
/// checked: none above the cap, none refused.
async fn agree(query: &str, extra: Config) -> Value {
    let up = capped();
    let since = up.last_seq().await;
    let paged = gateway_for(up, extra.clone()).await;
    let reference = gateway_with(Config {
        upstream: Some(uncapped().url("1.1")),
        ..extra
    })
    .await;
    let got = paged.data(ADMIN_1, query, json!({})).await;
    let expected = reference.data(ADMIN_1, query, json!({})).await;
    assert_eq!(got, expected, "paged and unpaged answers differ");
    assert_within_cap(up, since, CAP).await;
    got
}

/// Every `$top` (nested ones too) of the requests after `since` is within
/// `cap`, and none was answered with a 4xx.
async fn assert_within_cap(up: &TestUpstream, since: u64, cap: u64) {
    let log = up.requests_since(since).await;
    assert!(!log.is_empty(), "no upstream requests logged");
    for entry in &log {
        let url = entry["url"]
            .as_str()
            .unwrap_or_default()
            .replace("%24", "$");
        for top in url.split("$top=").skip(1) {
            let digits: String = top.chars().take_while(char::is_ascii_digit).collect();
            let top: u64 = digits.parse().expect("a number after $top=");
            assert!(top <= cap, "$top={top} above the cap: {url}");
        }
        let status = entry["status"].as_u64().unwrap_or(0);
        assert!(!(400..500).contains(&status), "{status} for {url}");
    }
}

fn ids(nodes: &Value) -> Vec<i64> {
    nodes
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["id"].as_i64())
        .collect()
}

#[tokio::test]
async fn a_root_list_at_the_cap_reads_its_look_ahead_in_a_second_page() {
    let up = capped();
    let since = up.last_seq().await;
    let gateway = gateway_for(up, base_config()).await;
    let all: Vec<i64> = uncapped()
        .all_rows("1.1", "Conversation", "&$select=id", ADMIN_1)
        .await
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    assert!(all.len() > 1001, "{} conversations", all.len());

    let data = gateway
        .data(
            ADMIN_1,
            "{ conversations(first: 1000) { nodes { id } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(ids(&data["conversations"]["nodes"]), all[..1000]);
    assert_eq!(data["conversations"]["pageInfo"]["hasNextPage"], true);

    // Exactly 1000 rows left: the look-ahead page comes back empty.
    let after = all[all.len() - 1001];
    let data = gateway
        .data(
            ADMIN_1,
            "query($after: Int!) { conversations(first: 1000, where: {id: {gt: $after}}) { nodes { id } pageInfo { hasNextPage } } }",
            json!({"after": after}),
        )
        .await;
    assert_eq!(
        ids(&data["conversations"]["nodes"]),
        all[all.len() - 1000..]
    );
    assert_eq!(data["conversations"]["pageInfo"]["hasNextPage"], false);
    let urls = up.data_requests_since(since).await;
    for page in ["&$top=1000&$skip=0", "&$top=1&$skip=1000"] {
        assert!(urls.iter().any(|u| u.contains(page)), "no {page}: {urls:?}");
    }
    assert_within_cap(up, since, CAP).await;
}

#[tokio::test]
async fn one_to_many_batches_above_the_cap_are_read_in_pages() {
    let since = capped().last_seq().await;
    let data = agree(
        "{ conversations(first: 400) { nodes { id messages { id messageType } } } }",
        // Every parent's id in one URL, so that one batch reads them all.
        Config {
            max_url_length: 14 * 1024,
            ..base_config()
        },
    )
    .await;
    let messages: usize = data["conversations"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|c| c["messages"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(messages > 2 * CAP as usize, "only {messages} messages");
    let urls = capped().data_requests_since(since).await;
    assert!(
        urls.iter()
            .any(|u| u.starts_with("/v1.1/odata/Message?") && u.contains("&$skip=2000")),
        "the message batch was not paged: {urls:?}"
    );

    let data = agree(
        "{ inboxes { nodes { id conversations(first: 5) { nodes { id } pageInfo { hasNextPage } } } } }",
        base_config(),
    )
    .await;
    assert!(data["inboxes"]["nodes"]
        .as_array()
        .is_some_and(|inboxes| inboxes.len() > 1));
}

#[tokio::test]
async fn aggregates_scan_and_push_down_within_the_cap() {
    let query = r#"{ messagesAggregate(groupBy: [MESSAGE_TYPE]) { key { messageType } count countDistinct { conversationId } } }"#;
    let scanned = agree(
        query,
        Config {
            aggregate_pushdown: Pushdown::Off,
            ..base_config()
        },
    )
    .await;
    let pushed = agree(
        query,
        Config {
            aggregate_pushdown: pushdown(),
            ..base_config()
        },
    )
    .await;
    assert_eq!(scanned, pushed);
    // The replica syncs through the capped upstream, in pages within the
    // cap, and answers the same.
    let up = capped();
    let since = up.last_seq().await;
    let replica = gateway_for(up, replica_config(ReplicaEngine::Sqlite, 60)).await;
    wait_replica_in_sync(&replica).await;
    let body = replica.query(Some(ADMIN_1), query, json!({})).await;
    assert!(replica_synced_at(&body).is_some(), "{body}");
    assert_eq!(body["data"], scanned);
    let synced = up.replica_requests_since(since).await;
    let urls: Vec<String> = synced
        .iter()
        .map(|e| e["url"].as_str().unwrap_or_default().replace("%24", "$"))
        .collect();
    let full_pages = urls
        .iter()
        .filter(|u| u.contains(&format!("$top={CAP}&")))
        .count();
    assert!(full_pages > 5, "read in pages of {CAP}: {urls:?}");
    for (entry, url) in synced.iter().zip(&urls) {
        let top: u64 = url
            .split("$top=")
            .nth(1)
            .map(|t| {
                t.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        assert!(top <= CAP, "{url}");
        assert_eq!(entry["status"].as_u64(), Some(200), "{url}");
    }
    let count: i64 = scanned["messagesAggregate"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["count"].as_i64())
        .sum();
    assert!(count > 5 * CAP as i64, "only {count} messages scanned");
}

#[tokio::test]
async fn an_expansion_is_clamped_to_the_cap_and_fails_rather_than_cut() {
    if skipped_on_liveagent("no $expand on the minimal dialect (DECLARE_NAVIGATION)") {
        return;
    }
    // Same data as `uncapped()`, which tells how many messages each
    // conversation has.
    let up = upstream_with(&[
        ("CONVERSATIONS", CONVERSATIONS),
        ("DECLARE_NAVIGATION", "1"),
        ("MAX_TOP", "5"),
    ]);
    let mut per_conversation = std::collections::BTreeMap::<i64, usize>::new();
    for m in uncapped()
        .all_rows("1.1", "Message", "&$select=id,conversation_id", ADMIN_1)
        .await
    {
        *per_conversation
            .entry(m["conversation_id"].as_i64().expect("conversation_id"))
            .or_default() += 1;
    }
    let few: Vec<i64> = per_conversation
        .iter()
        .filter(|(_, &n)| (1..5).contains(&n))
        .map(|(&id, _)| id)
        .take(3)
        .collect();
    let many = per_conversation
        .iter()
        .find(|(_, &n)| n >= 5)
        .map(|(&id, _)| id)
        .expect("a conversation with 5 messages or more");
    assert_eq!(few.len(), 3);

    let since = up.last_seq().await;
    let gateway = gateway_with(Config {
        upstream_page_cap: 5,
        ..config_for(up, "1.1")
    })
    .await;
    let query = "query($ids: [Int!]) { conversations(where: {id: {in: $ids}}) { nodes { id messages { id } } } }";

    // Unbounded per parent, `$top` clamped to 5: fewer rows than that are
    // the whole list.
    let data = gateway.data(ADMIN_1, query, json!({"ids": few})).await;
    let nodes = data["conversations"]["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3);
    for c in nodes {
        let id = c["id"].as_i64().expect("id");
        assert_eq!(
            c["messages"].as_array().map(Vec::len),
            per_conversation.get(&id).copied(),
            "{c}"
        );
    }
    let urls = up.data_requests_since(since).await;
    assert!(urls.iter().any(|u| u.contains("$expand=")), "{urls:?}");

    // A parent with 5 may have more: the field fails instead of cutting.
    let body = gateway
        .query(Some(ADMIN_1), query, json!({"ids": [many]}))
        .await;
    assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
    assert!(body.to_string().contains("upstream_page_cap"), "{body}");
    assert_eq!(
        body["data"]["conversations"]["nodes"][0]["messages"],
        Value::Null
    );
    assert_within_cap(up, since, 5).await;
}
