//! GraphQL-over-HTTP conformance: the graphql-http audit suite (npm) runs
//! against the gateway; every MUST audit passes.

mod common;

use common::*;

#[tokio::test]
async fn graphql_http_audits_pass() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/audit");
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let (passed, stdout) = run_node(dir, "audit.mjs", &[&gw.url()], &[]).await;
    assert!(passed, "MUST audits failed:\n{stdout}");
    assert!(stdout.contains("\"MUST ok\""), "{stdout}");
}
