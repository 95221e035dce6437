//! GraphQL over HTTP: the `/graphql` handlers. The negotiate stage decides
//! how the answer goes back: a WebSocket or an event stream goes to the
//! live transports (`live/`), a browser gets the playground page, and any
//! other request goes through the stages of `pipeline/` in order, as
//! `serve` reads.

use super::live::{sse, ws};
use super::pipeline::error::RequestError;
use super::pipeline::identity::ClientKey;
use super::pipeline::negotiate::{self, Answer, MediaType};
use super::pipeline::params::{self, Params, RawParams};
use super::pipeline::reuse::{Key, ResponseCache};
use super::pipeline::{document, execute, identity, respond};
use super::request_log::{OperationName, Trace};
use super::state::AppState;
use crate::error::GatewayError;
use crate::report::Report;
use crate::telemetry;
use crate::upstream::Caller;
use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let answer = negotiate::for_get(&headers, uri.query(), upgrade.ok());
    answer_as(answer, state, headers, uri, Sent::QueryString).await
}

pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let answer = negotiate::for_post(&headers);
    answer_as(answer, state, headers, uri, Sent::Body(body)).await
}

/// Where the client put the GraphQL parameters.
enum Sent {
    QueryString,
    Body(Result<Bytes, BytesRejection>),
}

impl Sent {
    fn method(&self) -> Method {
        match self {
            Sent::QueryString => Method::GET,
            Sent::Body(_) => Method::POST,
        }
    }

    fn read(
        self,
        state: &AppState,
        headers: &HeaderMap,
        uri: &Uri,
    ) -> Result<RawParams, RequestError> {
        let max_nesting = state.limits.max_nesting;
        match self {
            Sent::QueryString => params::from_get(uri.query(), max_nesting),
            Sent::Body(body) => params::from_post(headers, body, state.max_body_bytes, max_nesting),
        }
    }
}

async fn answer_as(
    answer: Answer,
    state: AppState,
    headers: HeaderMap,
    uri: Uri,
    sent: Sent,
) -> Response {
    let method = sent.method();
    match answer {
        Answer::WebSocket(upgrade) => ws::upgrade(state, headers, uri, upgrade),
        Answer::Page => crate::playground::page().await.into_response(),
        Answer::EventStream => {
            let trace = Trace::start(&headers);
            let raw = sent.read(&state, &headers, &uri);
            let response = sse::stream(&state, &headers, &uri, trace.id.clone(), raw).await;
            trace.finish(method, response)
        }
        Answer::EventStreamIfSubscription(media) => {
            let trace = Trace::start(&headers);
            let raw = sent.read(&state, &headers, &uri);
            let id = trace.id.clone();
            let response = if subscribes(&state, &raw).await {
                sse::stream(&state, &headers, &uri, id, raw).await
            } else {
                let serving = serve(&state, Some(media), &method, &headers, &uri, id, || raw);
                telemetry::within(trace.span.context(), serving).await
            };
            trace.finish(method, response)
        }
        Answer::Response(media) => {
            let trace = Trace::start(&headers);
            let read = || sent.read(&state, &headers, &uri);
            let id = trace.id.clone();
            let serving = serve(&state, media, &method, &headers, &uri, id, read);
            let response = telemetry::within(trace.span.context(), serving).await;
            trace.finish(method, response)
        }
    }
}

/// Whether the parameters run a subscription: its text, or the trusted
/// document its hash names (a hash only known as an automatic persisted
/// query is taken as not: it gets JSON).
async fn subscribes(state: &AppState, raw: &Result<RawParams, RequestError>) -> bool {
    let Ok(raw) = raw else { return false };
    let trusted = raw
        .document_hash()
        .and_then(|hash| state.access.current().trusted.get(hash));
    let Some(query) = raw.query_text().or(trusted.as_deref()) else {
        return false;
    };
    let operation = raw.operation_name();
    let runs = state
        .documents
        .operation_type(query, operation.as_deref())
        .await;
    runs == Some(OperationType::Subscription)
}

/// One GraphQL request, stage by stage; `read` gets its parameters.
async fn serve(
    state: &AppState,
    media: Option<MediaType>,
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
    request_id: Arc<str>,
    read: impl FnOnce() -> Result<RawParams, RequestError>,
) -> Response {
    let Some(media) = media else {
        return respond::failed(&state.metrics, MediaType::Json, RequestError::NotAcceptable);
    };
    let raw = read();
    let operation = raw.as_ref().ok().and_then(RawParams::operation_name);
    let explain = raw.as_ref().is_ok_and(RawParams::asks_explain);
    let outcome = async {
        let access = state.access.current();
        let params = params::resolve(raw?, &state.persisted, &access.trusted).await?;
        if telemetry::enabled() {
            name_span(state, &params).await;
        }
        let service = access.service.as_ref();
        let caller = identity::identify(service, headers, uri.query(), request_id);
        if let Ok(caller) = &caller {
            access
                .check(caller, &params.query)
                .map_err(RequestError::Refused)?;
        }
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
                    telemetry::response_cache_hit();
                    return Ok(hit);
                }
            }
            state.metrics.response_cache_misses.inc();
        }
        let request = document::prepare(params, &state.documents, &state.limits, method).await?;
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
        Ok(rendered) => {
            let compression = state.compression;
            respond::executed(&state.metrics, media, &rendered, headers, compression)
        }
        Err(error) => respond::failed(&state.metrics, media, error),
    };
    if let Some(name) = operation {
        response.extensions_mut().insert(OperationName(name));
    }
    response
}

/// Names the request's span after its operation (`query` when the
/// document does not parse: the request fails on it).
async fn name_span(state: &AppState, params: &Params) {
    let requested = params.operation_name.as_deref();
    if telemetry::known_operation(&params.query, requested) {
        return;
    }
    let runs = state.documents.operation(&params.query, requested).await;
    let (kind, name) = match runs {
        Some((OperationType::Mutation, name)) => ("mutation", name),
        Some((OperationType::Subscription, name)) => ("subscription", name),
        Some((OperationType::Query, name)) => ("query", name),
        None => ("query", None),
    };
    telemetry::operation(&params.query, requested, kind, name.as_deref());
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
