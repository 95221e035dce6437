//! Stage 0: the response's media type, from `Accept`, before anything
//! else (a client that accepts neither type gets 406 whatever it sent).

use axum::http::{header, HeaderMap};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

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
pub fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
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
    let mut pieces = part.split(';');
    let media = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
    let q = pieces
        .filter_map(|p| p.trim().strip_prefix("q="))
        .find_map(|q| q.parse::<f32>().ok())
        .unwrap_or(1.0);
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
