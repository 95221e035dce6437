//! The translation spec: each directory under `tests/fixtures/` is one case.
//! `case.toml` holds a GraphQL operation and the upstream requests it must
//! send (relative to the service root), each paired with the canned answer
//! the mock gives it; `response.json` is the GraphQL response expected;
//! `metadata.xml`, when present, is the upstream's `$metadata`. The mock
//! answers by URL, never by arrival order, so concurrent requests cannot
//! pass by luck. Adding a case needs no Rust.

mod common;

use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[serde(default = "default_version")]
    version: String,
    query: String,
    /// JSON text.
    #[serde(default)]
    variables: Option<String>,
    #[serde(default)]
    config: Option<toml::Table>,
    /// The requests must arrive in the listed order. Only for cases where
    /// each request waits for the previous answer (next links, retries).
    #[serde(default)]
    ordered: bool,
    /// Every upstream request the operation sends (`$metadata` aside),
    /// each once; a URL listed twice is expected twice and gets its
    /// answers in the listed order.
    #[serde(default, rename = "request")]
    requests: Vec<Exchange>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Exchange {
    url: String,
    #[serde(default = "ok")]
    status: u16,
    body: String,
    #[serde(default = "json_type")]
    content_type: String,
}

fn default_version() -> String {
    "1.1".into()
}

fn ok() -> u16 {
    200
}

fn json_type() -> String {
    "application/json".into()
}

/// The mock upstream: canned answers by URL, and the log of what came.
#[derive(Clone)]
struct Mock {
    prefix: String,
    answers: Arc<Mutex<HashMap<String, VecDeque<Exchange>>>>,
    seen: Arc<Mutex<Vec<String>>>,
    metadata: Option<String>,
}

impl Mock {
    fn new(case: &Case, metadata: Option<String>) -> Mock {
        let mut answers: HashMap<String, VecDeque<Exchange>> = HashMap::new();
        for exchange in &case.requests {
            answers
                .entry(exchange.url.clone())
                .or_default()
                .push_back(exchange.clone());
        }
        Mock {
            prefix: format!("/v{}/odata/", case.version),
            answers: Arc::new(Mutex::new(answers)),
            seen: Arc::default(),
            metadata,
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

async fn mock_handler(State(mock): State<Mock>, uri: Uri) -> impl IntoResponse {
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    let relative = path_and_query
        .strip_prefix(&mock.prefix)
        .unwrap_or(path_and_query);
    if relative == "$metadata" {
        return match &mock.metadata {
            Some(xml) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/xml".to_string())],
                xml.clone(),
            ),
            None => (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain".to_string())],
                String::new(),
            ),
        };
    }
    mock.seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(relative.to_string());
    let next = mock
        .answers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_mut(relative)
        .and_then(VecDeque::pop_front);
    match next {
        Some(answer) => (
            // A status outside 100..=999 cannot be sent; 418 makes it stand out.
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::IM_A_TEAPOT),
            [(header::CONTENT_TYPE, answer.content_type)],
            answer.body,
        ),
        // The case fails on the request diff; this answer only keeps the
        // gateway from waiting.
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "application/json".to_string())],
            r#"{"error":{"code":"500","message":"the fixture has no canned answer for this URL"}}"#
                .to_string(),
        ),
    }
}

async fn run_case(dir: &Path, case: Case) -> Result<(), String> {
    let metadata = read_optional(&dir.join("metadata.xml"))?;
    let expected = read_optional(&dir.join("response.json"))?
        .ok_or("response.json is missing (the GraphQL response expected)")?;
    let expected: Value =
        serde_json::from_str(&expected).map_err(|e| format!("response.json: {e}"))?;
    let mock = Mock::new(&case, metadata);
    let app = axum::Router::new()
        .fallback(mock_handler)
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut table = case.config.clone().unwrap_or_default();
    // Cases were recorded against a complete OData server unless they say.
    // Recorded URLs leave out the one-off capability probes.
    table
        .entry("upstream_dialect")
        .or_insert_with(|| toml::Value::String("odata4".into()));
    table
        .entry("upstream_probes")
        .or_insert(toml::Value::Boolean(false));
    table.insert(
        "upstream".into(),
        toml::Value::String(format!("http://{addr}/v{}/odata", case.version)),
    );
    let config: liveagent_graphql::config::Config =
        toml::from_str(&toml::to_string(&table).map_err(|e| e.to_string())?)
            .map_err(|e| format!("config: {e}"))?;
    let gateway = common::gateway_with(config).await;
    let variables: Value = match &case.variables {
        Some(v) => serde_json::from_str(v).map_err(|e| format!("variables: {e}"))?,
        None => Value::Null,
    };
    let body = gateway
        .query(Some("fixture-token"), &case.query, variables)
        .await;

    let listed: Vec<String> = case.requests.iter().map(|r| r.url.clone()).collect();
    let seen = mock.seen();
    let mut problems = Vec::new();
    if let Some(diff) = request_diff(&listed, &seen) {
        problems.push(diff);
    } else if case.ordered && seen != listed {
        problems.push(format!(
            "upstream requests came in another order:\n{}",
            bulleted(&seen)
        ));
    }
    if body != expected {
        problems.push(format!(
            "response differs\n expected: {}\n      got: {}",
            pretty(&expected),
            pretty(&body)
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Compares the requests as multisets: what was listed but not sent, and
/// what was sent but not listed, each with its count.
fn request_diff(listed: &[String], seen: &[String]) -> Option<String> {
    let mut balance: HashMap<&str, i64> = HashMap::new();
    for url in listed {
        *balance.entry(url).or_default() += 1;
    }
    for url in seen {
        *balance.entry(url).or_default() -= 1;
    }
    let mut missing: Vec<String> = Vec::new();
    let mut unexpected: Vec<String> = Vec::new();
    for (url, n) in balance {
        if n > 0 {
            missing.extend(std::iter::repeat_n(url.to_string(), n as usize));
        } else if n < 0 {
            unexpected.extend(std::iter::repeat_n(url.to_string(), (-n) as usize));
        }
    }
    if missing.is_empty() && unexpected.is_empty() {
        return None;
    }
    missing.sort();
    unexpected.sort();
    Some(format!(
        "upstream requests differ\n listed but not sent:\n{}\n sent but not listed:\n{}\n all sent, in arrival order:\n{}",
        bulleted(&missing),
        bulleted(&unexpected),
        bulleted(seen)
    ))
}

fn bulleted(urls: &[String]) -> String {
    if urls.is_empty() {
        return "   (none)".into();
    }
    urls.iter()
        .map(|u| format!("   - {u}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

fn read_optional(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Runs every case (or those whose directory name contains `$FIXTURE`).
#[tokio::test]
async fn fixtures_translate_as_recorded() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
    let only = std::env::var("FIXTURE").unwrap_or_default();
    let mut dirs: Vec<_> = std::fs::read_dir(root)
        .expect("fixtures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("case.toml").is_file())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 34,
        "expected fixture cases in {}",
        root.display()
    );
    let mut failures = Vec::new();
    let mut ran = 0;
    for dir in &dirs {
        let name = dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.contains(&only) {
            continue;
        }
        let text = std::fs::read_to_string(dir.join("case.toml")).expect("read case.toml");
        let case: Case = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        ran += 1;
        if let Err(e) = run_case(dir, case).await {
            failures.push(format!("── {name}: {e}"));
        }
    }
    assert!(ran > 0, "no fixture case matches FIXTURE={only}");
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}
