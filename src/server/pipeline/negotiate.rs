//! Stage 0: how the answer goes back, before anything else. A GET that
//! asks to upgrade gets a WebSocket (`graphql-transport-ws`); a browser's
//! GET without a query the playground page; a POST whose `Accept` prefers
//! `text/event-stream` over every JSON type it lists (by quality, then by
//! order) an event stream (GraphQL over SSE). A POST that accepts an event
//! stream but prefers JSON gets one for a subscription only, JSON for
//! anything else. Anything else gets one GraphQL response in a media type
//! from `Accept` (a client that accepts neither type gets 406 whatever it
//! sent).

use axum::extract::WebSocketUpgrade;
use axum::http::{header, HeaderMap};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream";

/// How a request to `/graphql` is answered.
pub enum Answer {
    /// GraphQL over WebSocket, on the connection the GET upgrades.
    WebSocket(WebSocketUpgrade),
    /// The GraphiQL page.
    Page,
    /// GraphQL over SSE: the operation's results as events.
    EventStream,
    /// An event stream when the operation is a subscription; else one
    /// response in this media type.
    EventStreamIfSubscription(MediaType),
    /// One GraphQL response in this media type; `None`: the client accepts
    /// neither (406).
    Response(Option<MediaType>),
}

/// A GET: a WebSocket when the request upgrades (`upgrade`: axum found a
/// valid upgrade request), the page for a browser, else a response.
pub fn for_get(
    headers: &HeaderMap,
    query: Option<&str>,
    upgrade: Option<WebSocketUpgrade>,
) -> Answer {
    match upgrade {
        Some(upgrade) => Answer::WebSocket(upgrade),
        None if crate::playground::wants_page(headers, query) => Answer::Page,
        None => Answer::Response(negotiate(headers)),
    }
}

/// A POST: an event stream when `Accept` prefers `text/event-stream` to
/// every JSON type it lists; when it lists it below one, an event stream
/// for a subscription only; else a response.
pub fn for_post(headers: &HeaderMap) -> Answer {
    match event_stream_rank(headers) {
        None => Answer::Response(negotiate(headers)),
        Some(stream) => match negotiate(headers) {
            Some(media) if json_rank(headers).is_some_and(|json| json >= stream) => {
                Answer::EventStreamIfSubscription(media)
            }
            _ => Answer::EventStream,
        },
    }
}

/// How much a client wants a type: its quality, then its place in
/// `Accept` (earlier is more); compared as a whole.
type Rank = (u16, std::cmp::Reverse<usize>);

/// The elements of `Accept`, in order, as (media type, quality).
fn accept_elements(headers: &HeaderMap) -> impl Iterator<Item = (String, f32)> + '_ {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(element)
}

/// One `Accept` element as its media type (lower case) and quality.
fn element(part: &str) -> (String, f32) {
    let mut pieces = part.split(';');
    let media = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
    let q = pieces
        .filter_map(|p| p.trim().strip_prefix("q="))
        .find_map(|q| q.parse::<f32>().ok())
        .unwrap_or(1.0);
    (media, q)
}

/// The best rank among the listed types `wanted` picks (q=0 is a refusal).
fn rank_of(headers: &HeaderMap, wanted: impl Fn(&str) -> bool) -> Option<Rank> {
    accept_elements(headers)
        .enumerate()
        .filter(|(_, (media, q))| *q > 0.0 && wanted(media))
        .map(|(place, (_, q))| {
            let quality = (q.clamp(0.0, 1.0) * 1000.0).round() as u16;
            (quality, std::cmp::Reverse(place))
        })
        .max()
}

fn event_stream_rank(headers: &HeaderMap) -> Option<Rank> {
    rank_of(headers, |media| media == EVENT_STREAM)
}

/// The rank of the JSON types listed by name.
fn json_rank(headers: &HeaderMap) -> Option<Rank> {
    rank_of(headers, |media| media == JSON || media == GRAPHQL_RESPONSE)
}

/// The two media types of GraphQL over HTTP; they differ in the status
/// of a request that fails as a whole (see `RequestError::status`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MediaType {
    Json,
    GraphqlResponse,
}

impl MediaType {
    pub fn content_type(self) -> &'static str {
        match self {
            MediaType::Json => "application/json; charset=utf-8",
            MediaType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
        }
    }
}

/// Picks the response type from `Accept` (no header: `application/json`);
/// `None` when nothing fits.
fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(MediaType::Json);
    };
    let mut best: Option<(f32, MediaType)> = None;
    for (q, kind) in accept.split(',').filter_map(acceptable) {
        // On a tie the newer graphql-response type wins.
        let better = match best {
            None => true,
            Some((bq, bk)) => {
                q > bq || (q == bq && kind == MediaType::GraphqlResponse && bk == MediaType::Json)
            }
        };
        if better {
            best = Some((q, kind));
        }
    }
    best.map(|(_, kind)| kind)
}

/// One `Accept` element as a quality and a type we serve; `None` for other
/// types and for `q=0`.
fn acceptable(part: &str) -> Option<(f32, MediaType)> {
    let (media, q) = element(part);
    let kind = match media.as_str() {
        GRAPHQL_RESPONSE => MediaType::GraphqlResponse,
        JSON | "application/*" | "*/*" => MediaType::Json,
        _ => return None,
    };
    (q > 0.0).then_some((q, kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(v: &str) -> Option<MediaType> {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).expect("header"));
        negotiate(&h)
    }

    #[test]
    fn negotiation_follows_accept() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(MediaType::Json));
        assert_eq!(accept("application/json"), Some(MediaType::Json));
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(
            accept("application/json, application/graphql-response+json;q=0.5"),
            Some(MediaType::Json)
        );
        assert_eq!(accept("*/*"), Some(MediaType::Json));
        assert_eq!(accept("application/*"), Some(MediaType::Json));
        assert_eq!(accept("text/plain"), None);
    }

    #[test]
    fn event_streams_are_asked_by_accept_on_a_post() {
        let post = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, v.parse().expect("header"));
            matches!(for_post(&h), Answer::EventStream)
        };
        assert!(post("text/event-stream"));
        assert!(post("Text/Event-Stream; charset=utf-8, application/json"));
        assert!(post("application/json;q=0.5, text/event-stream"));
        assert!(post("text/event-stream, */*"));
        assert!(!post("application/json"));
        let subscriptions_only = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, v.parse().expect("header"));
            match for_post(&h) {
                Answer::EventStreamIfSubscription(media) => Some(media),
                _ => None,
            }
        };
        // urql's default: JSON for queries (with an ETag), events for
        // subscriptions.
        let urql = "application/graphql-response+json, application/json, text/event-stream, multipart/mixed";
        assert_eq!(subscriptions_only(urql), Some(MediaType::GraphqlResponse));
        assert_eq!(
            subscriptions_only("text/event-stream;q=0.9, application/json"),
            Some(MediaType::Json)
        );
        assert_eq!(subscriptions_only("text/event-stream"), None);
        assert!(matches!(
            for_post(&HeaderMap::new()),
            Answer::Response(Some(MediaType::Json))
        ));
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static(EVENT_STREAM));
        assert!(matches!(for_get(&h, None, None), Answer::Response(None)));
    }

    #[test]
    fn browsers_get_the_page_without_a_query() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static("text/html,*/*"));
        assert!(matches!(for_get(&h, None, None), Answer::Page));
        assert!(matches!(
            for_get(&h, Some("query=%7B+a+%7D"), None),
            Answer::Response(Some(MediaType::Json))
        ));
    }

    #[test]
    fn ties_go_to_graphql_response_and_q0_refuses() {
        assert_eq!(
            accept("application/json, application/graphql-response+json"),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(
            accept("Application/GraphQL-Response+JSON; charset=utf-8"),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(
            accept("application/graphql-response+json;q=0, text/html"),
            None
        );
        assert_eq!(
            accept("application/graphql-response+json;q=0, application/json;q=0.1"),
            Some(MediaType::Json)
        );
    }
}
