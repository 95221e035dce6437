//! Request ids and the one log line per GraphQL request. The id comes from
//! the client's `x-request-id` when it is short and printable, else it is
//! drawn at random; it is returned in the response's `x-request-id` and
//! sent upstream with every request of the operation. The log line holds
//! the method, operation name, status, duration and error codes: never the
//! query, its variables or a credential.

use crate::telemetry::ServerSpan;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::Response;
use ring::rand::SecureRandom;
use std::sync::Arc;
use std::time::Instant;

pub const HEADER: &str = "x-request-id";

/// Longest client-chosen id kept.
const MAX_LEN: usize = 128;

/// Error codes of a response, attached to it for the log line.
#[derive(Debug, Clone, Default)]
pub struct ErrorCodes(pub Vec<String>);

/// The operation name the client sent, attached to the response.
#[derive(Debug, Clone)]
pub struct OperationName(pub String);

pub struct Trace {
    pub id: Arc<str>,
    started: Instant,
    /// The request's OpenTelemetry span (inert when traces are off).
    pub span: ServerSpan,
}

impl Trace {
    pub fn start(headers: &HeaderMap) -> Trace {
        let id = headers
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| valid(v))
            .map(Arc::from)
            .unwrap_or_else(generate);
        Trace {
            id,
            started: Instant::now(),
            span: ServerSpan::start(headers),
        }
    }

    /// Adds the `x-request-id` header and logs the request.
    pub fn finish(self, method: Method, mut response: Response) -> Response {
        if let Ok(value) = HeaderValue::from_str(&self.id) {
            response.headers_mut().insert(HEADER, value);
        }
        let codes = response
            .extensions()
            .get::<ErrorCodes>()
            .map(|c| c.0.join(","))
            .unwrap_or_default();
        let operation = response
            .extensions()
            .get::<OperationName>()
            .map(|o| loggable_name(&o.0))
            .unwrap_or("-");
        let status = response.status().as_u16();
        let trace_id = self.span.trace_id();
        self.span.finish(method.as_str(), status);
        tracing::info!(
            target: "liveagent_graphql::request",
            request_id = %self.id,
            trace_id = trace_id.map(tracing::field::display),
            method = %method,
            operation,
            status,
            duration_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            errors = %codes,
            "graphql request"
        );
        response
    }
}

/// A client id is kept when it is 1 to 128 printable ASCII characters
/// without spaces: safe in a header and in a log line.
fn valid(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// 16 random bytes as 32 hex digits.
fn generate() -> Arc<str> {
    let mut bytes = [0u8; 16];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        // No system randomness: still unique enough within this process.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = nanos.to_be_bytes();
    }
    Arc::from(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The operation name when it is a GraphQL name (anything else is client
/// text that does not belong in a log line).
fn loggable_name(name: &str) -> &str {
    let mut chars = name.chars();
    let ok = name.len() <= 100
        && chars
            .next()
            .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
    if ok {
        name
    } else {
        "(not a name)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(id: &str) -> Arc<str> {
        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_str(id).expect("header"));
        Trace::start(&h).id
    }

    #[test]
    fn client_ids_are_kept_when_short_and_printable() {
        assert_eq!(&*with("abc-123_X.y:z"), "abc-123_X.y:z");
        let long = "a".repeat(129);
        assert_ne!(&*with(&long), long.as_str());
        assert_ne!(&*with("with space"), "with space");
        assert_ne!(&*with(""), "");
    }

    #[test]
    fn generated_ids_are_32_hex_digits_and_differ() {
        let a = Trace::start(&HeaderMap::new()).id;
        let b = Trace::start(&HeaderMap::new()).id;
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn only_graphql_names_are_logged() {
        assert_eq!(loggable_name("Dashboard_1"), "Dashboard_1");
        assert_eq!(loggable_name("a\nb"), "(not a name)");
        assert_eq!(loggable_name("1a"), "(not a name)");
    }
}
