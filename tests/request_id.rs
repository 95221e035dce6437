//! Request ids and logs: the id comes back in the response and goes
//! upstream with every request of the operation; one log line per request;
//! tokens never reach the logs.

mod common;

use common::*;
use liveagent_graphql::config::Config;
use serde_json::{json, Value};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

const RELATIONS: &str =
    "query Dash { conversations(first: 3) { nodes { id inbox { id } assignee { id } } } }";

#[tokio::test]
async fn the_request_id_comes_back_and_goes_upstream_with_every_request() {
    let up = private_upstream("request_id");
    let gw = gateway_with(Config {
        cache_max_bytes: 0,
        ..config_for(up, "1.1")
    })
    .await;
    let client = reqwest::Client::new();
    let since = up.last_seq().await;
    let response = client
        .post(gw.url())
        .bearer_auth(ADMIN_1)
        .header("x-request-id", "dash-42.a")
        .json(&json!({ "query": RELATIONS }))
        .send()
        .await
        .expect("post");
    assert_eq!(response.headers()["x-request-id"], "dash-42.a");
    let body: Value = response.json().await.expect("json");
    assert!(body.get("errors").is_none(), "{body}");
    let log = up.requests_since(since).await;
    assert!(log.len() >= 2, "{log:?}");
    assert!(
        log.iter().all(|r| r["request_id"] == "dash-42.a"),
        "{log:?}"
    );

    // No id, or one that is not short and printable: a fresh one.
    for sent in [None, Some("has space"), Some(&*"x".repeat(200))] {
        let since = up.last_seq().await;
        let mut request = client
            .post(gw.url())
            .bearer_auth(ADMIN_1)
            .json(&json!({ "query": "{ labels(first: 1) { nodes { id } } }" }));
        if let Some(id) = sent {
            request = request.header("x-request-id", id);
        }
        let response = request.send().await.expect("post");
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap_or("")
            .to_string();
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        let log = up.requests_since(since).await;
        assert!(!log.is_empty());
        assert!(
            log.iter().all(|r| r["request_id"] == id.as_str()),
            "{log:?}"
        );
    }

    // Errors before execution carry it too.
    let response = client
        .post(gw.url())
        .header("x-request-id", "bad-1")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(response.headers()["x-request-id"], "bad-1");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Runs the binary with debug logs in `format`, sends `requests`, stops
/// it and returns its stderr.
async fn logs_of(
    up: &TestUpstream,
    format: &str,
    env: &[(&str, &str)],
    requests: impl AsyncFnOnce(String),
) -> String {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_liveagent-graphql"));
    cmd.args(["--upstream", &up.url("1.1"), "--listen", &listen])
        .env("LOG", "debug")
        .env("LOG_FORMAT", format)
        .envs(gateway_env())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start the gateway");
    let health = format!("http://{listen}/healthz");
    let mut ready = false;
    for _ in 0..100 {
        if reqwest::get(&health)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the gateway started");
    requests(format!("http://{listen}/graphql")).await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    stderr
}

#[tokio::test]
async fn one_json_line_per_request_and_no_token_in_the_logs() {
    let up = upstream();
    let secret_variable = "variable-value-not-for-logs";
    let logs = logs_of(up, "json", &[], async |url: String| {
        let client = reqwest::Client::new();
        let q = json!({
            "query": "query Dash($s: String) { labels(first: 2, where: {title: {eq: $s}}) { nodes { id } } }",
            "operationName": "Dash",
            "variables": {"s": secret_variable},
        });
        client
            .post(&url)
            .bearer_auth(ADMIN_1)
            .header("x-request-id", "log-test-1")
            .json(&q)
            .send()
            .await
            .expect("bearer");
        client
            .get(&url)
            .query(&[
                ("query", "{ inboxes(first: 1) { nodes { id } } }"),
                ("apikey", ADMIN_2),
            ])
            .send()
            .await
            .expect("apikey");
        client
            .post(&url)
            .bearer_auth(ADMIN_1)
            .json(&json!({"query": "{ labels { nodes { nope } } }"}))
            .send()
            .await
            .expect("invalid");
    })
    .await;
    assert!(!logs.is_empty());
    for secret in [ADMIN_1, ADMIN_2, secret_variable] {
        assert!(!logs.contains(secret), "`{secret}` in the logs:\n{logs}");
    }
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "graphql request")
        .collect();
    assert_eq!(requests.len(), 3, "{logs}");
    let first = requests[0];
    assert_eq!(first["request_id"], "log-test-1");
    assert_eq!(first["method"], "POST");
    assert_eq!(first["operation"], "Dash");
    assert_eq!(first["status"], 200);
    assert!(first["duration_ms"].as_f64().is_some(), "{first}");
    assert_eq!(requests[1]["method"], "GET");
    assert_eq!(requests[2]["errors"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn text_logs_and_service_mode_keep_tokens_out_too() {
    let up = upstream();
    let client_key = "client-key-for-log-test";
    let digest = ring::digest::digest(&ring::digest::SHA256, client_key.as_bytes());
    let hash: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("lag-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("gateway.toml");
    std::fs::write(
        &file,
        format!("[[api_keys]]\nname = \"wall\"\nsha256 = \"{hash}\"\n"),
    )
    .expect("write");
    let file = file.display().to_string();
    let env = [
        ("CONFIG_FILE", file.as_str()),
        ("SERVICE_UPSTREAM_TOKEN", ADMIN_1),
    ];
    let logs = logs_of(up, "text", &env, async |url: String| {
        let client = reqwest::Client::new();
        for key in [client_key, "wrong-key"] {
            client
                .post(&url)
                .bearer_auth(key)
                .header("x-request-id", "text-log-1")
                .json(&json!({"query": "{ labels(first: 1) { nodes { id } } }"}))
                .send()
                .await
                .expect("post");
        }
    })
    .await;
    for secret in [ADMIN_1, client_key, hash.as_str(), "wrong-key"] {
        assert!(!logs.contains(secret), "`{secret}` in the logs:\n{logs}");
    }
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("graphql request"))
        .collect();
    assert_eq!(lines.len(), 2, "{logs}");
    assert!(
        lines.iter().all(|l| l.contains("request_id=text-log-1")),
        "{logs}"
    );
    assert!(lines[1].contains("UNAUTHENTICATED"), "{logs}");
}
