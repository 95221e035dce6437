//! The playground in a real browser: headless Chromium (Debian's `chromium`)
//! driven by playwright-core loads GraphiQL from the gateway, runs the
//! default query against the test upstream and sees the result, with no
//! request leaving 127.0.0.1.

mod common;

use common::*;

#[tokio::test]
async fn graphiql_runs_the_default_query_offline() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "Chromium is required for this test: apt-get install chromium (scripts/setup.sh --tests does it)"
    );
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    assert!(
        std::path::Path::new(dir).join("node_modules").exists(),
        "run npm ci in tests/browser (scripts/setup.sh --tests does)"
    );
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let base = format!("http://{}", gw.addr);
    let output = tokio::process::Command::new("node")
        .arg("playground.mjs")
        .arg(&base)
        .arg(ADMIN_1)
        .current_dir(dir)
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser test failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("playground ok"), "{stdout}");
}
