//! Every collection on both endpoint versions, key lookups, credentials and
//! tenant isolation, against the real test upstream.

mod common;

use common::*;
use liveagent_graphql::model::{camel_case, ApiVersion, Doc, FieldType, ENTITIES};
use liveagent_graphql::odata::dates::parse_date_time;
use serde_json::{json, Value};

/// Upstream value and gateway value agree for a column of this type.
fn same_value(ty: FieldType, upstream: &Value, gateway: &Value) -> bool {
    match (ty, upstream, gateway) {
        (_, Value::Null, Value::Null) => true,
        (FieldType::DateTime, Value::String(u), Value::String(g)) => {
            parse_date_time(u).is_some() && parse_date_time(u) == parse_date_time(g)
        }
        (FieldType::Enum(def), u, Value::String(g)) => {
            u.as_i64().and_then(|n| def.name_of(n)) == Some(g.as_str())
        }
        (FieldType::Enum(_), _, Value::Null) => true, // an unknown value: checked elsewhere
        (FieldType::Json, Value::String(text), g) => {
            serde_json::from_str::<Value>(text).ok().as_ref() == Some(g)
        }
        (FieldType::Float, u, g) => u.as_f64() == g.as_f64(),
        (_, u, g) => u == g,
    }
}

#[tokio::test]
async fn every_collection_on_both_versions_matches_the_upstream() {
    let up = upstream();
    for (version, api) in [("1.0", ApiVersion::V1_0), ("1.1", ApiVersion::V1_1)] {
        let gw = gateway(up, version).await;
        for entity in ENTITIES {
            let columns: Vec<_> = entity
                .fields_for(api, false)
                .filter(|f| f.doc(api) == Doc::Current)
                .collect();
            let selection: Vec<String> = columns.iter().map(|f| f.graphql_name()).collect();
            let query = format!(
                "{{ {}(first: 25) {{ nodes {{ {} }} }} }}",
                entity.plural,
                selection.join(" ")
            );
            let body = gw.query(Some(ADMIN_1), &query, Value::Null).await;
            // Unknown enum values are field errors on that field only.
            for err in body["errors"].as_array().into_iter().flatten() {
                assert_eq!(
                    err["extensions"]["code"], "UPSTREAM_INVALID_RESPONSE",
                    "{version} {}: {err}",
                    entity.name
                );
            }
            let nodes = body["data"][entity.plural]["nodes"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let expected = up.all_rows(version, entity.name, "", ADMIN_1).await;
            assert!(
                !expected.is_empty(),
                "{version} {}: no test data",
                entity.name
            );
            assert_eq!(
                nodes.len(),
                expected.len().min(25),
                "{version} {}",
                entity.name
            );
            for (node, row) in nodes.iter().zip(&expected) {
                for f in &columns {
                    let g = &node[camel_case(f.odata)];
                    let u = row.get(f.odata).unwrap_or(&Value::Null);
                    assert!(
                        same_value(f.ty, u, g),
                        "{version} {}.{}: upstream {u} vs gateway {g}",
                        entity.name,
                        f.odata
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn key_lookup_hits_and_misses() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let rows = up
        .all_rows("1.1", "Conversation", "&$select=id,inbox_id", ADMIN_1)
        .await;
    let own = rows[3]["id"].as_i64().expect("id");
    let other = up
        .all_rows("1.1", "Conversation", "&$select=id", ADMIN_2)
        .await[0]["id"]
        .as_i64()
        .expect("id");
    let data = gw
        .data(
            ADMIN_1,
            "query($own: Int!, $other: Int!) { hit: conversation(id: $own) { id inboxId } otherTenant: conversation(id: $other) { id } missing: conversation(id: 999999999) { id } }",
            json!({"own": own, "other": other}),
        )
        .await;
    assert_eq!(data["hit"]["id"], own);
    assert_eq!(data["hit"]["inboxId"], rows[3]["inbox_id"]);
    assert_eq!(data["otherTenant"], Value::Null);
    assert_eq!(data["missing"], Value::Null);
}

#[tokio::test]
async fn both_credential_forms_are_forwarded() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    // The filter marks this test's requests in the shared upstream log.
    let query =
        "{ inboxes(first: 2, where: {channelId: {ne: -424242}}) { nodes { id accountId } } }";
    let ours = |r: &&Value| r["url"].as_str().is_some_and(|u| u.contains("424242"));

    let before = up.last_seq().await;
    let data = gw.data(ADMIN_2, query, Value::Null).await;
    assert_eq!(data["inboxes"]["nodes"][0]["accountId"], 2);
    let log = up.requests_since(before).await;
    let sent = log.iter().find(ours).expect("Inbox request");
    assert_eq!(sent["account"], 2);
    assert!(
        !sent["url"].as_str().unwrap_or("").contains("apikey"),
        "Bearer stays a header"
    );

    let before = up.last_seq().await;
    let url = format!("{}?apikey={}", gw.url(), ADMIN_1);
    let body: Value = reqwest::Client::new()
        .post(url)
        .json(&json!({"query": query}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        body["data"]["inboxes"]["nodes"][0]["accountId"], 1,
        "{body}"
    );
    let log = up.requests_since(before).await;
    let sent = log.iter().find(ours).expect("Inbox request");
    assert_eq!(sent["account"], 1);
    assert!(
        sent["url"].as_str().unwrap_or("").contains("apikey="),
        "apikey stays a parameter"
    );
}

#[tokio::test]
async fn no_credential_is_unauthenticated_without_an_upstream_call() {
    let up = private_upstream("no-credential");
    let gw = gateway(up, "1.1").await;
    let before = up.last_seq().await;
    let body = gw
        .query(None, "{ conversations { nodes { id } } }", Value::Null)
        .await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    assert!(
        up.requests_since(before).await.is_empty(),
        "no request may reach the upstream"
    );
}

#[tokio::test]
async fn upstream_auth_failures_keep_their_codes() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let body = gw
        .query(
            Some("no-such-token"),
            "{ users { nodes { id } } }",
            Value::Null,
        )
        .await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    assert!(
        !body.to_string().contains("no-such-token"),
        "the token never appears in errors"
    );
    let body = gw
        .query(Some(AGENT_1), "{ users { nodes { id } } }", Value::Null)
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
}

#[tokio::test]
async fn each_token_sees_only_its_own_account() {
    let up = upstream();
    let gw = gateway(up, "1.0").await;
    for (token, account) in [(ADMIN_1, 1), (ADMIN_2, 2)] {
        let data = gw
            .data(
                token,
                "{ messages(first: 200) { nodes { accountId } totalCount } }",
                Value::Null,
            )
            .await;
        let nodes = data["messages"]["nodes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!nodes.is_empty());
        assert!(nodes.iter().all(|n| n["accountId"] == account));
        let direct = up.all_rows("1.0", "Message", "&$select=id", token).await;
        assert_eq!(data["messages"]["totalCount"], direct.len());
    }
}

#[tokio::test]
async fn older_v1_0_fields_follow_the_upstream_metadata() {
    // Without the older fields upstream: they resolve to null and are never asked for.
    let plain = upstream();
    let gw = gateway(plain, "1.0").await;
    let before = plain.last_seq().await;
    let data = gw
        .data(
            ADMIN_1,
            "{ conversations(first: 3) { nodes { id campaignId identifier } } }",
            Value::Null,
        )
        .await;
    assert!(data["conversations"]["nodes"]
        .as_array()
        .is_some_and(|n| n.iter().all(|c| c["campaignId"].is_null())));
    let urls = plain.data_requests_since(before).await;
    assert!(urls.iter().all(|u| !u.contains("campaign_id")), "{urls:?}");
    let body = gw
        .query(
            Some(ADMIN_1),
            "{ conversations(where: {campaignId: {eq: 1}}) { nodes { id } } }",
            Value::Null,
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");

    // With them: served like any other field.
    if skipped_on_liveagent("the minimal dialect has no older v1.0 fields (V10_LEGACY_FIELDS)") {
        return;
    }
    let legacy = upstream_with(&[("V10_LEGACY_FIELDS", "1")]);
    let gw = gateway(legacy, "1.0").await;
    let data = gw
        .data(
            ADMIN_1,
            "{ conversations(first: 50) { nodes { id campaignId identifier } } }",
            Value::Null,
        )
        .await;
    let direct = legacy
        .all_rows(
            "1.0",
            "Conversation",
            "&$select=id,campaign_id,identifier",
            ADMIN_1,
        )
        .await;
    let nodes = data["conversations"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (node, row) in nodes.iter().zip(&direct) {
        assert_eq!(node["campaignId"], row["campaign_id"]);
        assert_eq!(node["identifier"], row["identifier"]);
    }
    assert!(nodes.iter().any(|n| !n["identifier"].is_null()));
}
