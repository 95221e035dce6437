//! GraphQL over SSE, distinct connections mode: `POST /graphql` with
//! `Accept: text/event-stream`. Each result is a `next` event (data: the
//! execution result); the stream ends with `complete`. A request that
//! fails before the stream starts gets the same JSON answer as a query.

use super::heartbeat::HEARTBEAT;
use super::start::{start, Started};
use crate::live::{LiveEvent, Subscription};
use crate::server::pipeline::error::RequestError;
use crate::server::pipeline::negotiate::MediaType;
use crate::server::pipeline::params::RawParams;
use crate::server::pipeline::{identity, respond};
use crate::server::state::AppState;
use axum::http::{HeaderMap, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};
use std::convert::Infallible;
use std::sync::Arc;

/// The operation `raw` holds, answered as an event stream.
pub async fn stream(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    request_id: Arc<str>,
    raw: Result<RawParams, RequestError>,
) -> Response {
    let started = async {
        let raw = raw?;
        let access = state.access.current();
        let service = access.service.as_ref();
        let caller = identity::identify(service, headers, uri.query(), request_id);
        start(state, raw, caller).await
    }
    .await;
    match started {
        // An error before any event: a GraphQL answer with a 4xx status
        // (an event-stream client reads it as a failed request).
        Err(error) => respond::failed(&state.metrics, MediaType::GraphqlResponse, error),
        Ok(Started::Once(result)) => events(stream::iter([result])).into_response(),
        Ok(Started::Live(subscription)) => events(results(subscription)).into_response(),
    }
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

/// A subscription's results; one that ends early sends its error last
/// (a refused credential: the result that carries it).
fn results(subscription: Subscription) -> impl Stream<Item = Arc<str>> + Send + 'static {
    stream::unfold(subscription, |mut subscription| async move {
        let text = match subscription.next().await? {
            LiveEvent::Result(text) | LiveEvent::Refused(text) => text,
            LiveEvent::Ended(error) => Arc::from(error.payload()),
        };
        Some((text, subscription))
    })
}
