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
    let up = private_upstream("clients");
    let gw = gateway_with(Config {
        live_min_interval_s: 1,
        ..config_for(up, "1.1")
    })
    .await;
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let url = gw.url();
    let env = [
        ("GATEWAY", url.as_str()),
        ("TOKEN", ADMIN_1),
        ("SCHEMA", schema),
    ];
    let (passed, output) = run_node(dir, "suite.mjs", &[], &env).await;
    assert!(passed, "a client library failed:\n{output}");
}
