//! GraphQL over HTTP: the `/graphql` handlers. Each request goes through
//! the stages of `pipeline/` in order, as `serve` reads.

use super::pipeline::error::RequestError;
use super::pipeline::negotiate::{negotiate, MediaType};
use super::pipeline::params::{self, RawParams};
use super::pipeline::{document, execute, identity, respond};
use super::request_log::{OperationName, Trace};
use super::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let trace = Trace::start(&headers);
    let read = || {
        params::from_post(
            &headers,
            body,
            state.max_body_bytes,
            state.limits.max_nesting,
        )
    };
    let response = serve(&state, Method::POST, &headers, &uri, trace.id.clone(), read).await;
    trace.finish(Method::POST, response)
}

pub async fn get(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    if crate::playground::wants_page(&headers, uri.query()) {
        return crate::playground::page().await.into_response();
    }
    let trace = Trace::start(&headers);
    let read = || params::from_get(uri.query(), state.limits.max_nesting);
    let response = serve(&state, Method::GET, &headers, &uri, trace.id.clone(), read).await;
    trace.finish(Method::GET, response)
}

/// One GraphQL request, stage by stage; `read` gets its parameters.
async fn serve(
    state: &AppState,
    method: Method,
    headers: &HeaderMap,
    uri: &Uri,
    request_id: Arc<str>,
    read: impl FnOnce() -> Result<RawParams, RequestError>,
) -> Response {
    let Some(media) = negotiate(headers) else {
        return respond::failed(&state.metrics, MediaType::Json, RequestError::NotAcceptable);
    };
    let raw = read();
    let operation = raw.as_ref().ok().and_then(RawParams::operation_name);
    let explain = raw.as_ref().is_ok_and(RawParams::asks_explain);
    let outcome = async {
        let params = params::resolve(raw?, &state.persisted).await?;
        let service = state.service.as_deref();
        let caller = identity::identify(service, headers, uri.query(), request_id, explain);
        if let Some(limits) = &state.rate_limits {
            limits.check(&caller)?;
        }
        let request = document::prepare(params, &state.limits, &method)?;
        execute::run(&state.schema, state.request_timeout, request, caller).await
    }
    .await;
    let mut response = respond::respond(&state.metrics, media, outcome);
    if let Some(name) = operation {
        response.extensions_mut().insert(OperationName(name));
    }
    response
}
