//! Service mode over HTTP: clients show the gateway's own API keys, the
//! gateway sends its upstream token; unknown keys and other collections are
//! refused without an upstream request.

mod common;

use common::*;
use liveagent_graphql::config::{ApiKeyConfig, Config};
use serde_json::{json, Value};

const DASH_KEY: &str = "client-key-dash";
const LABELS_KEY: &str = "client-key-labels";
const CONVERSATIONS_KEY: &str = "client-key-conversations";

fn sha256_hex(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn key(name: &str, secret: &str, collections: Option<&[&str]>) -> ApiKeyConfig {
    ApiKeyConfig {
        trusted_documents_only: false,
        name: name.into(),
        sha256: sha256_hex(secret),
        collections: collections.map(|c| c.iter().map(|s| s.to_string()).collect()),
    }
}

fn service_config(up: &TestUpstream) -> Config {
    Config {
        service_upstream_token: Some(ADMIN_1.to_string().into()),
        api_keys: vec![
            key("dash", DASH_KEY, None),
            key("labels", LABELS_KEY, Some(&["Label"])),
            key("conversations", CONVERSATIONS_KEY, Some(&["Conversation"])),
        ],
        ..config_for(up, "1.1")
    }
}

const LABELS: &str = "{ labels(first: 3) { nodes { id title } } }";

#[tokio::test]
async fn a_client_key_reads_with_the_service_token() {
    let up = upstream();
    let gw = gateway_with(service_config(up)).await;
    let direct = gateway(up, "1.1").await;
    let expected = direct.data(ADMIN_1, LABELS, json!({})).await;
    assert_eq!(gw.data(DASH_KEY, LABELS, json!({})).await, expected);

    let body: Value = reqwest::Client::new()
        .post(gw.url())
        .header("x-api-key", LABELS_KEY)
        .json(&json!({ "query": LABELS }))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(body["data"], expected, "{body}");
}

#[tokio::test]
async fn unknown_or_missing_keys_are_unauthenticated_without_upstream_requests() {
    let up = private_upstream("service_auth_unknown");
    let gw = gateway_with(service_config(up)).await;
    let since = up.last_seq().await;
    // The upstream token itself is not a client key.
    for token in [Some(ADMIN_1), Some("nope"), None] {
        let body = gw.query(token, LABELS, json!({})).await;
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(message.contains("API key"), "{message}");
        assert!(!body.to_string().contains(ADMIN_1), "{body}");
    }
    // The refusal belongs to the fields that read upstream: `__typename`
    // needs no key.
    let body = gw.query(None, "{ __typename }", json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    assert!(up.requests_since(since).await.is_empty());
    // The process keeps serving known keys.
    gw.data(DASH_KEY, LABELS, json!({})).await;
}

#[tokio::test]
async fn a_key_limited_to_collections_is_forbidden_the_others() {
    // An upstream of this test's own (requests are counted) that declares
    // navigation properties where it can (a complete OData server), so that
    // unrestricted keys get $expand there.
    let private = ("PRIVATE_TO", "service_auth_forbidden");
    let up = if on_cap() {
        upstream_with(&[("DECLARE_NAVIGATION", "1"), private])
    } else {
        upstream_with(&[private])
    };
    let gw = gateway_with(Config {
        upstream: Some(up.url("1.0")),
        ..service_config(up)
    })
    .await;
    gw.data(LABELS_KEY, LABELS, json!({})).await;
    let since = up.last_seq().await;
    let body = gw
        .query(
            Some(LABELS_KEY),
            "{ inboxes(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    assert_eq!(body["errors"][0]["path"][0], "inboxes");
    assert!(up.data_requests_since(since).await.is_empty());

    // A relation into another collection: that field only, never $expand.
    let since = up.last_seq().await;
    let body = gw
        .query(
            Some(CONVERSATIONS_KEY),
            "{ conversations(first: 2) { nodes { id inbox { id name } } } }",
            json!({}),
        )
        .await;
    let nodes = body["data"]["conversations"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(nodes.len(), 2, "{body}");
    assert!(nodes
        .iter()
        .all(|n| n["id"].is_i64() && n["inbox"].is_null()));
    assert_eq!(error_code(&body), Some("FORBIDDEN"), "{body}");
    let urls = up.data_requests_since(since).await;
    assert!(
        urls.iter()
            .all(|u| u.contains("/Conversation?") && !u.contains("expand")),
        "{urls:?}"
    );
    // An unrestricted key gets the same relation: by $expand where there
    // is one, else by a request of its own.
    let since = up.last_seq().await;
    let data = gw
        .data(
            DASH_KEY,
            "{ conversations(first: 2) { nodes { id inbox { id name } } } }",
            json!({}),
        )
        .await;
    assert!(
        data["conversations"]["nodes"]
            .as_array()
            .is_some_and(|n| n.len() == 2 && n.iter().all(|c| c["inbox"]["name"].is_string())),
        "{data}"
    );
    let urls = up.data_requests_since(since).await;
    if on_cap() {
        assert!(urls.iter().any(|u| u.contains("expand")), "{urls:?}");
    } else {
        assert!(urls.iter().any(|u| u.contains("/Inbox?")), "{urls:?}");
    }
}

#[test]
fn half_configured_service_mode_stops_the_start_naming_the_key() {
    let run = |env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_liveagent-graphql"));
        cmd.args([
            "--upstream",
            "http://127.0.0.1:9/v1.1/odata",
            "--listen",
            "127.0.0.1:0",
        ])
        .env_remove("SERVICE_UPSTREAM_TOKEN")
        .env_remove("SERVICE_UPSTREAM_TOKEN_FILE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run the binary")
    };
    let out = run(&[("SERVICE_UPSTREAM_TOKEN", "secret-upstream-token")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("api_keys"), "{stderr}");
    assert!(!stderr.contains("secret-upstream-token"), "{stderr}");

    let dir = std::env::temp_dir().join(format!("lag-service-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("gateway.toml");
    std::fs::write(
        &file,
        format!(
            "[[api_keys]]\nname = \"dash\"\nsha256 = \"{}\"\n",
            sha256_hex(DASH_KEY)
        ),
    )
    .expect("write");
    let file_env = file.display().to_string();
    let out = run(&[("CONFIG_FILE", file_env.as_str())]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("service_upstream_token"), "{stderr}");
}

#[test]
fn hash_key_prints_the_sha256_to_paste_into_the_config() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_liveagent-graphql"))
        .args(["hash-key", DASH_KEY])
        .output()
        .expect("run the binary");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        sha256_hex(DASH_KEY)
    );
}
