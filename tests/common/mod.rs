//! Test harness: starts a Live Agent test upstream and the gateway on free
//! ports, and talks to both over HTTP.
//!
//! `TEST_UPSTREAM` picks the upstream: `cap` (the default; tests/upstream, a
//! SAP CAP server, a complete OData v4 server) or `liveagent`
//! (tests/upstream-pg, the jaystack libraries on PostgreSQL: the minimal
//! dialect of the real service). Both serve the same data, tokens and rules,
//! so every suite makes the same assertions on both; the gateways built here
//! get the matching `upstream_dialect`. A third run, `cap-default`, puts
//! gateways with the default configuration (probes deciding every
//! capability) in front of CAP upstreams that cap `$top` at 1 000, which no
//! gateway is told.
#![allow(dead_code)]

pub mod dialect;

use liveagent_graphql::config::{Config, Pushdown};
use liveagent_graphql::odata::DialectName;
use liveagent_graphql::upstream::PROBE_REQUEST_ID;
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
/// The `x-request-id` of an analytics replica's sync requests.
const REPLICA_SYNC: &str = "replica-sync";

/// Which test upstream the suites run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    /// tests/upstream: SAP CAP, a complete OData v4 server.
    Cap,
    /// tests/upstream-pg: the minimal dialect of the real Live Agent service.
    Liveagent,
}

/// The run `TEST_UPSTREAM` names: the upstream and how gateways are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    /// CAP; gateways told `upstream_dialect = "odata4"`, probes off.
    Cap,
    /// The minimal dialect; gateways told `liveagent`, probes off.
    Liveagent,
    /// CAP capping `$top` at [`UNTOLD_PAGE_CAP`]; gateways with the
    /// default configuration.
    CapDefault,
}

fn run() -> Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    *RUN.get_or_init(|| match std::env::var("TEST_UPSTREAM").as_deref() {
        Err(_) | Ok("" | "cap") => Run::Cap,
        Ok("liveagent") => Run::Liveagent,
        Ok("cap-default") => Run::CapDefault,
        Ok(other) => {
            panic!("TEST_UPSTREAM must be `cap`, `liveagent` or `cap-default`, not {other:?}")
        }
    })
}

/// The upstream chosen by `TEST_UPSTREAM`.
pub fn upstream_kind() -> UpstreamKind {
    match run() {
        Run::Cap | Run::CapDefault => UpstreamKind::Cap,
        Run::Liveagent => UpstreamKind::Liveagent,
    }
}

/// Whether the gateways of this run have the default configuration (the
/// `cap-default` run): probes decide the capabilities, the page cap is
/// learned.
pub fn on_default_config() -> bool {
    run() == Run::CapDefault
}

/// The page cap of every CAP upstream of the `cap-default` run (`MAX_TOP`),
/// which no gateway is told.
pub const UNTOLD_PAGE_CAP: u64 = 1000;

pub fn on_cap() -> bool {
    upstream_kind() == UpstreamKind::Cap
}

/// The `upstream_dialect` the gateways of this run are configured with.
pub fn dialect() -> DialectName {
    match run() {
        Run::Cap => DialectName::Odata4,
        Run::Liveagent | Run::CapDefault => DialectName::Liveagent,
    }
}

/// For a test whose subject exists only on a complete OData server: true
/// (after saying why on stderr) when the run is on the liveagent upstream.
pub fn skipped_on_liveagent(why: &str) -> bool {
    if on_cap() {
        return false;
    }
    eprintln!("skipped on the liveagent upstream: {why}");
    true
}

/// A config with nothing set but the dialect of this run's upstream, with
/// the capability probes off (tests/dialect.rs covers them); in the
/// `cap-default` run, the default configuration. The base of every gateway
/// config of the suites (`..base_config()`). Suites count the requests
/// their queries send: the probes' requests are left out of the log they
/// read (`requests_since`).
pub fn base_config() -> Config {
    if on_default_config() {
        return Config::default();
    }
    Config {
        upstream_dialect: dialect(),
        upstream_probes: false,
        ..Config::default()
    }
}

/// The base config pointed at `up`'s endpoint `version`.
pub fn config_for(up: &TestUpstream, version: &str) -> Config {
    Config {
        upstream: Some(up.url(version)),
        ..base_config()
    }
}

/// The `aggregate_pushdown` of a gateway that is to push aggregates down:
/// `on` where the upstream takes `$apply`; `auto` on the minimal dialect,
/// which has none, so the gateway must scan there without sending any.
pub fn pushdown() -> Pushdown {
    if on_cap() {
        Pushdown::On
    } else {
        Pushdown::Auto
    }
}

/// [`UNTOLD_PAGE_CAP`] as the upstream's `MAX_TOP`.
const UNTOLD: &str = "1000";

/// The largest `$top` a ground-truth read asks for (the minimal dialect's
/// default page cap; 400 above it).
const DIRECT_PAGE: u64 = 10_000;

/// One running test upstream, shared by the tests of a binary.
pub struct TestUpstream {
    pub port: u16,
    pub kind: UpstreamKind,
    /// The largest `$top` it accepts, when it has a cap (`MAX_TOP`, `PAGE_CAP`).
    pub page_cap: Option<u64>,
    /// Started for one test (`private_upstream`): all it logs is that test's.
    private: bool,
    _child: Child,
}

impl TestUpstream {
    pub fn url(&self, version: &str) -> String {
        format!("http://127.0.0.1:{}/v{version}/odata", self.port)
    }

    /// The upstream's request log since `since` (a `seq`), without the
    /// background requests of analytics replicas (`replica_requests_since`
    /// has those) and the gateways' capability probes (`probes_since`), so
    /// that suites count what their queries sent. On a liveagent
    /// upstream of one test's own, every logged URL but the probes' is
    /// first checked against the minimal dialect (`dialect::violations`):
    /// whatever the test looks at in the log, nothing the real service
    /// cannot take went out. (Shared upstreams are covered by its
    /// `ERROR_LOG`, scripts/test.sh.)
    pub async fn requests_since(&self, since: u64) -> Vec<Value> {
        self.log_where(since, |id| id != REPLICA_SYNC && id != PROBE_REQUEST_ID)
            .await
    }

    /// The capability probes and page cap searches gateways sent since `since`.
    pub async fn probes_since(&self, since: u64) -> Vec<Value> {
        self.log_where(since, |id| id == PROBE_REQUEST_ID).await
    }

    /// The requests analytics replicas sent to sync since `since`.
    pub async fn replica_requests_since(&self, since: u64) -> Vec<Value> {
        self.log_where(since, |id| id == REPLICA_SYNC).await
    }

    /// The log since `since`, the entries whose `x-request-id` (`""`
    /// without one) passes `keep`.
    async fn log_where(&self, since: u64, keep: impl Fn(&str) -> bool) -> Vec<Value> {
        self.log_since(since)
            .await
            .into_iter()
            .filter(|r| keep(r["request_id"].as_str().unwrap_or_default()))
            .collect()
    }

    async fn log_since(&self, since: u64) -> Vec<Value> {
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
        let log = log.as_array().cloned().unwrap_or_default();
        if self.kind == UpstreamKind::Liveagent && self.private {
            let cap = self.page_cap.unwrap_or(DIRECT_PAGE);
            let sent = log.iter().filter(|r| r["request_id"] != PROBE_REQUEST_ID);
            for url in sent.filter_map(|r| r["url"].as_str()) {
                let found = dialect::violations(url, cap);
                assert!(
                    found.is_empty(),
                    "not for the minimal dialect: {found:?} in {url}"
                );
            }
        }
        log
    }

    /// The highest `seq` so far, to count requests made after it.
    pub async fn last_seq(&self) -> u64 {
        self.log_since(0)
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

    /// All rows of a collection, read directly in id order, in pages within
    /// the page cap. `extra` adds options (`&$select=...`), never paging ones.
    pub async fn all_rows(
        &self,
        version: &str,
        entity_set: &str,
        extra: &str,
        token: &str,
    ) -> Vec<Value> {
        assert!(
            !["$top", "$skip", "$orderby"]
                .iter()
                .any(|o| extra.contains(o)),
            "all_rows pages in id order itself: {extra}"
        );
        let page = self.page_cap.unwrap_or(DIRECT_PAGE).min(DIRECT_PAGE);
        let mut rows = Vec::new();
        loop {
            let body = self
                .odata(
                    version,
                    &format!(
                        "{entity_set}?$orderby=id%20asc&$top={page}&$skip={}{extra}",
                        rows.len()
                    ),
                    token,
                )
                .await;
            assert!(
                body.get("@odata.nextLink").is_none(),
                "all_rows needs an upstream without server-driven paging"
            );
            let value = body["value"].as_array().cloned().unwrap_or_default();
            let full = value.len() as u64 == page;
            rows.extend(value);
            if !full {
                return rows;
            }
        }
    }

    pub async fn set_fault(&self, fault: Value) {
        self.post_test("faults", fault).await;
    }

    /// POSTs `body` to the upstream's `/_test/<route>` (faults, and the
    /// CAP upstream's write hooks `update`, `insert`, `delete`), asserts
    /// success and returns the JSON answer.
    pub async fn post_test(&self, route: &str, body: Value) -> Value {
        let url = format!("http://127.0.0.1:{}/_test/{route}", self.port);
        let r = http().post(url).json(&body).send().await.expect(route);
        assert!(r.status().is_success(), "{route}: {}", r.status());
        r.json().await.expect("test route json")
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

/// This run's test upstream started with these extra environment variables
/// (the CAP upstream's names; see `start_upstream` for the liveagent one);
/// one process per distinct set, for the life of the test binary.
pub fn upstream_with(env: &[(&str, &str)]) -> &'static TestUpstream {
    started_upstream(upstream_kind(), env)
}

/// The CAP upstream whatever the run, e.g. for the SQLite file it writes
/// (`DB_FILE`): ground truth for both upstreams, which serve the same data.
pub fn cap_upstream_with(env: &[(&str, &str)]) -> &'static TestUpstream {
    started_upstream(UpstreamKind::Cap, env)
}

fn started_upstream(kind: UpstreamKind, env: &[(&str, &str)]) -> &'static TestUpstream {
    static STARTED: OnceLock<Mutex<HashMap<String, &'static TestUpstream>>> = OnceLock::new();
    let key = format!("{kind:?} {env:?}");
    let mut started = STARTED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(up) = started.get(&key) {
        return up;
    }
    let up: &'static TestUpstream = Box::leak(Box::new(start_upstream(kind, env)));
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

/// Starts an upstream. For the liveagent one, the CAP names map to its own:
/// `MAX_TOP` is its `PAGE_CAP`, `DB_FILE` has no counterpart (its data lives
/// in a private PostgreSQL cluster), and what only a complete OData server
/// has (`DECLARE_NAVIGATION`, `V10_LEGACY_FIELDS`, `MAX_PAGE_SIZE`) is
/// refused: such a test must be skipped there.
fn start_upstream(kind: UpstreamKind, env: &[(&str, &str)]) -> TestUpstream {
    let (folder, installed_by) = match kind {
        UpstreamKind::Cap => ("tests/upstream", "npm ci"),
        UpstreamKind::Liveagent => ("tests/upstream-pg", "npm ci, and PostgreSQL"),
    };
    let dir = format!("{}/{folder}", env!("CARGO_MANIFEST_DIR"));
    assert!(
        std::path::Path::new(&dir).join("node_modules").exists(),
        "the test upstream is not installed: {installed_by} in {folder} (scripts/setup.sh --tests does)"
    );
    let mut env: Vec<(&str, &str)> = env.to_vec();
    if on_default_config() && !env.iter().any(|(name, _)| *name == "MAX_TOP") {
        env.push(("MAX_TOP", UNTOLD))
    }
    if kind == UpstreamKind::Liveagent {
        for (name, _) in &env {
            assert!(
                !["DECLARE_NAVIGATION", "V10_LEGACY_FIELDS", "MAX_PAGE_SIZE"].contains(name),
                "{name} needs a complete OData server: skip this test on liveagent (skipped_on_liveagent)"
            );
        }
        env.retain(|(name, _)| *name != "DB_FILE");
        for (name, _) in &mut env {
            if *name == "MAX_TOP" {
                *name = "PAGE_CAP";
            }
        }
    }
    let cap_name = match kind {
        UpstreamKind::Cap => "MAX_TOP",
        UpstreamKind::Liveagent => "PAGE_CAP",
    };
    let page_cap = env
        .iter()
        .find(|(name, _)| *name == cap_name)
        .map(|(_, v)| v.parse::<u64>().expect("a numeric page cap"))
        .or((kind == UpstreamKind::Liveagent).then_some(DIRECT_PAGE));
    let mut cmd = Command::new("node");
    cmd.arg("server.js")
        .current_dir(dir)
        .env("PORT", "0")
        .env("PARENT_PID", std::process::id().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in &env {
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
        .unwrap_or_else(|| panic!("the {folder} upstream did not print LISTENING <port>"));
    TestUpstream {
        port,
        kind,
        page_cap,
        private: env.iter().any(|(name, _)| *name == "PRIVATE_TO"),
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

/// A gateway with exactly this config (build it on `base_config()` or
/// `config_for()`, so that its dialect is the upstream's).
pub async fn gateway_with(config: Config) -> Gateway {
    let settings = config.validate().expect("valid config");
    let app = liveagent_graphql::server::app(&settings).expect("gateway app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let header_read_timeout = settings.http.header_read_timeout;
    let forever = std::future::pending();
    tokio::spawn(liveagent_graphql::server::serve_connections(
        listener,
        app,
        header_read_timeout,
        forever,
    ));
    Gateway { addr }
}

/// Has the gateway run its capability probes (where they are on) before
/// the test times what it does: the first request runs them, however
/// short its own timeout. Sends one query, then waits until
/// `/capabilities` says the probes ran.
pub async fn probes_settled(gw: &Gateway) {
    let _ = gw
        .query(
            Some(ADMIN_1),
            "{ inboxes(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;
    let url = format!("http://{}/capabilities", gw.addr);
    for _ in 0..200 {
        let caps: Value = http()
            .get(&url)
            .send()
            .await
            .expect("capabilities")
            .json()
            .await
            .expect("capabilities json");
        if caps["probes"] == false || caps["probed"] == true {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the gateway's probes did not finish");
}

/// A gateway with this config that serves for the life of the test binary,
/// on a runtime of its own (a test's runtime ends with the test): for
/// gateways that many tests share, e.g. one keeping an analytics replica.
pub fn lasting_gateway(config: Config) -> Gateway {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let gw = gateway_with(config).await;
            let _ = tx.send(gw.addr);
            std::future::pending::<()>().await
        });
    });
    Gateway {
        addr: rx.recv().expect("lasting gateway started"),
    }
}

pub async fn gateway(upstream: &TestUpstream, version: &str) -> Gateway {
    gateway_with(config_for(upstream, version)).await
}

/// The environment of a gateway binary started by a test, so that it is
/// configured as `base_config()` says: this run's dialect with the probes
/// off, or nothing in the `cap-default` run.
pub fn gateway_env() -> Vec<(&'static str, &'static str)> {
    if on_default_config() {
        return Vec::new();
    }
    let name = match dialect() {
        DialectName::Odata4 => "odata4",
        DialectName::Liveagent => "liveagent",
    };
    vec![("UPSTREAM_DIALECT", name), ("UPSTREAM_PROBES", "false")]
}

/// The `id`s of a connection's (or list's) `nodes`.
pub fn node_ids(connection: &Value) -> Vec<i64> {
    let nodes = connection.get("nodes").unwrap_or(connection);
    nodes
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["id"].as_i64())
        .collect()
}

/// Ids and `totalCount` of a list for a `where` value (one page of up to
/// 1000 rows).
pub async fn ids_and_total(
    gw: &Gateway,
    plural: &str,
    type_name: &str,
    filter: &Value,
) -> (Vec<i64>, Option<u64>) {
    let query = format!(
        "query($w: {type_name}Filter) {{ {plural}(first: 1000, where: $w) {{ nodes {{ id }} totalCount }} }}"
    );
    let data = gw.data(ADMIN_1, &query, json!({ "w": filter })).await;
    (node_ids(&data[plural]), data[plural]["totalCount"].as_u64())
}

/// The first error's `extensions.code`.
pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// A gateway running as its own process (the release of this build), for
/// tests of several replicas; killed when dropped.
pub struct GatewayProcess {
    pub gateway: Gateway,
    child: Child,
    config_file: std::path::PathBuf,
}

impl std::ops::Deref for GatewayProcess {
    type Target = Gateway;
    fn deref(&self) -> &Gateway {
        &self.gateway
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config_file);
    }
}

/// Starts the gateway binary with exactly this config (written to a TOML
/// file, listening on a free port) and waits until it answers `/healthz`.
pub async fn gateway_process(config: Config) -> GatewayProcess {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let config = Config {
        listen: addr.to_string(),
        ..config
    };
    let config_file =
        std::env::temp_dir().join(format!("gateway-{}-{port}.toml", std::process::id()));
    std::fs::write(
        &config_file,
        toml::to_string(&config).expect("config as TOML"),
    )
    .expect("write config");
    let child = Command::new(env!("CARGO_BIN_EXE_liveagent-graphql"))
        .arg("--config")
        .arg(&config_file)
        .env("LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the gateway binary");
    let process = GatewayProcess {
        gateway: Gateway { addr },
        child,
        config_file,
    };
    for _ in 0..200 {
        let ok = http()
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return process;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the gateway process did not start on {addr}");
}

/// The value of one series of the gateway's `/metrics`, e.g.
/// `gateway_cache_hits_total{collection="Label"}`.
pub async fn metric_of(gw: &Gateway, series: &str) -> Option<f64> {
    let text = http()
        .get(format!("http://{}/metrics", gw.addr))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Which store an analytics replica of a test gateway uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaEngine {
    Sqlite,
    Postgres,
}

/// A gateway config with an analytics replica synced with admin-token-1
/// every `interval_s`: a fresh SQLite file, or the database of this test
/// binary's private PostgreSQL cluster (shared by its gateways, as a fleet
/// shares one).
pub fn replica_config(engine: ReplicaEngine, interval_s: u64) -> Config {
    static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let url = match engine {
        ReplicaEngine::Sqlite => {
            let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let file = format!(
                "{}/replica-{}-{n}.db",
                env!("CARGO_TARGET_TMPDIR"),
                std::process::id()
            );
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{file}{suffix}"));
            }
            format!("sqlite:///{file}")
        }
        ReplicaEngine::Postgres => replica_postgres_url().to_string(),
    };
    Config {
        replica_url: Some(url),
        replica_sync_interval_s: interval_s,
        service_upstream_token: Some(ADMIN_1.to_string().into()),
        ..base_config()
    }
}

/// `postgres://` of a private PostgreSQL cluster (tests/upstream-pg/replica-db.js),
/// started once per test binary and gone with it.
pub fn replica_postgres_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let dir = format!("{}/tests/upstream-pg", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("node")
            .arg("replica-db.js")
            .current_dir(&dir)
            .env("PARENT_PID", std::process::id().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start PostgreSQL for the replica (node, and Debian's postgresql)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("READY line");
        let socket = line
            .strip_prefix("READY ")
            .map(str::trim)
            .unwrap_or_else(|| panic!("PostgreSQL for the replica did not start: {line:?}"));
        // Lives as long as the test binary (it exits with PARENT_PID).
        Box::leak(Box::new(child));
        let host: String = url::form_urlencoded::byte_serialize(socket.as_bytes()).collect();
        format!("postgres://postgres@{host}/postgres")
    })
}

/// Waits until the gateway's replica is in sync.
pub async fn wait_replica_in_sync(gw: &Gateway) {
    for _ in 0..600 {
        if metric_of(gw, "gateway_replica_in_sync").await == Some(1.0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the replica did not get in sync within a minute");
}

/// When the answer came from the analytics replica: its `syncedAt`.
pub fn replica_synced_at(body: &Value) -> Option<&str> {
    body["extensions"]["replica"]["syncedAt"].as_str()
}

/// Runs `node` on `script` in `dir` with `args` and `env`; whether it
/// succeeded, with its output (printed, so that a failing test shows it).
pub async fn run_node(
    dir: &str,
    script: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (bool, String) {
    assert!(
        std::path::Path::new(dir).join("node_modules").exists(),
        "run npm ci in {dir} (scripts/setup.sh --tests does)"
    );
    let output = tokio::process::Command::new("node")
        .arg(script)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    (output.status.success(), format!("{stdout}\n{stderr}"))
}
