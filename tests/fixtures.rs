//! Declarative translation cases: each `tests/fixtures/*.toml` holds a GraphQL
//! operation, the OData URLs it must send (relative to the service root), the
//! canned upstream answers and, optionally, the GraphQL response expected.
//! Adding a case needs no Rust.

mod common;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;
use std::sync::{Arc, Mutex};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[serde(default = "default_version")]
    version: String,
    query: String,
    #[serde(default)]
    variables: Option<String>,
    /// Expected upstream requests, in order (`$metadata` excluded).
    upstream: Vec<String>,
    #[serde(default)]
    responses: Vec<Canned>,
    #[serde(default)]
    expected: Option<String>,
    #[serde(default)]
    config: Option<toml::Table>,
    /// `$metadata` the mock serves (404 without it).
    #[serde(default)]
    metadata: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Canned {
    #[serde(default = "ok")]
    status: u16,
    body: String,
}

fn default_version() -> String {
    "1.1".into()
}

fn ok() -> u16 {
    200
}

#[derive(Clone, Default)]
struct Mock {
    seen: Arc<Mutex<Vec<String>>>,
    responses: Arc<Mutex<Vec<Canned>>>,
    metadata: Option<String>,
}

async fn mock_handler(State(mock): State<Mock>, uri: Uri) -> impl IntoResponse {
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    if path_and_query.contains("$metadata") {
        return match &mock.metadata {
            Some(xml) => (StatusCode::OK, xml.clone()),
            None => (StatusCode::NOT_FOUND, String::new()),
        };
    }
    let relative = path_and_query
        .split_once("/odata/")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_default();
    mock.seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(relative);
    let mut queue = mock.responses.lock().unwrap_or_else(|e| e.into_inner());
    if queue.is_empty() {
        (StatusCode::OK, r#"{"value":[]}"#.to_string())
    } else {
        let next = queue.remove(0);
        (
            StatusCode::from_u16(next.status).unwrap_or(StatusCode::OK),
            next.body,
        )
    }
}

async fn run_case(name: &str, case: Case) -> Result<(), String> {
    let mock = Mock {
        responses: Arc::new(Mutex::new(case.responses.clone())),
        metadata: case.metadata.clone(),
        ..Default::default()
    };
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
    table.insert(
        "upstream".into(),
        toml::Value::String(format!("http://{addr}/v{}/odata", case.version)),
    );
    let config: liveagent_graphql::config::Config =
        toml::from_str(&toml::to_string(&table).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let gateway = common::gateway_with(config).await;
    let variables: Value = match &case.variables {
        Some(v) => serde_json::from_str(v).map_err(|e| format!("variables: {e}"))?,
        None => Value::Null,
    };
    let body = gateway
        .query(Some("fixture-token"), &case.query, variables)
        .await;
    let seen = mock.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if seen != case.upstream {
        return Err(format!(
            "{name}: upstream requests differ\n expected: {:#?}\n      got: {:#?}\n response: {body}",
            case.upstream, seen
        ));
    }
    if let Some(expected) = &case.expected {
        let expected: Value =
            serde_json::from_str(expected).map_err(|e| format!("{name}: expected: {e}"))?;
        if body != expected {
            return Err(format!(
                "{name}: response differs\n expected: {expected}\n      got: {body}"
            ));
        }
    }
    Ok(())
}

#[tokio::test]
async fn fixtures_translate_as_recorded() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("fixtures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 5, "expected fixture cases in {dir}");
    let mut failures = Vec::new();
    for path in &paths {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(path).expect("read fixture");
        let case: Case = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Err(e) = run_case(&name, case).await {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
