//! Test harness: starts the Live Agent test upstream (tests/upstream, a SAP
//! CAP server) and the gateway on free ports, and talks to both over HTTP.
#![allow(dead_code)]

use liveagent_graphql::config::Config;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub const ADMIN_1: &str = "admin-token-1";
pub const ADMIN_2: &str = "admin-token-2";
pub const AGENT_1: &str = "agent-token-1";

/// One running test upstream, shared by the tests of a binary.
pub struct TestUpstream {
    pub port: u16,
    _child: Child,
}

impl TestUpstream {
    pub fn url(&self, version: &str) -> String {
        format!("http://127.0.0.1:{}/v{version}/odata", self.port)
    }

    /// The upstream's request log since `since` (a `seq`).
    pub async fn requests_since(&self, since: u64) -> Vec<Value> {
        let url = format!(
            "http://127.0.0.1:{}/_test/requests?since={since}",
            self.port
        );
        let log: Value = http()
            .get(url)
            .send()
            .await
            .expect("log")
            .json()
            .await
            .expect("log json");
        log.as_array().cloned().unwrap_or_default()
    }

    /// The highest `seq` so far, to count requests made after it.
    pub async fn last_seq(&self) -> u64 {
        self.requests_since(0)
            .await
            .iter()
            .filter_map(|r| r["seq"].as_u64())
            .max()
            .unwrap_or(0)
    }

    /// Data requests (not `$metadata`) made after `since`.
    pub async fn data_requests_since(&self, since: u64) -> Vec<String> {
        self.requests_since(since)
            .await
            .iter()
            .filter_map(|r| r["url"].as_str().map(str::to_owned))
            .filter(|u| !u.contains("$metadata"))
            .collect()
    }

    /// Ground truth: an OData request sent directly, returning its JSON.
    pub async fn odata(&self, version: &str, path_and_query: &str, token: &str) -> Value {
        let url = format!("{}/{}", self.url(version), path_and_query);
        let response = http()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("direct odata");
        let status = response.status();
        let body: Value = response.json().await.expect("direct odata json");
        assert!(
            status.is_success(),
            "direct OData request failed: {status} {body}"
        );
        body
    }

    /// All rows of a collection, read directly in id order.
    pub async fn all_rows(
        &self,
        version: &str,
        entity_set: &str,
        extra: &str,
        token: &str,
    ) -> Vec<Value> {
        let body = self
            .odata(
                version,
                &format!("{entity_set}?$orderby=id%20asc&$top=100000&$skip=0{extra}"),
                token,
            )
            .await;
        body["value"].as_array().cloned().unwrap_or_default()
    }

    pub async fn set_fault(&self, fault: Value) {
        let url = format!("http://127.0.0.1:{}/_test/faults", self.port);
        let r = http().post(url).json(&fault).send().await.expect("fault");
        assert!(r.status().is_success());
    }

    pub async fn clear_faults(&self) {
        let url = format!("http://127.0.0.1:{}/_test/faults", self.port);
        http().delete(url).send().await.expect("clear faults");
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// The test upstream started with these extra environment variables; one
/// process per distinct set, for the life of the test binary.
pub fn upstream_with(env: &[(&str, &str)]) -> &'static TestUpstream {
    static STARTED: OnceLock<Mutex<HashMap<String, &'static TestUpstream>>> = OnceLock::new();
    let key = format!("{env:?}");
    let mut started = STARTED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(up) = started.get(&key) {
        return up;
    }
    let up: &'static TestUpstream = Box::leak(Box::new(start_upstream(env)));
    started.insert(key, up);
    up
}

pub fn upstream() -> &'static TestUpstream {
    upstream_with(&[])
}

/// An upstream of one test's own, for counting the requests that reach it
/// while other tests run in parallel (`PRIVATE_TO` only keys the process).
pub fn private_upstream(test: &str) -> &'static TestUpstream {
    upstream_with(&[("PRIVATE_TO", test)])
}

fn start_upstream(env: &[(&str, &str)]) -> TestUpstream {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/upstream");
    assert!(
        std::path::Path::new(dir).join("node_modules").exists(),
        "the test upstream is not installed: run `npm ci` in tests/upstream (scripts/setup.sh does)"
    );
    let mut cmd = Command::new("node");
    cmd.arg("server.js")
        .current_dir(dir)
        .env("PORT", "0")
        .env("PARENT_PID", std::process::id().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .expect("cannot start node (is Node.js 20 installed?)");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(port) = line.strip_prefix("LISTENING ") {
                let _ = tx.send(port.trim().parse::<u16>().ok());
                break;
            }
        }
        // Keep draining so the child never blocks on a full pipe.
        for _ in lines {}
    });
    let port = rx
        .recv_timeout(Duration::from_secs(120))
        .ok()
        .flatten()
        .expect("the test upstream did not print LISTENING <port>");
    TestUpstream {
        port,
        _child: child,
    }
}

/// A gateway serving in the current tokio runtime.
pub struct Gateway {
    pub addr: SocketAddr,
}

impl Gateway {
    pub fn url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    /// POSTs a query with a Bearer token (or none) and returns the JSON body.
    pub async fn query(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = http()
            .post(self.url())
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("gateway request");
        response.json().await.expect("gateway json")
    }

    /// Like `query`, but asserts there are no errors and returns `data`.
    pub async fn data(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.query(Some(token), query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }
}

pub async fn gateway_with(config: Config) -> Gateway {
    let settings = config.validate().expect("valid config");
    let app = liveagent_graphql::server::app(&settings).expect("gateway app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Gateway { addr }
}

pub async fn gateway(upstream: &TestUpstream, version: &str) -> Gateway {
    gateway_with(Config {
        upstream: Some(upstream.url(version)),
        ..Config::default()
    })
    .await
}

/// The first error's `extensions.code`.
pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}
