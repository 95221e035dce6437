//! The live transports at `/graphql`: GraphQL over WebSocket
//! (`graphql-transport-ws`, `ws.rs`) on a GET that asks for an upgrade, and
//! GraphQL over SSE (distinct connections, `sse.rs`) on a POST that accepts
//! `text/event-stream`. Other requests go on to `graphql_http`. Both start
//! operations the same way (`start.rs`) and send execution results as
//! JSON text (`payload.rs`).

mod payload;
mod sse;
mod start;
mod ws;

use super::graphql_http;
use super::AppState;
use crate::live::Evaluate;
use crate::report::Report;
use crate::server::pipeline::execute;
use async_graphql::dynamic::Schema;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use std::sync::Arc;
use std::time::Duration;

/// Heartbeats: a WebSocket ping or an SSE comment line this often keeps
/// idle connections (and the proxies between) open.
const HEARTBEAT: Duration = Duration::from_secs(15);

pub async fn get(
    state: State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(upgrade) => ws::upgrade(state.0, headers, uri, upgrade),
        Err(_) => graphql_http::get(state, headers, uri).await,
    }
}

pub async fn post(
    state: State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if sse::wanted(&headers) {
        sse::post(state.0, headers, uri, body).await
    } else {
        graphql_http::post(state, headers, uri, body).await
    }
}

/// How a cohort evaluates its operation: the execution stage, as a query
/// within `request_timeout_ms`.
pub fn evaluator(schema: Schema, limit: Duration) -> Evaluate {
    Arc::new(move |request, caller| {
        let schema = schema.clone();
        Box::pin(async move {
            let report = Arc::new(Report::default());
            match execute::run(&schema, limit, request, Ok(caller), report).await {
                Ok(response) => payload::of_response(&response),
                Err(error) => payload::of_errors(error.into_errors()),
            }
        })
    })
}
