//! OpenTelemetry traces over OTLP, received by an OTLP receiver of the
//! test's own (HTTP with protobuf or JSON bodies, and gRPC): the server
//! span of each GraphQL request with its operation, one client span per
//! upstream request that X-Explain lists, a cache marker for each answer
//! served from the cache, a client's `traceparent` continued and sent on
//! upstream, replica statements as database spans, the trace id in the
//! log lines, the last spans flushed at shutdown, and never a credential.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use common::*;
use liveagent_graphql::config::Config;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use prost::Message;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One received span, flattened.
#[derive(Debug, Clone)]
struct Got {
    name: String,
    kind: i32,
    trace_id: String,
    span_id: String,
    parent: String,
    attributes: BTreeMap<String, String>,
    events: Vec<(String, BTreeMap<String, String>)>,
    service: String,
}

const SERVER: i32 = 2;
const CLIENT: i32 = 3;

impl Got {
    fn attr(&self, key: &str) -> &str {
        self.attributes.get(key).map(String::as_str).unwrap_or("")
    }
}

/// What the receiver got: every body as it came, and the spans.
#[derive(Clone, Default)]
struct Received {
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    spans: Arc<Mutex<Vec<Got>>>,
}

impl Received {
    fn add(&self, body: &[u8], request: ExportTraceServiceRequest) {
        self.bodies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(body.to_vec());
        let spans = flatten(request);
        self.spans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(spans);
    }

    fn spans(&self) -> Vec<Got> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn bodies(&self) -> Vec<Vec<u8>> {
        self.bodies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until `done` holds for the spans received.
    async fn until(&self, what: &str, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        for _ in 0..200 {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no {what} within 10 s: {:#?}", self.spans());
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attributes(list: &[KeyValue]) -> BTreeMap<String, String> {
    list.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                Some(any_value::Value::BoolValue(b)) => b.to_string(),
                Some(any_value::Value::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn flatten(request: ExportTraceServiceRequest) -> Vec<Got> {
    let mut out = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                out.push(Got {
                    name: span.name,
                    kind: span.kind,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    attributes: attributes(&span.attributes),
                    events: span
                        .events
                        .iter()
                        .map(|e| (e.name.clone(), attributes(&e.attributes)))
                        .collect(),
                    service: service.clone(),
                });
            }
        }
    }
    out
}

/// `POST /v1/traces`, protobuf or JSON by its content type.
async fn export(State(received): State<Received>, headers: HeaderMap, body: Bytes) -> Vec<u8> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let request = if json {
        serde_json::from_slice(&body).expect("OTLP/JSON body")
    } else {
        ExportTraceServiceRequest::decode(body.as_ref()).expect("OTLP protobuf body")
    };
    received.add(&body, request);
    ExportTraceServiceResponse::default().encode_to_vec()
}

/// An OTLP/HTTP receiver on a free port: its base URL.
async fn http_receiver() -> (String, Received) {
    let received = Received::default();
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(export))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), received)
}

struct Grpc(Received);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let request = request.into_inner();
        self.0.add(&request.encode_to_vec(), request);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// An OTLP/gRPC receiver on a free port: its URL.
async fn grpc_receiver() -> (String, Received) {
    let received = Received::default();
    let addr = free_addr();
    let service = TraceServiceServer::new(Grpc(received.clone()));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve(addr),
    );
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (format!("http://{addr}"), received)
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}

/// The gateway binary with `env`, its log (JSON lines) in a file.
struct Traced {
    gateway: Gateway,
    child: Child,
    log: PathBuf,
    config_file: PathBuf,
}

impl Drop for Traced {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config_file);
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Traced {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and the process's exit.
    fn terminate(&mut self) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: a signal to the child this test started.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

async fn start(config: Config, env: &[(&str, &str)]) -> Traced {
    let addr = free_addr();
    let config = Config {
        listen: addr.to_string(),
        ..config
    };
    let port = addr.port();
    let dir = std::env::temp_dir();
    let config_file = dir.join(format!("traces-{}-{port}.toml", std::process::id()));
    let log = dir.join(format!("traces-{}-{port}.log", std::process::id()));
    std::fs::write(&config_file, toml::to_string(&config).expect("toml")).expect("config");
    let mut command = Command::new(env!("CARGO_BIN_EXE_liveagent-graphql"));
    command
        .arg("--config")
        .arg(&config_file)
        .env("LOG", "info")
        .env("LOG_FORMAT", "json")
        // Exported within a tenth of a second, unless a test says otherwise.
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"));
    for (name, value) in env {
        command.env(name, value);
    }
    let child = command.spawn().expect("start the gateway");
    let traced = Traced {
        gateway: Gateway { addr },
        child,
        log,
        config_file,
    };
    for _ in 0..200 {
        let up = reqwest::get(format!("http://{addr}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success());
        if up {
            return traced;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the gateway did not start: {}", traced.log());
}

/// POSTs `query` with `headers` to `path` (`/graphql?...`); the JSON body.
async fn post(gw: &Gateway, path: &str, headers: &[(&str, &str)], query: &str) -> Value {
    let mut request = reqwest::Client::new()
        .post(format!("http://{}{path}", gw.addr))
        .json(&json!({ "query": query }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("post");
    let body: Value = response.json().await.expect("json");
    assert!(body.get("errors").is_none(), "{body}");
    body
}

fn explained(body: &Value) -> Vec<Value> {
    body["extensions"]["explain"]["requests"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no explain: {body}"))
}

fn sha256_hex(text: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref())
}

const DASHBOARD: &str = r#"query Dashboard {
  conversations(first: 3, orderBy: [{id: ASC}]) {
    nodes { id messages(first: 2, orderBy: [{id: ASC}]) { id } }
  }
}"#;

const TRACE_1: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACE_2: &str = "0af7651916cd43dd8448eb211c80319c";
const TRACE_3: &str = "5b8aa5a2d2c872e8321cf37308d69df2";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn traceparent(trace: &str) -> String {
    format!("00-{trace}-{CLIENT_SPAN}-01")
}

fn in_trace<'a>(spans: &'a [Got], trace: &str) -> Vec<&'a Got> {
    spans.iter().filter(|s| s.trace_id == trace).collect()
}

fn server_of<'a>(spans: &'a [Got], trace: &str) -> Option<&'a Got> {
    in_trace(spans, trace)
        .into_iter()
        .find(|s| s.kind == SERVER)
}

/// The span tree of one traced request: its server span and its children.
fn children<'a>(spans: &'a [Got], parent: &Got, kind: i32) -> Vec<&'a Got> {
    spans
        .iter()
        .filter(|s| s.parent == parent.span_id && s.kind == kind)
        .collect()
}

#[tokio::test]
async fn http_protobuf_spans_show_the_upstream_work_as_explain_does() {
    let up = private_upstream("traces");
    let (endpoint, received) = http_receiver().await;
    let gw = start(
        config_for(up, "1.1"),
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)],
    )
    .await;
    // `$metadata` and any probes first: read once per process.
    probes_settled(&gw.gateway).await;

    let auth = format!("Bearer {ADMIN_1}");
    let (parent1, parent2) = (traceparent(TRACE_1), traceparent(TRACE_2));
    let headers = |parent| {
        [
            ("authorization", auth.as_str()),
            ("x-explain", "1"),
            ("traceparent", parent),
        ]
    };
    let since = up.last_seq().await;
    let first = post(&gw.gateway, "/graphql", &headers(&parent1), DASHBOARD).await;
    let sent = up.requests_since(since).await;
    let second = post(&gw.gateway, "/graphql", &headers(&parent2), DASHBOARD).await;
    let misses = explained(&first);
    let hits = explained(&second);
    assert!(misses.iter().all(|r| r["cache"] == "miss"), "{misses:?}");
    assert!(hits.iter().all(|r| r["cache"] == "hit"), "{hits:?}");
    assert_eq!(misses.len(), 2, "{misses:?}");

    let spans = received
        .until("client spans of the first request", |s| {
            let server = server_of(s, TRACE_1);
            server.is_some_and(|server| children(s, server, CLIENT).len() >= misses.len())
                && server_of(s, TRACE_2).is_some()
        })
        .await;

    // The server span continues the client's trace, named after the operation.
    let server = server_of(&spans, TRACE_1).expect("server span");
    assert_eq!(server.name, "query Dashboard");
    assert_eq!(server.parent, CLIENT_SPAN);
    assert_eq!(server.service, "liveagent-graphql");
    assert_eq!(server.attr("graphql.operation.type"), "query");
    assert_eq!(server.attr("graphql.operation.name"), "Dashboard");
    assert_eq!(server.attr("graphql.document.hash"), sha256_hex(DASHBOARD));
    assert_eq!(server.attr("http.request.method"), "POST");
    assert_eq!(server.attr("http.response.status_code"), "200");

    // One client span per upstream request, as many as explain lists.
    let clients = children(&spans, server, CLIENT);
    assert_eq!(clients.len(), misses.len(), "{clients:#?}");
    assert_eq!(sent.len(), misses.len(), "{sent:?}");
    for request in &misses {
        let collection = request["collection"].as_str().unwrap_or_default();
        let span = clients
            .iter()
            .find(|s| s.attr("odata.collection") == collection)
            .unwrap_or_else(|| panic!("no client span for {collection}: {clients:#?}"));
        assert_eq!(span.name, "GET");
        assert_eq!(span.attr("http.request.method"), "GET");
        assert_eq!(span.attr("http.response.status_code"), "200");
        assert_eq!(span.attr("odata.rows"), request["rows"].to_string());
        let url = request["url"].as_str().unwrap_or_default();
        assert!(span.attr("url.full").ends_with(url), "{span:?} {url}");
    }
    // Each upstream request carried its own span's traceparent.
    for logged in &sent {
        let parent = logged["traceparent"].as_str().unwrap_or_default();
        let (trace, span) = (
            parent.get(3..35).unwrap_or(""),
            parent.get(36..52).unwrap_or(""),
        );
        assert_eq!(trace, TRACE_1, "{logged}");
        assert!(
            clients.iter().any(|c| c.span_id == span),
            "{logged} {clients:#?}"
        );
    }

    // The same query again: no upstream request, a cache marker per answer.
    let again = server_of(&spans, TRACE_2).expect("second server span");
    assert_eq!(again.parent, CLIENT_SPAN);
    assert!(children(&spans, again, CLIENT).is_empty());
    let markers: Vec<_> = again
        .events
        .iter()
        .filter(|(name, _)| name == "upstream.cache")
        .collect();
    assert_eq!(markers.len(), hits.len(), "{again:#?}");
    assert!(
        markers.iter().all(|(_, a)| a["cache.tier"] == "hit"),
        "{markers:?}"
    );

    // Without explain, the whole response is cached, then served as is.
    let plain = [("authorization", auth.as_str())];
    post(&gw.gateway, "/graphql", &plain, DASHBOARD).await;
    let parent3 = traceparent(TRACE_3);
    let cached = [
        ("authorization", auth.as_str()),
        ("traceparent", parent3.as_str()),
    ];
    post(&gw.gateway, "/graphql", &cached, DASHBOARD).await;
    let spans = received
        .until("the whole-response hit's span", |s| {
            server_of(s, TRACE_3).is_some()
        })
        .await;
    let hit = server_of(&spans, TRACE_3).expect("third server span");
    assert_eq!(hit.name, "query Dashboard");
    assert_eq!(hit.attr("graphql.response_cache"), "hit", "{hit:?}");
    assert!(children(&spans, hit, CLIENT).is_empty());

    // The trace id is in the request's log line.
    let log = gw.log();
    assert!(
        log.lines()
            .any(|l| l.contains("graphql request")
                && l.contains(&format!("\"trace_id\":\"{TRACE_1}\""))),
        "{log}"
    );
    no_credential_in(&received);
}

#[tokio::test]
async fn an_unnamed_query_by_api_key_starts_a_trace_without_its_key() {
    let up = private_upstream("traces-apikey");
    let (endpoint, received) = http_receiver().await;
    let traces = format!("{endpoint}/v1/traces");
    let gw = start(
        Config {
            // Every answer from the upstream: no cache tier between.
            cache_max_bytes: 0,
            response_cache_bytes: 0,
            ..config_for(up, "1.1")
        },
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &traces),
            ("OTEL_SERVICE_NAME", "gw-test"),
            ("LOG", "debug"),
        ],
    )
    .await;
    let path = format!("/graphql?apikey={ADMIN_1}");
    let query = "{ labels(first: 2) { nodes { id } } }";
    post(&gw.gateway, &path, &[], query).await;
    let spans = received
        .until("an unnamed query's spans", |s| {
            s.iter().any(|s| s.kind == SERVER) && s.iter().any(|s| s.kind == CLIENT)
        })
        .await;
    let server = spans
        .iter()
        .find(|s| s.kind == SERVER)
        .expect("server span");
    assert_eq!(server.name, "query");
    assert!(server.parent.is_empty(), "a new trace: {server:?}");
    assert_eq!(server.service, "gw-test");
    assert!(!server.attributes.contains_key("graphql.operation.name"));
    let client = spans
        .iter()
        .find(|s| s.kind == CLIENT && s.trace_id == server.trace_id)
        .expect("client span");
    assert!(client.attr("url.full").contains("Label"), "{client:?}");
    // The upstream request's debug line carries the trace id too.
    let log = gw.log();
    let traced_line = format!("\"trace_id\":\"{}\"", server.trace_id);
    assert!(
        log.lines()
            .any(|l| l.contains("upstream request") && l.contains(&traced_line)),
        "{log}"
    );
    no_credential_in(&received);
}

/// No token of the tests appears in anything exported.
fn no_credential_in(received: &Received) {
    let bodies = received.bodies();
    assert!(!bodies.is_empty());
    for body in bodies {
        let text = String::from_utf8_lossy(&body);
        for secret in [ADMIN_1, ADMIN_2, AGENT_1, "Bearer"] {
            assert!(!text.contains(secret), "{secret} exported: {text}");
        }
    }
}

/// The span of `query`, exported with `protocol` to `endpoint`.
async fn one_request_over(protocol: &str, endpoint: &str, extra: &[(&str, &str)]) -> Traced {
    let up = upstream();
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
    ];
    env.extend_from_slice(extra);
    let gw = start(config_for(up, "1.1"), &env).await;
    let auth = format!("Bearer {ADMIN_1}");
    let query = "query Labels { labels(first: 1) { nodes { id } } }";
    post(&gw.gateway, "/graphql", &[("authorization", &auth)], query).await;
    gw
}

#[tokio::test]
async fn http_json_spans_are_flushed_at_shutdown() {
    let (endpoint, received) = http_receiver().await;
    // Nothing is exported on schedule within the test: only the shutdown
    // flush can deliver the span.
    let mut gw = one_request_over(
        "http/json",
        &endpoint,
        &[("OTEL_BSP_SCHEDULE_DELAY", "600000")],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(received.spans().is_empty(), "{:?}", received.spans());
    gw.terminate();
    let spans = received
        .until("the span flushed at shutdown", |s| {
            s.iter().any(|s| s.name == "query Labels")
        })
        .await;
    let server = spans
        .iter()
        .find(|s| s.name == "query Labels")
        .expect("span");
    assert_eq!(server.kind, SERVER);
    no_credential_in(&received);
}

#[tokio::test]
async fn grpc_export() {
    let (endpoint, received) = grpc_receiver().await;
    let _gw = one_request_over("grpc", &endpoint, &[]).await;
    let spans = received
        .until("a span over gRPC", |s| {
            s.iter().any(|s| s.name == "query Labels")
        })
        .await;
    assert!(spans
        .iter()
        .any(|s| s.kind == CLIENT && s.attr("odata.collection") == "Label"));
    no_credential_in(&received);
}

#[tokio::test]
async fn replica_statements_are_database_spans() {
    let up = private_upstream("traces-replica");
    let (endpoint, received) = http_receiver().await;
    let gw = start(
        Config {
            upstream: Some(up.url("1.1")),
            response_cache_bytes: 0,
            ..replica_config(ReplicaEngine::Sqlite, 60)
        },
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)],
    )
    .await;
    wait_replica_in_sync(&gw.gateway).await;
    let query = "query Counts { conversationCounts { all open resolved } }";
    let auth = format!("Bearer {ADMIN_1}");
    let body = post(&gw.gateway, "/graphql", &[("authorization", &auth)], query).await;
    assert!(replica_synced_at(&body).is_some(), "{body}");
    let spans = received
        .until("a database span", |s| {
            s.iter().any(|s| s.attributes.contains_key("db.system"))
                && s.iter().any(|s| s.name == "query Counts")
        })
        .await;
    let server = spans
        .iter()
        .find(|s| s.name == "query Counts")
        .expect("server span");
    let db: Vec<_> = children(&spans, server, CLIENT)
        .into_iter()
        .filter(|s| s.attributes.contains_key("db.system"))
        .collect();
    assert!(!db.is_empty(), "{spans:#?}");
    for span in db {
        assert_eq!(span.attr("db.system"), "sqlite");
        assert!(
            ["SELECT", "WITH"].contains(&span.attr("db.operation.name")),
            "{span:?}"
        );
        assert!(
            span.attributes
                .values()
                .all(|v| !v.contains(' ') || v.ends_with("sqlite")),
            "{span:?}"
        );
    }
    // The replica's sync, outside any request, starts no trace.
    assert!(
        spans
            .iter()
            .all(|s| s.kind == SERVER || !s.parent.is_empty()),
        "{spans:#?}"
    );
}

#[tokio::test]
async fn each_evaluation_of_a_subscription_is_a_trace() {
    let up = private_upstream("traces-live");
    let (endpoint, received) = http_receiver().await;
    let gw = start(
        Config {
            live_min_interval_s: 1,
            ..config_for(up, "1.1")
        },
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)],
    )
    .await;
    let query = "subscription Counts { conversationCounts(everySeconds: 1) { open } }";
    let mut stream = reqwest::Client::new()
        .post(gw.gateway.url())
        .bearer_auth(ADMIN_1)
        .header("accept", "text/event-stream")
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(stream.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(10), stream.chunk()).await;
    assert!(matches!(first, Ok(Ok(Some(_)))), "{first:?}");
    let evaluation = |s: &Got| s.name == "subscription Counts" && s.kind == 1;
    let spans = received
        .until("two evaluations' spans", |s| {
            s.iter().filter(|s| evaluation(s)).count() >= 2
        })
        .await;
    let evaluations: Vec<_> = spans.iter().filter(|s| evaluation(s)).collect();
    assert_ne!(evaluations[0].trace_id, evaluations[1].trace_id);
    for span in &evaluations {
        assert_eq!(span.attr("graphql.operation.type"), "subscription");
        assert_eq!(span.attr("graphql.operation.name"), "Counts");
    }
    // The first evaluation asked the upstream, below its own span.
    assert!(
        evaluations
            .iter()
            .any(|e| !children(&spans, e, CLIENT).is_empty()),
        "{spans:#?}"
    );
    drop(stream);
    no_credential_in(&received);
}
