//! The live transports at `/graphql`: GraphQL over WebSocket (`graphql-transport-ws`, `ws.rs`) on a GET that
//! asks for an upgrade, and GraphQL over SSE (distinct connections,
//! `sse.rs`) on a POST that accepts `text/event-stream`. Other requests go
//! on to `graphql_http`. Both start
//! operations the same way (`start.rs`), send execution results as JSON
//! text (`payload.rs`) and keep idle connections open (`heartbeat.rs`);
//! `evaluate.rs` is how a cohort evaluates its operation.

mod evaluate;
mod heartbeat;
mod payload;
mod sse;
mod start;
mod ws;

pub use evaluate::evaluator;

use super::graphql_http;
use super::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;

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
