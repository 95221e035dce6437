//! GraphQL over HTTP: the `/graphql` handlers. Each request goes through
//! the stages of `pipeline/` in order, as `serve` reads.

use super::pipeline::error::RequestError;
use super::pipeline::identity::ClientKey;
use super::pipeline::negotiate::{negotiate, MediaType};
use super::pipeline::params::{self, Params, RawParams};
use super::pipeline::reuse::{Key, ResponseCache};
use super::pipeline::{document, execute, identity, respond};
use super::request_log::{OperationName, Trace};
use super::AppState;
use crate::error::GatewayError;
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
        let caller = identity::identify(service, headers, uri.query(), request_id, explain);
        if let Some(limits) = &state.rate_limits {
            limits.check(&caller)?;
        }
        let reuse = reusable(state, &caller, &params);
        if let (Some((responses, key)), Ok(caller)) = (&reuse, &caller) {
            if !caller.no_cache {
                if let Some(hit) = responses.get(key).await {
                    state.metrics.response_cache_hits.inc();
                    return Ok(hit);
                }
            }
            state.metrics.response_cache_misses.inc();
        }
        let freshness = caller.as_ref().ok().map(|c| c.freshness.clone());
        let request = document::prepare(params, &state.documents, &state.limits, &method).await?;
        let response = execute::run(&state.schema, state.request_timeout, request, caller).await?;
        let rendered = respond::render(&response);
        let clean = response.errors.is_empty() && !response.extensions.contains_key("stale");
        if let (Some((responses, key)), Some(until), true) =
            (reuse, freshness.and_then(|f| f.until()), clean)
        {
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
    params: &Params,
) -> Option<(&'a ResponseCache, Key)> {
    let responses = state.responses.as_deref()?;
    let caller = caller.as_ref().ok().filter(|c| c.explain.is_none())?;
    let client = ClientKey::of(caller, &state.gateway.upstream);
    Some((responses, Key::new(client, params)))
}
