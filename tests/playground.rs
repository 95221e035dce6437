//! The playground in a real browser: headless Chromium (Debian's `chromium`)
//! driven by playwright-core loads GraphiQL from the gateway, runs the
//! default query, and a subscription, against the test upstream and sees
//! the results, with no request leaving 127.0.0.1.

mod common;

use common::*;
use liveagent_graphql::config::Config;

/// Runs `script` of tests/browser with `args`; returns its output.
async fn browser_script(script: &str, args: &[&str]) -> String {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "Chromium is required for this test: apt-get install chromium (scripts/setup.sh --tests does it)"
    );
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    let (passed, output) = run_node(dir, script, args, &[]).await;
    assert!(passed, "browser test failed:\n{output}");
    output
}

#[tokio::test]
async fn graphiql_runs_the_default_query_offline() {
    let up = upstream();
    let gw = gateway(up, "1.1").await;
    let base = format!("http://{}", gw.addr);
    let stdout = browser_script("playground.mjs", &[&base, ADMIN_1]).await;
    assert!(stdout.contains("playground ok"), "{stdout}");
}

#[tokio::test]
async fn graphiql_runs_a_subscription_and_shows_the_pushed_change() {
    if skipped_on_liveagent("the write hook of the test upstream is CAP's") {
        return;
    }
    // An upstream of its own: the test renames a row.
    let up = private_upstream("playground_subscription");
    let gw = gateway_with(Config {
        live_min_interval_s: 1,
        live_default_interval_s: 1,
        ..config_for(up, "1.1")
    })
    .await;
    let base = format!("http://{}", gw.addr);
    let upstream = format!("http://127.0.0.1:{}", up.port);
    let stdout = browser_script("subscription.mjs", &[&base, ADMIN_1, &upstream]).await;
    assert!(stdout.contains("playground subscription ok"), "{stdout}");
}
