//! The gateway driven by the JavaScript GraphQL clients dashboards use
//! (`tests/clients/suite.mjs`): Apollo Client with its cache and
//! persisted-query link, urql with GET and its subscription exchange on
//! graphql-ws, graphql-ws, graphql-sse, graphql-request, and graphql-js's
//! introspection compared with `schema.graphql`.

mod common;

use common::*;
use liveagent_graphql::config::Config;

#[tokio::test]
async fn every_client_library_passes() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients");
    assert!(
        std::path::Path::new(dir).join("node_modules").exists(),
        "run npm ci in tests/clients (scripts/setup.sh --tests does)"
    );
    let up = private_upstream("clients");
    let gw = gateway_with(Config {
        live_min_interval_s: 1,
        ..config_for(up, "1.1")
    })
    .await;
    let output = tokio::process::Command::new("node")
        .arg("suite.mjs")
        .env("GATEWAY", gw.url())
        .env("TOKEN", ADMIN_1)
        .env(
            "SCHEMA",
            concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"),
        )
        .current_dir(dir)
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "a client library failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
