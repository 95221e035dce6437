//! Trusted documents over HTTP, SSE and WebSocket: documents named by
//! `documentId` or `extensions.persistedQuery`; an API key with
//! `trusted_documents_only` refused anything else with 400 and
//! DOCUMENT_NOT_TRUSTED before any upstream request. SIGHUP reloads the
//! manifest and the keys under load, with a subscription open; a bad file
//! keeps the old set and counts the rejection.

mod common;

use common::*;
use futures::{SinkExt, StreamExt};
use liveagent_graphql::config::{ApiKeyConfig, Config};
use liveagent_graphql::server::hash_key;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const LABELS: &str = "query Labels { labels(first: 2) { nodes { id } } }";
const INBOXES: &str = "query Inboxes { inboxes(first: 1) { nodes { id } } }";
const USERS: &str = "query Users { users(first: 1) { nodes { id } } }";
const LIVE: &str = "subscription Live { inbox(id: 1, everySeconds: 1) { id name } }";
const UNTRUSTED_LIVE: &str = "subscription Other { inbox(id: 2, everySeconds: 1) { id } }";

fn sha(text: &str) -> String {
    // The hash of an API key is the same SHA-256 a document's id is.
    hash_key(text)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lag-trusted-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// An Apollo manifest of these documents.
fn write_manifest(path: &Path, documents: &[&str]) {
    let operations: Vec<Value> = documents
        .iter()
        .map(|body| json!({"id": sha(body), "name": "op", "type": "query", "body": body}))
        .collect();
    let manifest = json!({
        "format": "apollo-persisted-query-manifest", "version": 1, "operations": operations
    });
    std::fs::write(path, manifest.to_string()).expect("write manifest");
}

fn key(name: &str, secret: &str, trusted_documents_only: bool) -> ApiKeyConfig {
    ApiKeyConfig {
        name: name.into(),
        sha256: hash_key(secret),
        collections: None,
        trusted_documents_only,
    }
}

/// Status and JSON body of a POST with this API key.
async fn post(gw: &Gateway, api_key: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(gw.url())
        .header("x-api-key", api_key)
        .header("accept", "application/json")
        .json(&body)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

fn assert_ran(answer: &(u16, Value), what: &str) {
    assert_eq!(answer.0, 200, "{what}: {}", answer.1);
    assert!(answer.1.get("errors").is_none(), "{what}: {}", answer.1);
}

fn assert_untrusted(answer: &(u16, Value), what: &str) {
    assert_eq!(answer.0, 400, "{what}: {}", answer.1);
    assert_eq!(
        error_code(&answer.1),
        Some("DOCUMENT_NOT_TRUSTED"),
        "{what}"
    );
}

fn service_config(up: &TestUpstream, manifest: &Path) -> Config {
    Config {
        live_min_interval_s: 1,
        service_upstream_token: Some(ADMIN_1.to_string().into()),
        api_keys: vec![
            key("dash", "dash-key", true),
            key("admin", "admin-key", false),
        ],
        trusted_documents_file: Some(manifest.display().to_string()),
        ..config_for(up, "1.1")
    }
}

/// The first SSE event of a POST as (name, data), or the HTTP answer when
/// the request failed before the stream.
async fn sse_first(gw: &Gateway, api_key: &str, body: Value) -> Result<(String, Value), u16> {
    let mut response = reqwest::Client::new()
        .post(gw.url())
        .header("x-api-key", api_key)
        .header("accept", "text/event-stream")
        .json(&body)
        .send()
        .await
        .expect("sse");
    if response.status() != 200 {
        return Err(response.status().as_u16());
    }
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("an event within 10 s")
            .expect("chunk")
            .expect("more");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    Ok(event_of(&text))
}

fn event_of(block: &str) -> (String, Value) {
    let mut name = String::new();
    let mut data = String::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            name = v.trim().into();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim());
        }
    }
    (name, serde_json::from_str(&data).unwrap_or(Value::Null))
}

/// The first message after a graphql-transport-ws `subscribe` of `query`.
async fn ws_first(gw: &Gateway, api_key: &str, query: &str) -> Value {
    let url = format!("ws://{}/graphql", gw.addr);
    let mut request = url.into_client_request().expect("request");
    let protocol = "graphql-transport-ws".parse().expect("header");
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocol);
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket");
    let send = |v: Value| Message::Text(v.to_string().into());
    let init = json!({"type": "connection_init", "payload": {"x-api-key": api_key}});
    socket.send(send(init)).await.expect("init");
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": query}});
    let mut sent = false;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s");
        let Some(Ok(Message::Text(text))) = message else {
            continue;
        };
        let value: Value = serde_json::from_str(&text).expect("json");
        if value["type"] == "connection_ack" && !sent {
            socket
                .send(send(subscribe.clone()))
                .await
                .expect("subscribe");
            sent = true;
        } else if value["id"] == "1" {
            return value;
        }
    }
}

#[tokio::test]
async fn a_trusted_only_key_runs_only_the_manifest() {
    let up = private_upstream("trusted_only");
    let manifest = temp_dir("only").join("manifest.json");
    write_manifest(&manifest, &[LABELS, LIVE]);
    let gw = gateway_with(service_config(up, &manifest)).await;
    let labels = sha(LABELS);
    for (what, body) in [
        ("documentId", json!({"documentId": labels})),
        (
            "sha256: prefix",
            json!({"documentId": format!("sha256:{labels}")}),
        ),
        ("text", json!({"query": LABELS})),
        (
            "persistedQuery",
            json!({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": labels}}}),
        ),
    ] {
        assert_ran(&post(&gw, "dash-key", body).await, what);
    }
    let get = reqwest::Client::new()
        .get(format!("{}?documentId={labels}", gw.url()))
        .header("x-api-key", "dash-key")
        .send()
        .await
        .expect("get");
    assert_ran(
        &(get.status().as_u16(), get.json().await.expect("json")),
        "GET",
    );

    let since = up.last_seq().await;
    assert_untrusted(
        &post(&gw, "dash-key", json!({"query": INBOXES})).await,
        "text",
    );
    let ws = ws_first(&gw, "dash-key", UNTRUSTED_LIVE).await;
    assert_eq!(ws["type"], "error", "{ws}");
    assert_eq!(
        ws["payload"][0]["extensions"]["code"],
        "DOCUMENT_NOT_TRUSTED"
    );
    let sse = sse_first(&gw, "dash-key", json!({"query": UNTRUSTED_LIVE})).await;
    assert_eq!(sse.err(), Some(400), "SSE refused before the stream");
    assert!(
        up.requests_since(since).await.is_empty(),
        "no upstream request"
    );

    let sse = sse_first(&gw, "dash-key", json!({"documentId": sha(LIVE)})).await;
    let (event, result) = sse.expect("a trusted subscription");
    assert_eq!(
        (event.as_str(), &result["data"]["inbox"]["id"]),
        ("next", &json!(1))
    );
    let ws = ws_first(&gw, "dash-key", LIVE).await;
    assert_eq!(ws["type"], "next", "{ws}");
    // A client that takes either: a subscription named by its id streams.
    let either = reqwest::Client::new()
        .post(gw.url())
        .header("x-api-key", "dash-key")
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"documentId": sha(LIVE)}))
        .send()
        .await
        .expect("post");
    let media = either.headers()["content-type"].to_str().expect("type");
    assert!(media.starts_with("text/event-stream"), "{media}");
    assert_ran(
        &post(&gw, "admin-key", json!({"query": INBOXES})).await,
        "admin",
    );
    let unknown = post(&gw, "admin-key", json!({"documentId": sha(INBOXES)})).await;
    assert_eq!(error_code(&unknown.1), Some("PERSISTED_QUERY_NOT_FOUND"));
}

#[test]
fn a_manifest_whose_id_is_not_the_hash_of_its_body_stops_the_start() {
    let manifest = temp_dir("mismatch").join("manifest.json");
    let wrong = json!({
        "format": "apollo-persisted-query-manifest", "version": 1,
        "operations": [{"id": sha(USERS), "name": "L", "type": "query", "body": LABELS}]
    });
    std::fs::write(&manifest, wrong.to_string()).expect("write");
    let config = Config {
        trusted_documents_file: Some(manifest.display().to_string()),
        ..Config::default()
    };
    let err = config.validate().expect_err("mismatch");
    assert!(err.to_string().contains("trusted_documents_file"), "{err}");
    assert!(err.to_string().contains("does not match"), "{err}");
}

/// A gateway process, ended when dropped (a failed test included).
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The gateway binary with this config file, once it answers `/healthz`.
async fn start_process(config_file: &Path, listen: &str) -> Process {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_liveagent-graphql"))
        .arg("--config")
        .arg(config_file)
        .env("LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the gateway");
    let process = Process(child);
    for _ in 0..200 {
        if reqwest::get(format!("http://{listen}/healthz"))
            .await
            .is_ok()
        {
            return process;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the gateway did not start");
}

fn write_config(path: &Path, config: &Config) {
    let text = toml::to_string(config).expect("config as TOML");
    std::fs::write(path, text).expect("write config");
}

fn hangup(process: &Process) {
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &process.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
}

/// Queries `LABELS` by its id with the trusted-only key until `stop`,
/// counting the clean 200 answers (`ok`, read while it runs) and the
/// others (returned).
fn query_loop(
    gw: Gateway,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut failed = 0;
        while !stop.load(Ordering::Relaxed) {
            let answer = post(&gw, "dash-key", json!({"documentId": sha(LABELS)})).await;
            if answer.0 == 200 && answer.1.get("errors").is_none() {
                ok.fetch_add(1, Ordering::Relaxed);
            } else {
                failed += 1;
            }
        }
        failed
    })
}

/// Waits until the query loop has answered again since `since`.
async fn loop_answers_since(ok: &AtomicUsize, since: usize) -> usize {
    eventually("the query loop answers", async || {
        ok.load(Ordering::Relaxed) > since
    })
    .await;
    ok.load(Ordering::Relaxed)
}

/// Polls `check` for up to 5 s.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 5 s: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_manifest_and_keys_under_load() {
    let up = private_upstream("trusted_reload");
    let dir = temp_dir("reload");
    let (manifest, config_file) = (dir.join("manifest.json"), dir.join("gateway.toml"));
    write_manifest(&manifest, &[LABELS, LIVE, INBOXES]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let listen = format!("127.0.0.1:{port}");
    let mut config = Config {
        listen: listen.clone(),
        api_keys: vec![key("dash", "dash-key", true)],
        ..service_config(up, &manifest)
    };
    write_config(&config_file, &config);
    let child = start_process(&config_file, &listen).await;
    let gw = Gateway {
        addr: listen.parse().expect("addr"),
    };
    let mut sse = reqwest::Client::new()
        .post(gw.url())
        .header("x-api-key", "dash-key")
        .header("accept", "text/event-stream")
        .json(&json!({"documentId": sha(LIVE)}))
        .send()
        .await
        .expect("sse");
    let mut events = String::new();
    let mut next_event = async || loop {
        if let Some(end) = events.find("\n\n") {
            let block: String = events.drain(..end + 2).collect();
            let (name, data) = event_of(&block);
            if !name.is_empty() {
                return (name, data);
            }
            continue;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), sse.chunk()).await;
        let chunk = chunk.expect("an event within 10 s").expect("chunk");
        events.push_str(&String::from_utf8_lossy(
            &chunk.expect("the stream goes on"),
        ));
    };
    assert_eq!(next_event().await.0, "next");
    assert_ran(
        &post(&gw, "dash-key", json!({"query": INBOXES})).await,
        "before",
    );
    assert_untrusted(
        &post(&gw, "dash-key", json!({"query": USERS})).await,
        "before",
    );
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(AtomicUsize::new(0));
    let load = query_loop(Gateway { addr: gw.addr }, stop.clone(), answers.clone());
    // The loop runs before, between and after the reloads.
    let answered = loop_answers_since(&answers, 0).await;

    // Inboxes out, Users in, and a new key.
    write_manifest(&manifest, &[LABELS, LIVE, USERS]);
    config.api_keys.push(key("new", "new-key", true));
    write_config(&config_file, &config);
    hangup(&child);
    eventually("the new document is accepted", async || {
        post(&gw, "dash-key", json!({"query": USERS})).await.0 == 200
    })
    .await;
    assert_untrusted(
        &post(&gw, "dash-key", json!({"query": INBOXES})).await,
        "removed",
    );
    assert_ran(
        &post(&gw, "new-key", json!({"documentId": sha(USERS)})).await,
        "new key",
    );
    // A result is pushed when it changes: the row changes after each reload.
    let renamed = async |name: &str| {
        let set = json!({"entity": "Inbox", "id": 1, "set": {"name": name}});
        up.post_test("update", set).await;
    };
    if on_cap() {
        renamed("after the reload").await;
        let (event, result) = next_event().await;
        assert_eq!(event, "next", "the subscription goes on");
        assert_eq!(result["data"]["inbox"]["name"], "after the reload");
    }

    // A manifest whose id does not match its body: the old set stays.
    let answered = loop_answers_since(&answers, answered).await;
    let bad = json!({"ab".repeat(32): LABELS});
    std::fs::write(&manifest, bad.to_string()).expect("write");
    hangup(&child);
    let rejected = "gateway_config_reloads_total{outcome=\"rejected\"}";
    eventually("the rejection is counted", async || {
        metric_of(&gw, rejected).await == Some(1.0)
    })
    .await;
    assert_ran(
        &post(&gw, "dash-key", json!({"query": USERS})).await,
        "kept",
    );
    assert_untrusted(
        &post(&gw, "dash-key", json!({"query": INBOXES})).await,
        "kept",
    );
    let ok = "gateway_config_reloads_total{outcome=\"ok\"}";
    assert_eq!(metric_of(&gw, ok).await, Some(1.0));
    if on_cap() {
        renamed("after the rejected reload").await;
        let (event, result) = next_event().await;
        assert_eq!(event, "next", "the subscription goes on");
        assert_eq!(result["data"]["inbox"]["name"], "after the rejected reload");
    }

    loop_answers_since(&answers, answered).await;
    stop.store(true, Ordering::Relaxed);
    let failed = load.await.expect("the query loop");
    assert_eq!(failed, 0, "no query failed during the reloads");
}
