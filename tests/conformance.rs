//! GraphQL-over-HTTP conformance: the graphql-http audit suite (npm) runs
//! against the gateway; every MUST audit passes.

mod common;

use common::*;

#[tokio::test]
async fn graphql_http_audits_pass() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/audit");
    assert!(
        std::path::Path::new(dir).join("node_modules").exists(),
        "run npm ci in tests/audit (scripts/setup.sh --tests does)"
    );
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let output = tokio::process::Command::new("node")
        .arg("audit.mjs")
        .arg(gw.url())
        .current_dir(dir)
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "MUST audits failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("\"MUST ok\""), "{stdout}");
}
