//! Live queries over HTTP: GraphQL over WebSocket (graphql-transport-ws)
//! and over SSE, against the test upstream. Every test has an upstream of
//! its own, so that the requests it counts are its own.

mod common;

use common::{
    config_for, gateway_with, private_upstream, upstream, Gateway, TestUpstream, ADMIN_1, ADMIN_2,
};
use futures::{SinkExt, StreamExt};
use liveagent_graphql::config::Config;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Subscribers per transport of the sharing test (the issue's 200 in all).
const PER_TRANSPORT: usize = 100;

const INBOXES: &str =
    "subscription Board { inboxes(first: 3, everySeconds: 1) { totalCount nodes { id name } } }";

/// A gateway polling every second at the least, with these limits.
async fn live_gateway(up: &TestUpstream, limits: Config) -> Gateway {
    gateway_with(Config {
        live_min_interval_s: 1,
        live_default_interval_s: 1,
        ..Config {
            max_subscriptions: limits.max_subscriptions,
            max_subscriptions_per_credential: limits.max_subscriptions_per_credential,
            ..config_for(up, "1.1")
        }
    })
    .await
}

async fn plain_gateway(up: &TestUpstream) -> Gateway {
    live_gateway(up, Config::default()).await
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A graphql-transport-ws client.
struct Ws(Socket);

impl Ws {
    /// Connects with `protocol`, and the upgrade request's own `Authorization`.
    async fn open(gw: &Gateway, bearer: Option<&str>, protocol: &str) -> Ws {
        let url = format!("ws://{}/graphql", gw.addr);
        let mut request = url.into_client_request().expect("request");
        let headers = request.headers_mut();
        headers.insert("sec-websocket-protocol", protocol.parse().expect("header"));
        if let Some(token) = bearer {
            let value = format!("Bearer {token}").parse().expect("header");
            headers.insert("authorization", value);
        }
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket");
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            "graphql-transport-ws"
        );
        Ws(socket)
    }

    /// Connected and acknowledged, the credential in `connection_init`.
    async fn ready(gw: &Gateway, init: Value) -> Ws {
        let mut ws = Ws::open(gw, None, "graphql-transport-ws").await;
        ws.send(json!({"type": "connection_init", "payload": init}))
            .await;
        assert_eq!(ws.next().await["type"], "connection_ack");
        ws
    }

    async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    async fn send_text(&mut self, text: &str) {
        self.0.send(Message::Text(text.into())).await.expect("send");
    }

    async fn subscribe(&mut self, id: &str, query: &str) {
        let payload = json!({"query": query});
        self.send(json!({"id": id, "type": "subscribe", "payload": payload}))
            .await;
    }

    /// The next JSON message, within 10 s (pings skipped).
    async fn next(&mut self) -> Value {
        self.within(Duration::from_secs(10))
            .await
            .expect("a message within 10 s")
    }

    /// The next JSON message within `wait`, if any; a close frame is
    /// `{"close": code}`.
    async fn within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.0.next())
                .await
                .ok()?;
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(&text).expect("json message"))
                }
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map(|f| u16::from(f.code)).unwrap_or(0);
                    return Some(json!({"close": code}));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some(json!({"close": 0})),
            }
        }
    }
}

/// A graphql-sse (distinct connections) client: the events of one POST.
struct Sse {
    response: reqwest::Response,
    buffer: String,
}

impl Sse {
    async fn open(gw: &Gateway, token: &str, query: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(gw.url())
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .json(&json!({"query": query}))
            .send()
            .await
            .expect("sse request")
    }

    async fn subscribe(gw: &Gateway, token: &str, query: &str) -> Sse {
        let response = Sse::open(gw, token, query).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/event-stream"));
        Sse {
            response,
            buffer: String::new(),
        }
    }

    /// The next event as (name, data), within `wait`; comments skipped.
    async fn within(&mut self, wait: Duration) -> Option<(String, String)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if name.is_empty() && data.is_empty() {
                    continue;
                }
                return Some((name, data));
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .expect("sse body")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    async fn next(&mut self) -> (String, String) {
        self.within(Duration::from_secs(10))
            .await
            .expect("an event within 10 s")
    }
}

fn next_payload(message: &Value, id: &str) -> Value {
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], id, "{message}");
    message["payload"].clone()
}

async fn metrics(gw: &Gateway) -> String {
    reqwest::get(format!("http://{}/metrics", gw.addr))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing in:\n{text}"))
}

/// Upstream data requests of one evaluation of INBOXES as a query.
async fn requests_per_evaluation(up: &TestUpstream, gw: &Gateway) -> (usize, Value) {
    let query = INBOXES
        .replace("subscription", "query")
        .replace(", everySeconds: 1", "");
    let since = up.last_seq().await;
    let data = gw.data(ADMIN_1, &query, json!({})).await;
    let n = up.data_requests_since(since).await.len();
    assert!(n >= 1);
    (n, json!({ "data": data }))
}

#[tokio::test]
async fn subscribers_of_one_query_share_one_poll_per_interval() {
    let up = private_upstream("live_share");
    let limits = Config {
        max_subscriptions_per_credential: 2 * PER_TRANSPORT,
        ..Config::default()
    };
    let gw = live_gateway(up, limits).await;
    let (per_evaluation, expected) = requests_per_evaluation(up, &gw).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut sockets = Vec::new();
    for i in 0..PER_TRANSPORT {
        let mut ws = Ws::ready(&gw, json!({"Authorization": format!("Bearer {ADMIN_1}")})).await;
        ws.subscribe(&format!("s{i}"), INBOXES).await;
        sockets.push(ws);
    }
    let mut streams = Vec::new();
    for _ in 0..PER_TRANSPORT {
        streams.push(Sse::subscribe(&gw, ADMIN_1, INBOXES).await);
    }
    for (i, ws) in sockets.iter_mut().enumerate() {
        let first = next_payload(&ws.next().await, &format!("s{i}"));
        assert_eq!(first, expected);
    }
    for sse in &mut streams {
        let (name, data) = sse.next().await;
        assert_eq!(name, "next");
        assert_eq!(
            serde_json::from_str::<Value>(&data).expect("json"),
            expected
        );
    }
    let text = metrics(&gw).await;
    let all = 2 * PER_TRANSPORT;
    assert_eq!(metric(&text, "gateway_live_subscriptions"), all as f64);
    assert_eq!(metric(&text, "gateway_live_cohorts"), 1.0);

    // Nothing changes upstream: polls go on, once per second for all of
    // them, and nothing more is pushed.
    let since = up.last_seq().await;
    let window = Duration::from_millis(3500);
    let quiet = tokio::time::Instant::now() + window;
    for ws in &mut sockets {
        let left = quiet.saturating_duration_since(tokio::time::Instant::now());
        assert_eq!(ws.within(left).await, None, "pushed without a change");
    }
    for sse in &mut streams {
        assert_eq!(sse.within(Duration::from_millis(10)).await, None);
    }
    let polls = up.data_requests_since(since).await.len();
    assert!(
        (2 * per_evaluation..=5 * per_evaluation).contains(&polls),
        "{polls} upstream requests in 3.5 s for {all} subscribers ({per_evaluation} per evaluation)"
    );
    let text = metrics(&gw).await;
    assert!(metric(&text, "gateway_live_polls_total") >= 3.0);
    assert_eq!(metric(&text, "gateway_live_pushes_total"), all as f64);

    // All gone: the poller stops.
    drop(sockets);
    drop(streams);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let since = up.last_seq().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(up.data_requests_since(since).await, Vec::<String>::new());
    let text = metrics(&gw).await;
    assert_eq!(metric(&text, "gateway_live_subscriptions"), 0.0);
    assert_eq!(metric(&text, "gateway_live_cohorts"), 0.0);
}

#[tokio::test]
async fn each_credential_has_its_own_cohort_and_data() {
    let up = private_upstream("live_tokens");
    let gw = plain_gateway(up).await;
    let query = "subscription { inboxes(first: 50) { nodes { id } } }";
    let plain = "{ inboxes(first: 50) { nodes { id } } }";
    let mut one = Ws::ready(&gw, json!({"Authorization": format!("Bearer {ADMIN_1}")})).await;
    one.subscribe("a", query).await;
    let mut two = Sse::subscribe(&gw, ADMIN_2, query).await;
    let mine = next_payload(&one.next().await, "a");
    let (_, theirs) = two.next().await;
    let theirs: Value = serde_json::from_str(&theirs).expect("json");
    assert_eq!(mine["data"], gw.data(ADMIN_1, plain, json!({})).await);
    assert_eq!(theirs["data"], gw.data(ADMIN_2, plain, json!({})).await);
    assert_ne!(mine, theirs);
    assert_eq!(metric(&metrics(&gw).await, "gateway_live_cohorts"), 2.0);
}

#[tokio::test]
async fn credentials_come_from_the_upgrade_or_connection_init() {
    let up = private_upstream("live_auth");
    let gw = plain_gateway(up).await;
    let query = "subscription { inbox(id: 1) { id } }";
    let mut by_header = Ws::open(&gw, Some(ADMIN_1), "graphql-transport-ws").await;
    by_header.send(json!({"type": "connection_init"})).await;
    assert_eq!(by_header.next().await["type"], "connection_ack");
    by_header.subscribe("h", query).await;
    let first = next_payload(&by_header.next().await, "h");
    assert!(first.get("errors").is_none(), "{first}");

    let mut by_apikey = Ws::ready(&gw, json!({"apikey": ADMIN_1})).await;
    by_apikey.subscribe("k", query).await;
    assert_eq!(next_payload(&by_apikey.next().await, "k"), first);

    let mut nested = Ws::ready(
        &gw,
        json!({"headers": {"Authorization": format!("Bearer {ADMIN_1}")}}),
    )
    .await;
    nested.subscribe("n", query).await;
    assert_eq!(next_payload(&nested.next().await, "n"), first);

    let mut none = Ws::open(&gw, None, "graphql-transport-ws").await;
    none.send(json!({"type": "connection_init", "payload": {}}))
        .await;
    assert_eq!(none.next().await, json!({"close": 4403}));

    let response = Sse::open(&gw, "", query).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(common::error_code(&body), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn beyond_the_limits_subscriptions_are_refused() {
    let up = private_upstream("live_limits");
    let gw = live_gateway(
        up,
        Config {
            max_subscriptions: 3,
            max_subscriptions_per_credential: 2,
            ..Config::default()
        },
    )
    .await;
    let query = "subscription { inbox(id: 1) { id } }";
    let mut ws = Ws::ready(&gw, json!({"Authorization": format!("Bearer {ADMIN_1}")})).await;
    for id in ["1", "2", "3"] {
        ws.subscribe(id, query).await;
    }
    let mut refused = None;
    for _ in 0..3 {
        let message = ws.next().await;
        if message["type"] == "error" {
            refused = Some(message);
        }
    }
    let refused = refused.expect("one refusal");
    assert_eq!(refused["id"], "3");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "TOO_MANY_SUBSCRIPTIONS"
    );
    let _other = Sse::subscribe(&gw, ADMIN_2, query).await;
    let response = Sse::open(&gw, ADMIN_2, query).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(common::error_code(&body), Some("TOO_MANY_SUBSCRIPTIONS"));
    // Leaving makes room again.
    ws.send(json!({"id": "1", "type": "complete"})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    ws.subscribe("4", query).await;
    assert_eq!(ws.next().await["type"], "next");
}

#[tokio::test]
async fn protocol_errors_close_one_connection_and_the_server_keeps_serving() {
    let up = private_upstream("live_protocol");
    let gw = plain_gateway(up).await;
    let init = || json!({"Authorization": format!("Bearer {ADMIN_1}")});
    let query = "subscription { inbox(id: 1) { id } }";

    let mut ws = Ws::ready(&gw, init()).await;
    ws.send_text("{not json").await;
    assert_eq!(ws.next().await, json!({"close": 4400}));

    let mut ws = Ws::ready(&gw, init()).await;
    ws.send(json!({"type": "subscribe", "id": "x", "payload": "query"}))
        .await;
    assert_eq!(ws.next().await, json!({"close": 4400}));

    let mut ws = Ws::open(&gw, None, "graphql-transport-ws").await;
    ws.subscribe("early", query).await;
    assert_eq!(ws.next().await, json!({"close": 4401}));

    let mut ws = Ws::ready(&gw, init()).await;
    ws.send(json!({"type": "connection_init", "payload": init()}))
        .await;
    assert_eq!(ws.next().await, json!({"close": 4429}));

    let mut ws = Ws::ready(&gw, init()).await;
    ws.subscribe("same", query).await;
    assert_eq!(ws.next().await["type"], "next");
    ws.subscribe("same", query).await;
    assert_eq!(ws.next().await, json!({"close": 4409}));

    // GraphQL errors are operation errors: the connection goes on.
    let mut ws = Ws::ready(&gw, init()).await;
    for (id, bad) in [
        ("syntax", "subscription { inbox(id: 1) { id "),
        ("unknown", "subscription { nope { id } }"),
        (
            "two",
            "subscription { a: inbox(id: 1) { id } b: inbox(id: 2) { id } }",
        ),
        (
            "interval",
            "subscription { inbox(id: 1, everySeconds: \"often\") { id } }",
        ),
    ] {
        ws.subscribe(id, bad).await;
        let message = ws.next().await;
        assert_eq!(message["type"], "error", "{id}: {message}");
        assert_eq!(message["id"], id);
        assert_eq!(
            message["payload"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{id}: {message}"
        );
    }
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(ws.next().await, json!({"type": "pong"}));
    // A query runs once: next, then complete.
    ws.subscribe("q", "{ inbox(id: 1) { id } }").await;
    assert_eq!(
        next_payload(&ws.next().await, "q")["data"]["inbox"]["id"],
        1
    );
    assert_eq!(ws.next().await, json!({"id": "q", "type": "complete"}));

    // Without the subprotocol there is no upgrade; plain queries still work.
    let url = format!("ws://{}/graphql", gw.addr);
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
    let data = gw.data(ADMIN_1, "{ inbox(id: 1) { id } }", json!({})).await;
    assert_eq!(data["inbox"]["id"], 1);
    let mut sse = Sse::subscribe(&gw, ADMIN_1, "{ inbox(id: 1) { id } }").await;
    assert_eq!(sse.next().await.0, "next");
    assert_eq!(sse.next().await, ("complete".to_string(), String::new()));
}

#[tokio::test]
async fn a_changed_row_is_pushed_within_an_interval() {
    if common::skipped_on_liveagent("the write hook of the test upstream is CAP's") {
        return;
    }
    let up = private_upstream("live_change");
    let gw = plain_gateway(up).await;
    let query = "subscription { inbox(id: 1, everySeconds: 1) { id name } }";
    let mut ws = Ws::ready(&gw, json!({"Authorization": format!("Bearer {ADMIN_1}")})).await;
    ws.subscribe("w", query).await;
    let mut sse = Sse::subscribe(&gw, ADMIN_1, query).await;
    let before = next_payload(&ws.next().await, "w");
    assert_eq!(sse.next().await.0, "next");
    up.post_test(
        "update",
        json!({"entity": "Inbox", "id": 1, "set": {"name": "Renamed live"}}),
    )
    .await;
    let started = std::time::Instant::now();
    let after = next_payload(
        &ws.within(Duration::from_secs(3)).await.expect("pushed"),
        "w",
    );
    assert!(
        started.elapsed() <= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_ne!(after, before);
    assert_eq!(after["data"]["inbox"]["name"], "Renamed live");
    let (name, data) = sse.within(Duration::from_secs(2)).await.expect("pushed");
    assert_eq!(name, "next");
    assert_eq!(serde_json::from_str::<Value>(&data).expect("json"), after);
}

#[tokio::test]
async fn sigterm_completes_subscriptions() {
    let up = private_upstream("live_shutdown");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let listen = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_liveagent-graphql"))
        .args(["--upstream", &up.url("1.1"), "--listen", &listen])
        .args(["--live-min-interval-s", "1"])
        .env("LOG", "warn")
        .envs(common::gateway_env())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the gateway");
    let gw = Gateway {
        addr: listen.parse().expect("addr"),
    };
    let mut up_and_running = false;
    for _ in 0..100 {
        if reqwest::get(format!("http://{listen}/healthz"))
            .await
            .is_ok()
        {
            up_and_running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up_and_running);
    let query = "subscription { inbox(id: 1, everySeconds: 1) { id } }";
    let mut ws = Ws::ready(&gw, json!({"Authorization": format!("Bearer {ADMIN_1}")})).await;
    ws.subscribe("w", query).await;
    assert_eq!(ws.next().await["type"], "next");
    let mut sse = Sse::subscribe(&gw, ADMIN_1, query).await;
    assert_eq!(sse.next().await.0, "next");

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    assert_eq!(sse.next().await, ("complete".to_string(), String::new()));
    assert_eq!(ws.next().await, json!({"id": "w", "type": "complete"}));
    assert_eq!(ws.next().await, json!({"close": 1001}));
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success(), "exits cleanly: {status}");
}

#[tokio::test]
async fn upstream_faults_reach_subscribers_and_the_subscription_goes_on() {
    let up = private_upstream("live_faults");
    let gw = gateway_with(Config {
        live_min_interval_s: 1,
        // No cached answer to serve stale instead of the error.
        cache_max_bytes: 0,
        upstream_retries: 0,
        circuit_failure_threshold: 0,
        circuit_failure_rate: 0,
        ..config_for(up, "1.1")
    })
    .await;
    let query = "subscription { inbox(id: 1, everySeconds: 1) { id } }";
    let mut ws = Ws::ready(&gw, json!({"Authorization": format!("Bearer {ADMIN_1}")})).await;
    ws.subscribe("f", query).await;
    let fine = next_payload(&ws.next().await, "f");
    assert_eq!(fine["data"]["inbox"]["id"], 1);
    up.set_fault(json!({"status": 503, "body": "down", "path_contains": "Inbox"}))
        .await;
    let failed = next_payload(&ws.next().await, "f");
    up.clear_faults().await;
    assert_eq!(failed["data"]["inbox"], Value::Null, "{failed}");
    assert_eq!(
        failed["errors"][0]["extensions"]["code"], "UPSTREAM_UNAVAILABLE",
        "{failed}"
    );
    assert_eq!(next_payload(&ws.next().await, "f"), fine);
}

#[tokio::test]
async fn service_mode_api_keys_open_subscriptions_within_their_collections() {
    use liveagent_graphql::config::ApiKeyConfig;
    let up = private_upstream("live_service");
    let key = |name: &str, secret: &str, collections: Option<Vec<String>>| ApiKeyConfig {
        trusted_documents_only: false,
        name: name.into(),
        sha256: liveagent_graphql::server::hash_key(secret),
        collections,
    };
    let gw = gateway_with(Config {
        live_min_interval_s: 1,
        service_upstream_token: Some(ADMIN_1.to_string().into()),
        api_keys: vec![
            key("wall", "wall-key", None),
            key("labels", "labels-key", Some(vec!["Label".into()])),
        ],
        ..config_for(up, "1.1")
    })
    .await;
    let query = "subscription { inbox(id: 1) { id } }";
    let mut wall = Ws::ready(&gw, json!({"x-api-key": "wall-key"})).await;
    wall.subscribe("w", query).await;
    let seen = next_payload(&wall.next().await, "w");
    assert_eq!(seen["data"]["inbox"]["id"], 1, "{seen}");

    let mut sse = Sse::subscribe(&gw, "labels-key", query).await;
    let (_, data) = sse.next().await;
    let refused: Value = serde_json::from_str(&data).expect("json");
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );

    let mut unknown = Ws::open(&gw, None, "graphql-transport-ws").await;
    unknown
        .send(json!({"type": "connection_init", "payload": {"apikey": ADMIN_1}}))
        .await;
    assert_eq!(unknown.next().await, json!({"close": 4403}));
    assert_eq!(metric(&metrics(&gw).await, "gateway_live_cohorts"), 2.0);
}

#[tokio::test]
async fn a_refused_credential_ends_the_subscription_and_is_not_asked_again() {
    let up = private_upstream("live_refused");
    let gw = plain_gateway(up).await;
    let query = "subscription { inbox(id: 1, everySeconds: 1) { id } }";
    let mut ws = Ws::ready(&gw, json!({"Authorization": "Bearer nope"})).await;
    ws.subscribe("r", query).await;
    let message = ws.next().await;
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(message["id"], "r");
    assert_eq!(
        message["payload"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{message}"
    );
    let mut sse = Sse::subscribe(&gw, "nope", query).await;
    let (event, data) = sse.next().await;
    assert_eq!(event, "next");
    let result: Value = serde_json::from_str(&data).expect("json");
    assert_eq!(result["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert_eq!(sse.next().await.0, "complete");
    let since = up.last_seq().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(up.data_requests_since(since).await, Vec::<String>::new());
    // The connection goes on: another operation with a good credential
    // would be a new connection; this one still answers pings.
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(ws.next().await["type"], "pong");
}

#[tokio::test]
async fn the_closing_handshake_goes_both_ways() {
    let up = upstream();
    let gw = plain_gateway(up).await;
    let mut ws = Ws::ready(&gw, json!({"Authorization": format!("Bearer {ADMIN_1}")})).await;
    ws.subscribe("c", INBOXES).await;
    next_payload(&ws.next().await, "c");
    ws.0.close(None).await.expect("close");
    let answer = tokio::time::timeout(Duration::from_secs(5), ws.0.next())
        .await
        .expect("an answer");
    assert!(
        matches!(answer, Some(Ok(Message::Close(_)))),
        "a Close frame answers the client's: {answer:?}"
    );
    // The server's own close (a protocol error) waits for the client's.
    let mut ws = Ws::open(&gw, None, "graphql-transport-ws").await;
    ws.send_text("not json").await;
    assert_eq!(ws.next().await, json!({"close": 4400}));
}

#[tokio::test]
async fn no_cache_in_connection_init_makes_a_cohort_of_its_own() {
    let up = private_upstream("live_no_cache");
    let gw = plain_gateway(up).await;
    let bearer = format!("Bearer {ADMIN_1}");
    let mut cached = Ws::ready(&gw, json!({"Authorization": bearer})).await;
    let mut fresh = Ws::ready(
        &gw,
        json!({"headers": {"Authorization": bearer, "Cache-Control": "no-cache"}}),
    )
    .await;
    cached.subscribe("a", INBOXES).await;
    fresh.subscribe("b", INBOXES).await;
    next_payload(&cached.next().await, "a");
    next_payload(&fresh.next().await, "b");
    let text = metrics(&gw).await;
    assert_eq!(metric(&text, "gateway_live_cohorts"), 2.0, "{text}");
}
