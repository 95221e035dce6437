//! The capability probes and the page cap over HTTP: what the probes find
//! on each test upstream whatever the preset, what config keeps from them,
//! the page cap learned at the first request and again when the upstream
//! refuses a `$top`, and the probes run again when the upstream starts
//! refusing what it took. Probes send what the minimal dialect lacks, on
//! purpose: the upstreams here are kept out of the error log.

mod common;

use common::*;
use liveagent_graphql::config::Config;
use liveagent_graphql::odata::{Capability, CapabilityOverrides, Dialect, DialectName};
use serde_json::{json, Value};

fn on_minimal_upstream() -> bool {
    !on_cap()
}

/// An upstream of the test's own (its requests counted), kept out of the
/// error log, with these settings.
fn own_upstream(test: &str, env: &[(&str, &str)]) -> &'static TestUpstream {
    let mut env = env.to_vec();
    env.extend([("ERROR_LOG", ""), ("PRIVATE_TO", test)]);
    upstream_with(&env)
}

/// A gateway with the default configuration in front of `up`.
async fn default_gateway(up: &TestUpstream) -> Gateway {
    gateway_with(Config {
        upstream: Some(up.url("1.1")),
        ..Config::default()
    })
    .await
}

/// The same with `upstream_probes = false`.
async fn default_gateway_without_probes(up: &TestUpstream) -> Gateway {
    gateway_with(Config {
        upstream: Some(up.url("1.1")),
        upstream_probes: false,
        ..Config::default()
    })
    .await
}

async fn capabilities_of(gw: &Gateway) -> Value {
    let url = gw.url().replace("/graphql", "/capabilities");
    reqwest::get(url)
        .await
        .expect("capabilities")
        .json()
        .await
        .expect("json")
}

const FIRST: &str = "{ conversations(first: 1) { nodes { id } } }";

/// What the probes must find: the `liveagent` preset exactly on the
/// jaystack upstream; on CAP the complete set, `in` included, with
/// `$expand` and next links as this CAP upstream serves them.
fn found_on_this_upstream(navigation: bool, next_links: bool) -> Dialect {
    if on_minimal_upstream() {
        return DialectName::Liveagent.preset();
    }
    Dialect {
        in_list: true,
        expand: navigation,
        next_links,
        ..DialectName::Odata4.preset()
    }
}

fn assert_in_force(caps: &Value, want: Dialect, why: &str) {
    for c in Capability::ALL {
        let name = c.name();
        assert_eq!(
            caps["in_force"][name],
            json!(want.get(c)),
            "{name}: {caps:#}"
        );
        assert_eq!(
            caps["capabilities"][name]["in_force"],
            json!(want.get(c)),
            "{name}: {caps:#}"
        );
        assert_eq!(
            caps["capabilities"][name]["why"],
            json!(why),
            "{name}: {caps:#}"
        );
    }
}

#[tokio::test]
async fn probes_find_the_upstreams_capabilities_whatever_the_preset() {
    let up = own_upstream("probes-find", &[]);
    for preset in [DialectName::Liveagent, DialectName::Odata4] {
        let gw = gateway_with(Config {
            upstream: Some(up.url("1.1")),
            upstream_dialect: preset,
            ..Config::default()
        })
        .await;
        let caps = capabilities_of(&gw).await;
        assert_eq!(caps["probed"], json!(false), "{caps:#}");
        assert_in_force(&caps, preset.preset(), "the preset: not probed yet");
        let since = up.last_seq().await;
        gw.data(ADMIN_1, FIRST, json!({})).await;
        let caps = capabilities_of(&gw).await;
        assert_eq!(caps["probed"], json!(true), "{caps:#}");
        assert_in_force(&caps, found_on_this_upstream(false, false), "probed");
        let probes = up.probes_since(since).await;
        assert!(probes.len() <= 13, "{} probes: {probes:#?}", probes.len());
        // Once per process.
        let since = up.last_seq().await;
        gw.data(ADMIN_1, FIRST, json!({})).await;
        assert!(up.probes_since(since).await.is_empty());
    }
}

#[tokio::test]
async fn probes_find_expand_and_next_links_where_the_server_has_them() {
    if skipped_on_liveagent(
        "navigation properties and next links (DECLARE_NAVIGATION, MAX_PAGE_SIZE)",
    ) {
        return;
    }
    let up = own_upstream(
        "probes-navigation",
        &[("DECLARE_NAVIGATION", "1"), ("MAX_PAGE_SIZE", "500")],
    );
    let gw = default_gateway(up).await;
    gw.data(ADMIN_1, FIRST, json!({})).await;
    let caps = capabilities_of(&gw).await;
    assert_in_force(&caps, found_on_this_upstream(true, true), "probed");
}

#[tokio::test]
async fn config_is_never_changed_by_a_probe_and_probes_off_keep_the_preset() {
    let up = own_upstream("probes-config", &[]);
    let gw = gateway_with(Config {
        upstream: Some(up.url("1.1")),
        upstream_capabilities: CapabilityOverrides {
            count: Some(false),
            not: Some(false),
            ..CapabilityOverrides::default()
        },
        ..Config::default()
    })
    .await;
    gw.data(ADMIN_1, FIRST, json!({})).await;
    let caps = capabilities_of(&gw).await;
    let mut want = found_on_this_upstream(false, false);
    want.count = false;
    want.not = false;
    for c in Capability::ALL {
        assert_eq!(caps["in_force"][c.name()], json!(want.get(c)), "{caps:#}");
    }
    let config = "set in config (upstream_capabilities)";
    assert_eq!(caps["capabilities"]["count"]["why"], json!(config));
    assert_eq!(caps["capabilities"]["not"]["configured"], json!(false));

    let off = default_gateway_without_probes(up).await;
    let since = up.last_seq().await;
    off.data(ADMIN_1, FIRST, json!({})).await;
    assert!(up.probes_since(since).await.is_empty());
    let caps = capabilities_of(&off).await;
    assert_in_force(
        &caps,
        DialectName::Liveagent.preset(),
        "the preset: probes are off",
    );
}

/// Every request logged since `since` (probes aside) within `cap`, and
/// how many of them were refused with a 4xx.
async fn refused_and_within(up: &TestUpstream, since: u64, cap: u64) -> usize {
    let log = up.requests_since(since).await;
    let mut refused = 0;
    for entry in &log {
        let url = entry["url"]
            .as_str()
            .unwrap_or_default()
            .replace("%24", "$");
        let status = entry["status"].as_u64().unwrap_or(0);
        if (400..500).contains(&status) {
            refused += 1;
            continue;
        }
        for top in url.split("$top=").skip(1) {
            let digits: String = top.chars().take_while(char::is_ascii_digit).collect();
            let top: u64 = digits.parse().expect("a number after $top=");
            assert!(top <= cap, "$top={top} above the cap: {url}");
        }
    }
    refused
}

const THOUSAND: &str =
    "{ conversations(first: 1000, orderBy: [{id: ASC}]) { nodes { id } pageInfo { hasNextPage } } }";

#[tokio::test]
async fn the_page_cap_is_learned_at_the_first_request() {
    let up = own_upstream(
        "probes-page-cap",
        &[("MAX_TOP", "1000"), ("CONVERSATIONS", "1200")],
    );
    let gw = default_gateway(up).await;
    let since = up.last_seq().await;
    let response = reqwest::Client::new()
        .post(gw.url())
        .bearer_auth(ADMIN_1)
        .header("x-explain", "1")
        .json(&json!({ "query": THOUSAND }))
        .send()
        .await
        .expect("request");
    let body: Value = response.json().await.expect("json");
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(node_ids(&body["data"]["conversations"]).len(), 1000);
    assert_eq!(
        body["extensions"]["explain"]["pageCap"],
        json!(1000),
        "{body}"
    );
    assert_eq!(refused_and_within(up, since, 1000).await, 0);
    let searched: Vec<String> = up
        .probes_since(since)
        .await
        .iter()
        .filter_map(|r| r["url"].as_str().map(str::to_owned))
        .filter(|u| u.contains("id%20eq%20-1"))
        .collect();
    assert_eq!(searched.len(), 3, "10 000, 1 000, 1 001: {searched:#?}");
    let caps = capabilities_of(&gw).await;
    assert_eq!(caps["page_cap"]["in_force"], json!(1000), "{caps:#}");
    assert_eq!(caps["page_cap"]["configured"], json!(10_000), "{caps:#}");
}

#[tokio::test]
async fn a_refused_top_finds_the_page_cap_again_and_the_read_is_retried_once() {
    // Not `own_upstream`: the refused `$top` is the point here, and the
    // check of every URL on a private upstream would stop at it.
    let up = upstream_with(&[
        ("MAX_TOP", "1000"),
        ("CONVERSATIONS", "1200"),
        ("ERROR_LOG", ""),
        ("REFUSED_TOP", "1"),
    ]);
    let gw = default_gateway_without_probes(up).await;
    let since = up.last_seq().await;
    let data = gw.data(ADMIN_1, THOUSAND, json!({})).await;
    assert_eq!(node_ids(&data["conversations"]).len(), 1000);
    assert_eq!(
        data["conversations"]["pageInfo"]["hasNextPage"],
        json!(true)
    );
    assert_eq!(
        refused_and_within(up, since, 10_000).await,
        1,
        "refused once"
    );
    let since = up.last_seq().await;
    gw.data(ADMIN_1, THOUSAND, json!({})).await;
    assert_eq!(
        refused_and_within(up, since, 1000).await,
        0,
        "then within the cap"
    );
    let caps = capabilities_of(&gw).await;
    assert_eq!(caps["page_cap"]["in_force"], json!(1000), "{caps:#}");
}

#[tokio::test]
async fn probes_run_again_when_the_upstream_starts_refusing_what_it_took() {
    if skipped_on_liveagent("the minimal dialect refuses `in` from the start") {
        return;
    }
    let up = own_upstream("probes-again", &[]);
    let gw = default_gateway(up).await;
    let first = gw
        .data(
            ADMIN_1,
            "{ conversations(first: 3) { nodes { id } } }",
            json!({}),
        )
        .await;
    let ids = node_ids(&first["conversations"]);
    assert_eq!(
        capabilities_of(&gw).await["in_force"]["in_list"],
        json!(true)
    );
    up.set_fault(json!({"status": 400, "body": "no in", "path_contains": " in ("}))
        .await;
    let query = "query($ids: [Int!]) { conversations(where: {id: {in: $ids}}) { nodes { id } } }";
    let refused = gw.query(Some(ADMIN_1), query, json!({"ids": ids})).await;
    assert!(refused.get("errors").is_some(), "{refused}");
    let since = up.last_seq().await;
    let data = gw.data(ADMIN_1, query, json!({"ids": ids})).await;
    up.clear_faults().await;
    assert_eq!(node_ids(&data["conversations"]), ids);
    assert!(!up.probes_since(since).await.is_empty(), "probed again");
    let caps = capabilities_of(&gw).await;
    assert_eq!(caps["in_force"]["in_list"], json!(false), "{caps:#}");
    assert_eq!(caps["capabilities"]["in_list"]["why"], json!("probed"));
}
#[tokio::test]
async fn probes_narrow_a_dialect_that_claims_too_much() {
    // Probes send what the upstream may lack, on purpose: an upstream of
    // this test's own, kept out of the error log.
    let up = upstream_with(&[("ERROR_LOG", "")]);
    let gw = gateway_with(Config {
        upstream: Some(up.url("1.1")),
        upstream_dialect: DialectName::Odata4,
        ..Config::default()
    })
    .await;
    let rows = up.all_rows("1.1", "Conversation", "", ADMIN_1).await;
    let unassigned = rows.iter().filter(|r| r["assignee_id"].is_null()).count();
    let data = gw
        .data(
            ADMIN_1,
            "{ conversations(first: 0, where: {not: {assigneeId: {isNull: false}}}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["conversations"]["totalCount"].as_u64(),
        Some(unassigned as u64)
    );
    let url = gw.url().replace("/graphql", "/capabilities");
    let caps: Value = reqwest::get(url)
        .await
        .expect("capabilities")
        .json()
        .await
        .expect("json");
    assert_eq!(caps["probed"], json!(true), "{caps}");
    let minimal = on_minimal_upstream();
    for capability in ["not", "null_literal", "count"] {
        assert_eq!(
            caps["in_force"][capability],
            json!(!minimal),
            "{capability}: {caps}"
        );
        assert_eq!(
            caps["configured"][capability],
            json!(true),
            "{capability}: {caps}"
        );
    }
}
