//! GraphQL over SSE, distinct connections mode: `POST /graphql` with
//! `Accept: text/event-stream`. Each result is a `next` event (data: the
//! execution result); the stream ends with `complete`. A request that
//! fails before the stream starts gets the same JSON answer as a query.

use super::heartbeat::HEARTBEAT;
use super::start::{start, Started};
use crate::live::{LiveEvent, Subscription};
use crate::server::pipeline::negotiate::MediaType;
use crate::server::pipeline::{identity, params, respond};
use crate::server::request_log::Trace;
use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, Method, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};
use std::convert::Infallible;
use std::sync::Arc;

const EVENT_STREAM: &str = "text/event-stream";

/// The client accepts an event stream.
pub fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let essence = t.split(';').next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case(EVENT_STREAM)
        })
}

pub async fn post(
    state: AppState,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let trace = Trace::start(&headers);
    let started = async {
        let raw = params::from_post(
            &headers,
            body,
            state.max_body_bytes,
            state.limits.max_nesting,
        )?;
        let service = state.service.as_deref();
        let caller = identity::identify(service, &headers, uri.query(), trace.id.clone());
        start(&state, raw, caller).await
    }
    .await;
    let response = match started {
        // An error before any event: a GraphQL answer with a 4xx status
        // (an event-stream client reads it as a failed request).
        Err(error) => respond::failed(&state.metrics, MediaType::GraphqlResponse, error),
        Ok(Started::Once(result)) => events(stream::iter([result])).into_response(),
        Ok(Started::Live(subscription)) => events(results(subscription)).into_response(),
    };
    trace.finish(Method::POST, response)
}

/// `next` for each result, then `complete`; comment lines in between as
/// heartbeats.
fn events(
    results: impl Stream<Item = Arc<str>> + Send + 'static,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let next = results.map(|r| Ok(Event::default().event("next").data(&*r)));
    let complete = stream::once(async { Ok(Event::default().event("complete").data("")) });
    Sse::new(next.chain(complete)).keep_alive(KeepAlive::new().interval(HEARTBEAT))
}

/// A subscription's results; one that ends early sends its error last.
fn results(subscription: Subscription) -> impl Stream<Item = Arc<str>> + Send + 'static {
    stream::unfold(subscription, |mut subscription| async move {
        let text = match subscription.next().await? {
            LiveEvent::Result(text) => text,
            LiveEvent::Ended(error) => Arc::from(error.payload()),
        };
        Some((text, subscription))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_streams_are_asked_by_accept() {
        let accept = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, v.parse().expect("header"));
            wanted(&h)
        };
        assert!(accept("text/event-stream"));
        assert!(accept("application/json, Text/Event-Stream; charset=utf-8"));
        assert!(!accept("application/json"));
        assert!(!wanted(&HeaderMap::new()));
    }
}
