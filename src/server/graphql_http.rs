//! GraphQL over HTTP: the `/graphql` handlers. Each request goes through
//! the stages of `pipeline/` in order, as `serve` reads.

use super::pipeline::error::RequestError;
use super::pipeline::identity::ClientKey;
use super::pipeline::negotiate::{negotiate, MediaType};
use super::pipeline::params::{self, Params, RawParams};
use super::pipeline::reuse::{Key, ResponseCache};
use super::pipeline::{document, execute, identity, respond};
use super::request_log::{OperationName, Trace};
use super::state::AppState;
use crate::error::GatewayError;
use crate::report::Report;
use crate::upstream::Caller;
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
        let caller = identity::identify(service, headers, uri.query(), request_id);
        if let Some(limits) = &state.rate_limits {
            limits.check(&caller)?;
        }
        // Only a request that runs can show its plan.
        let explain = caller.is_ok() && identity::wants_explain(headers, explain);
        let report = Arc::new(Report::new(explain));
        let reuse = reusable(state, &caller, explain, &params);
        if let (Some((responses, key)), Ok(caller)) = (&reuse, &caller) {
            if !caller.no_cache {
                if let Some(hit) = responses.get(key).await {
                    state.metrics.response_cache_hits.inc();
                    return Ok(hit);
                }
            }
            state.metrics.response_cache_misses.inc();
        }
        let request = document::prepare(params, &state.documents, &state.limits, &method).await?;
        let limit = state.request_timeout;
        let response = execute::run(&state.schema, limit, request, caller, report.clone()).await?;
        let rendered = respond::render(&response);
        let clean = response.errors.is_empty() && !report.is_stale();
        if let (Some((responses, key)), Some(until), true) = (reuse, report.freshness(), clean) {
            responses.put(key, &rendered, until).await;
        }
        Ok(rendered)
    }
    .await;
    let mut response = match outcome {
        Ok(rendered) => respond::executed(&state.metrics, media, &rendered, headers),
        Err(error) => respond::failed(&state.metrics, media, error),
    };
    if let Some(name) = operation {
        response.extensions_mut().insert(OperationName(name));
    }
    response
}

/// The response cache and this request's key in it, when its answer may
/// be reused: a known client that did not ask to see its upstream requests.
fn reusable<'a>(
    state: &'a AppState,
    caller: &Result<Caller, GatewayError>,
    explain: bool,
    params: &Params,
) -> Option<(&'a ResponseCache, Key)> {
    let responses = state.responses.as_deref()?;
    let caller = caller.as_ref().ok().filter(|_| !explain)?;
    let client = ClientKey::of(caller, &state.gateway.upstream);
    Some((responses, Key::new(client, params)))
}
