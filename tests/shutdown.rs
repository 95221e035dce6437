//! The binary itself: health check subcommand, and graceful shutdown on
//! SIGTERM (requests in flight finish, new connections are refused).

mod common;

use common::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[tokio::test]
async fn sigterm_lets_requests_in_flight_finish() {
    let up = private_upstream("shutdown");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_liveagent-graphql"))
        .args(["--upstream", &up.url("1.1"), "--listen", &listen])
        .env("LOG", "warn")
        .envs(gateway_env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the gateway");
    let url = format!("http://{listen}/graphql");
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        let status = Command::new(env!("CARGO_BIN_EXE_liveagent-graphql"))
            .args(["healthcheck", "--listen", &listen])
            .status()
            .expect("healthcheck");
        if status.success() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the healthcheck subcommand sees the gateway");

    let query = json!({"query": "{ labels(first: 2) { nodes { id } } }"});
    // Read $metadata first, so the slow fault hits the data request.
    client
        .post(&url)
        .bearer_auth(ADMIN_1)
        .json(&query)
        .send()
        .await
        .expect("warm up");
    up.set_fault(json!({"latency_ms": 1500, "path_contains": "Label", "count": 1}))
        .await;
    let in_flight = {
        let (client, url, query) = (client.clone(), url.clone(), query.clone());
        tokio::spawn(async move {
            client
                .post(&url)
                .bearer_auth(ADMIN_1)
                .json(&query)
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(200)).await;

    let refused = reqwest::Client::new().post(&url).json(&query).send().await;
    assert!(
        refused.is_err(),
        "new connections are refused while shutting down"
    );
    let response = in_flight
        .await
        .expect("task")
        .expect("the request in flight is answered");
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["data"]["labels"]["nodes"].as_array().map(Vec::len),
        Some(2),
        "{body}"
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "exits cleanly: {status}");
}
