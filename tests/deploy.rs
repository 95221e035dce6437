//! The monitoring shipped under `deploy/`: the Grafana dashboard and the
//! Prometheus alert rules use only series the gateway serves, with labels
//! it gives them, and a real Prometheus (Debian's `prometheus`) scraping a
//! gateway evaluates every one of their expressions without error. The
//! alert rules' own unit tests run with `promtool`.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const DASHBOARD: &str = "deploy/grafana/liveagent-graphql.json";
const ALERTS: &str = "deploy/prometheus/alerts.yml";
const ALERT_TESTS: &str = "deploy/prometheus/alerts.test.yml";
const PROMETHEUS_CONFIG: &str = "deploy/prometheus/prometheus.yml";
const JOB: &str = "liveagent-graphql";

fn path(relative: &str) -> String {
    format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"))
}

fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(path("deploy/prometheus"))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool ({e}): apt-get install prometheus (scripts/setup.sh --tests does)")
        });
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_alert_rules_are_valid_and_their_unit_tests_pass() {
    promtool(&["check", "rules", &path(ALERTS)]);
    promtool(&["check", "config", &path(PROMETHEUS_CONFIG)]);
    promtool(&["test", "rules", &path(ALERT_TESTS)]);
}

/// Every PromQL expression of the dashboard's panels, with Grafana's
/// variables as a query of all instances would have them.
fn dashboard_expressions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path(DASHBOARD)).expect("read the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut found = Vec::new();
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() > 10, "a dashboard with panels");
    for panel in panels {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("a target's expr");
            let expr = expr
                .replace("$__rate_interval", "1m")
                .replace("$job", ".*")
                .replace("$instance", ".*");
            found.push((panel["title"].as_str().unwrap_or("").to_string(), expr));
        }
    }
    found
}

/// The metrics an expression reads (`gateway_*`), each with the label
/// names its selector matches on (`name{label op "value", ...}`).
fn selectors(expr: &str) -> Vec<(String, BTreeSet<String>)> {
    let bytes = expr.as_bytes();
    let name_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(offset) = expr[at..].find("gateway_") {
        let start = at + offset;
        let mut end = start;
        while end < bytes.len() && name_byte(bytes[end]) {
            end += 1;
        }
        at = end;
        // Inside a quoted string (a label value) it is not a read.
        let quoted = expr[..start].matches('"').count() % 2 == 1;
        if (start > 0 && name_byte(bytes[start - 1])) || quoted {
            continue;
        }
        let mut labels = BTreeSet::new();
        if let Some(inside) = expr[end..].strip_prefix('{') {
            let inside = inside.split('}').next().unwrap_or("");
            for matcher in inside.split(',') {
                let name: String = matcher
                    .trim()
                    .chars()
                    .take_while(|c| name_byte(*c as u8))
                    .collect();
                if !name.is_empty() {
                    labels.insert(name);
                }
            }
        }
        found.push((expr[start..end].to_string(), labels));
    }
    found
}

/// The label names of an expression's `by`, `on` and `without` clauses.
fn grouping_labels(expr: &str) -> BTreeSet<String> {
    let mut labels = BTreeSet::new();
    for keyword in ["by (", "on (", "without ("] {
        for part in expr.split(keyword).skip(1) {
            let inside = part.split(')').next().unwrap_or("");
            labels.extend(inside.split(',').map(|l| l.trim().to_string()));
        }
    }
    labels.retain(|l| !l.is_empty());
    labels
}

/// The families `/metrics` declares (`# TYPE name type`), and the sample
/// names each one serves.
fn families(metrics: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut families = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            _ => &[""],
        };
        let samples = suffixes.iter().map(|s| format!("{name}{s}")).collect();
        families.insert(name.to_string(), samples);
    }
    families
}

/// The labels docs/operations.md gives each metric (its metrics table).
fn documented_labels() -> BTreeMap<String, BTreeSet<String>> {
    let docs =
        std::fs::read_to_string(path("docs/operations.md")).expect("read docs/operations.md");
    let mut labels = BTreeMap::new();
    for line in docs.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(name) = cells.get(1).and_then(|c| c.strip_prefix("`gateway_")) else {
            continue;
        };
        let name = format!("gateway_{}", name.trim_end_matches('`'));
        let names = cells
            .get(2)
            .map(|c| c.split(',').map(|l| l.trim().trim_matches('`').to_string()))
            .into_iter()
            .flatten()
            .filter(|l| !l.is_empty())
            .collect();
        labels.insert(name, names);
    }
    labels
}

/// The family a sample name belongs to, e.g. `gateway_x_total` → `gateway_x`.
fn family_of<'a>(
    sample: &str,
    families: &'a BTreeMap<String, BTreeSet<String>>,
) -> Option<&'a str> {
    families
        .iter()
        .find(|(_, samples)| samples.contains(sample))
        .map(|(name, _)| name.as_str())
}

/// Sends the traffic a healthy gateway sees: misses, hits, an error, an
/// aggregate from the replica.
async fn traffic(gw: &Gateway) {
    wait_replica_in_sync(gw).await;
    for _ in 0..3 {
        gw.data(
            ADMIN_1,
            "{ inboxes(first: 2) { nodes { id name } } }",
            json!({}),
        )
        .await;
    }
    let bad = gw
        .query(
            Some(ADMIN_1),
            "{ inboxes(first: -1) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&bad), Some("BAD_USER_INPUT"), "{bad}");
    gw.data(ADMIN_1, "{ conversationsAggregate { count } }", json!({}))
        .await;
    // Over 1 KiB, to a client that takes gzip: compressed.
    gw.data(
        ADMIN_1,
        "{ conversations(first: 60) { nodes { id createdAt } } }",
        json!({}),
    )
    .await;
}

/// One upstream request's worth of labels, as a new document each time
/// (`n` an alias), so that the whole-response cache never answers it.
fn labels(n: usize) -> String {
    format!("{{ l{n}: labels(first: 3) {{ nodes {{ id title }} }} }}")
}

/// A gateway in trouble, for the series only trouble makes: shared and
/// cached upstream answers, then an outage with retries, a spent retry
/// budget, stale answers, an open circuit, and a subscription beyond the
/// limit.
async fn trouble() -> Gateway {
    let up = private_upstream("deploy_trouble");
    let ttl = 200;
    let gw = gateway_with(liveagent_graphql::config::Config {
        cache_ttl_label_ms: ttl,
        stale_if_error_ms: 60_000,
        // Room for the labels' answer alone: another one evicts it.
        cache_max_bytes: 600,
        upstream_retries: 1,
        retry_backoff_ms: 1,
        retry_max_delay_ms: 5,
        retry_budget_percent: 1,
        // One retry a second: the first retries go, then the budget is spent.
        retry_budget_min_per_second: 1,
        circuit_window_ms: 1_000,
        circuit_failure_threshold: 6,
        circuit_cooldown_ms: 60_000,
        max_subscriptions_per_credential: 1,
        ..config_for(up, "1.1")
    })
    .await;
    // Each answer evicts the one before (the cache's size).
    for query in [
        "{ users(first: 5) { nodes { id } } }",
        "{ inboxes(first: 5) { nodes { id } } }",
    ] {
        gw.data(ADMIN_1, query, json!({})).await;
    }
    // Identical requests at once share one; later ones hit the cache.
    up.set_fault(json!({"latency_ms": 300, "path_contains": "Label", "count": 1}))
        .await;
    let documents: Vec<String> = (0..4).map(labels).collect();
    let shared = documents
        .iter()
        .map(|document| gw.query(Some(ADMIN_1), document, json!({})));
    futures::future::join_all(shared).await;
    gw.data(ADMIN_1, &labels(4), json!({})).await;
    tokio::time::sleep(Duration::from_millis(ttl + 100)).await;
    // The outage: stale answers, then retries refused, then the circuit.
    up.set_fault(
        json!({"status": 503, "body": "down", "path_contains": "Label", "count": 100_000}),
    )
    .await;
    for n in 5..25 {
        gw.query(Some(ADMIN_1), &labels(n), json!({})).await;
    }
    let subscribe = || {
        reqwest::Client::new()
            .post(gw.url())
            .bearer_auth(ADMIN_1)
            .header("accept", "text/event-stream")
            .json(&json!({"query": "subscription { inbox(id: 1) { id } }"}))
            .send()
    };
    let open = subscribe().await.expect("a subscription");
    let refused = subscribe().await.expect("a second subscription");
    let _ = refused.text().await;
    drop(open);
    gw
}

/// Families that other suites make and read from /metrics: those of a
/// shared cache (Redis) between instances (tests/fleet.rs), and reloads,
/// made by SIGHUP to a gateway process (tests/trusted_documents.rs).
const MADE_ELSEWHERE: &[&str] = &[
    "gateway_cache_l2_hits",
    "gateway_cache_l2_misses",
    "gateway_config_reloads",
];

/// The families `/metrics` of these gateways declares between them.
async fn served_families(gateways: &[&Gateway]) -> BTreeMap<String, BTreeSet<String>> {
    let mut all = BTreeMap::new();
    for gw in gateways {
        let metrics = reqwest::get(format!("http://{}/metrics", gw.addr))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        all.extend(families(&metrics));
    }
    all
}

/// A Prometheus server scraping one gateway every second and evaluating
/// the alert rules; killed when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: std::path::PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

impl Prometheus {
    fn start(targets: &[String]) -> Prometheus {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("prometheus-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("prometheus dir");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: {targets:?}\n",
            path(ALERTS)
        );
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).expect("write prometheus.yml");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start prometheus ({e}): apt-get install prometheus (scripts/setup.sh --tests does)")
            });
        Prometheus {
            child,
            port,
            _dir: dir,
        }
    }

    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Option<Value> {
        let response = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}/api/v1/{path}", self.port))
            .query(query)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// Waits until the gateway has been scraped a few times (so that rates
    /// over the last minute have two samples) and the rules evaluated.
    async fn scraped(&self, targets: usize) {
        let value = |v: Option<Value>| -> f64 {
            v.and_then(|v| v["data"]["result"][0]["value"][1].as_str()?.parse().ok())
                .unwrap_or(0.0)
        };
        for _ in 0..300 {
            let up = value(self.api("query", &[("query", "count(up == 1)")]).await);
            let scrapes = value(
                self.api("query", &[("query", "min(count_over_time(up[1m]))")])
                    .await,
            );
            if up == targets as f64 && scrapes >= 4.0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("prometheus did not scrape the gateway");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_alerts_read_real_series_that_prometheus_evaluates() {
    let up = upstream();
    let gw = gateway_with(liveagent_graphql::config::Config {
        upstream: Some(up.url("1.1")),
        ..replica_config(ReplicaEngine::Sqlite, 1)
    })
    .await;
    traffic(&gw).await;
    let troubled = trouble().await;
    let mut families = served_families(&[&gw, &troubled]).await;
    // The docs name counters by their samples (`..._total`).
    let documented: BTreeMap<String, BTreeSet<String>> = documented_labels()
        .into_iter()
        .map(|(name, labels)| {
            let family = name.strip_suffix("_total").unwrap_or(&name).to_string();
            (family, labels)
        })
        .collect();
    for family in MADE_ELSEWHERE {
        families.insert(family.to_string(), [format!("{family}_total")].into());
    }
    assert_eq!(
        families.keys().cloned().collect::<BTreeSet<_>>(),
        documented.keys().cloned().collect::<BTreeSet<_>>(),
        "/metrics serves every family docs/operations.md lists, and no other"
    );

    let prometheus = Prometheus::start(&[gw.addr.to_string(), troubled.addr.to_string()]);
    prometheus.scraped(2).await;
    let rules = prometheus.api("rules", &[]).await.expect("rules");
    let rules: Vec<&Value> = rules["data"]["groups"]
        .as_array()
        .expect("rule groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .collect();
    assert!(rules.len() >= 8, "the alert rules loaded: {}", rules.len());
    let mut expressions = dashboard_expressions();
    for rule in &rules {
        // Each rule ran at least once, without error.
        assert_eq!(rule["health"], "ok", "{rule}");
        expressions.push((
            rule["name"].as_str().unwrap_or("").to_string(),
            rule["query"].as_str().expect("a rule's query").to_string(),
        ));
    }

    for (title, expr) in &expressions {
        let mut readable = BTreeSet::from(["job", "instance", "le"].map(String::from));
        for (sample, labels) in selectors(expr) {
            let family = family_of(&sample, &families)
                .unwrap_or_else(|| panic!("{title}: {sample} is not served by /metrics"));
            let own = &documented[family];
            for label in labels {
                assert!(
                    own.contains(&label) || readable.contains(&label),
                    "{title}: {sample} has no label {label} ({own:?}): {expr}"
                );
            }
            readable.extend(own.iter().cloned());
        }
        for label in grouping_labels(expr) {
            assert!(
                readable.contains(&label),
                "{title}: no series has {label}: {expr}"
            );
        }
        let answer = prometheus
            .api("query", &[("query", expr)])
            .await
            .expect("query answer");
        assert_eq!(answer["status"], "success", "{title}: {expr}: {answer}");
    }

    // The panels of the traffic just sent show it.
    for (title, _) in [
        ("GraphQL operations per second", ()),
        ("GraphQL errors per second by code", ()),
        ("Upstream requests per second by status", ()),
        ("Upstream latency", ()),
        ("Replica in sync", ()),
        ("Replica answers and syncs", ()),
    ] {
        let (_, expr) = expressions
            .iter()
            .find(|(t, _)| t == title)
            .unwrap_or_else(|| panic!("a panel {title}"));
        let answer = prometheus
            .api("query", &[("query", expr)])
            .await
            .expect("answer");
        let result = answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!result.is_empty(), "{title} shows data: {expr}: {answer}");
    }
}

#[test]
fn expressions_are_read_for_their_metrics_and_labels() {
    let expr = r#"sum by (job, collection) (rate(gateway_upstream_requests_total{status=~"5..",instance="a"}[5m])) and on (job) gateway_replica_in_sync == 0"#;
    assert_eq!(
        selectors(expr),
        vec![
            (
                "gateway_upstream_requests_total".to_string(),
                ["instance", "status"].map(String::from).into()
            ),
            ("gateway_replica_in_sync".to_string(), BTreeSet::new()),
        ]
    );
    assert_eq!(
        grouping_labels(expr),
        ["collection", "job"].map(String::from).into()
    );
    assert!(selectors(r#"{ x = "gateway_words" }"#).is_empty());
}
