//! Typed errors and their GraphQL codes, mapped in this one place.

use async_graphql::ErrorExtensions;

/// An error a client may see. Messages never hold a credential.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum GatewayError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadUserInput(String),
    #[error("upstream unavailable: {0}")]
    UpstreamUnavailable(String),
    #[error("{0}")]
    UpstreamTimeout(String),
    #[error("invalid upstream response: {0}")]
    UpstreamInvalidResponse(String),
    #[error("{0}")]
    QueryTooComplex(String),
    #[error("{0}")]
    ScanLimitExceeded(String),
    /// Automatic persisted queries: the hash is not (or no longer) known;
    /// the client sends the query with it again (Apollo's protocol).
    #[error("PersistedQueryNotFound")]
    PersistedQueryNotFound,
    /// Automatic persisted queries are turned off (`apq_cache_bytes = 0`).
    #[error("PersistedQueryNotSupported")]
    PersistedQueryNotSupported,
    /// The upstream answered with an HTTP error status; the code follows
    /// from the status (docs/errors.md), which stays readable as data.
    #[error("{}", upstream_status_display(*.status, .message))]
    UpstreamStatus { status: u16, message: String },
    /// A fault of the gateway itself. Clients see a generic message; the
    /// detail goes to the log.
    #[error("internal error")]
    Internal(String),
}

fn upstream_status_display(status: u16, message: &str) -> String {
    match status_code(status) {
        "UPSTREAM_UNAVAILABLE" => format!("upstream unavailable: {message}"),
        "UPSTREAM_INVALID_RESPONSE" => format!("invalid upstream response: {message}"),
        _ => message.to_string(),
    }
}

/// The code of an upstream HTTP error status.
fn status_code(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "FORBIDDEN",
        400 | 405 | 406 | 413 | 414 | 422 => "BAD_USER_INPUT",
        429 | 500..=599 => "UPSTREAM_UNAVAILABLE",
        _ => "UPSTREAM_INVALID_RESPONSE",
    }
}

impl GatewayError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::BadUserInput(_) => "BAD_USER_INPUT",
            Self::UpstreamUnavailable(_) => "UPSTREAM_UNAVAILABLE",
            Self::UpstreamTimeout(_) => "UPSTREAM_TIMEOUT",
            Self::UpstreamInvalidResponse(_) => "UPSTREAM_INVALID_RESPONSE",
            Self::QueryTooComplex(_) => "QUERY_TOO_COMPLEX",
            Self::ScanLimitExceeded(_) => "SCAN_LIMIT_EXCEEDED",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::PersistedQueryNotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            Self::UpstreamStatus { status, .. } => status_code(*status),
            Self::Internal(_) => INTERNAL_ERROR_CODE,
        }
    }

    /// The upstream's HTTP status, when the error is an upstream answer.
    pub fn upstream_status(&self) -> Option<u16> {
        match self {
            Self::UpstreamStatus { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A fault that may pass (5xx, 429, timeout, connection): worth a
    /// stale answer or another try later.
    pub fn is_transient(&self) -> bool {
        matches!(self.code(), "UPSTREAM_UNAVAILABLE" | "UPSTREAM_TIMEOUT")
    }

    /// The message without the prefix `Display` adds.
    pub fn message(&self) -> String {
        match self {
            Self::Unauthenticated(m)
            | Self::Forbidden(m)
            | Self::BadUserInput(m)
            | Self::UpstreamUnavailable(m)
            | Self::UpstreamTimeout(m)
            | Self::UpstreamInvalidResponse(m)
            | Self::QueryTooComplex(m)
            | Self::ScanLimitExceeded(m)
            | Self::UpstreamStatus { message: m, .. } => m.clone(),
            Self::PersistedQueryNotFound | Self::PersistedQueryNotSupported | Self::Internal(_) => {
                self.to_string()
            }
        }
    }

    pub fn timeout(ms: u64) -> Self {
        Self::UpstreamTimeout(format!("upstream did not answer within {ms} ms"))
    }

    pub fn bad_input(msg: impl Into<String>) -> Self {
        Self::BadUserInput(msg.into())
    }
}

impl GatewayError {
    /// The GraphQL error with its code. Resolvers convert explicitly: `?`
    /// would pick async-graphql's blanket `From<Display>` and drop the code.
    pub fn into_graphql(self) -> async_graphql::Error {
        if let Self::Internal(detail) = &self {
            tracing::error!(detail = %detail, "internal error");
        }
        let code = self.code();
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| ext.set("code", code))
    }
}

/// Code for errors raised by async-graphql itself: request errors (parse,
/// validation, variables) have no path; anything else is our own fault.
pub const REQUEST_ERROR_CODE: &str = "BAD_USER_INPUT";
pub const INTERNAL_ERROR_CODE: &str = "INTERNAL_SERVER_ERROR";

/// async-graphql's own messages for `limit_depth` and `limit_complexity`,
/// and the setting each comes from.
/// Limit errors async-graphql reports, by the start of their message.
const LIMIT_MESSAGES: [(&str, &str); 3] = [
    ("Query is nested too deep.", "max_depth"),
    ("Query is too complex.", "max_complexity"),
    (
        "The recursion depth of the query cannot be greater than",
        "max_nesting",
    ),
];

/// Gives every error of a response an `extensions.code`: depth and
/// complexity limits become QUERY_TOO_COMPLEX naming their setting, other
/// request errors BAD_USER_INPUT, anything else INTERNAL_SERVER_ERROR.
pub fn ensure_codes(errors: &mut [async_graphql::ServerError]) {
    for err in errors {
        let has_code = err
            .extensions
            .as_ref()
            .is_some_and(|ext| ext.get("code").is_some());
        if !has_code {
            let limit = LIMIT_MESSAGES
                .iter()
                .find(|(message, _)| err.path.is_empty() && err.message.starts_with(message));
            let code = if let Some((_, key)) = limit {
                err.message = format!("{} (the limit is the `{key}` setting)", err.message);
                "QUERY_TOO_COMPLEX"
            } else if err.path.is_empty() {
                REQUEST_ERROR_CODE
            } else {
                INTERNAL_ERROR_CODE
            };
            err.extensions
                .get_or_insert_with(Default::default)
                .set("code", code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_code_in_graphql_extensions() {
        let err = GatewayError::timeout(30).into_graphql();
        let ext = err.extensions.expect("extensions");
        assert_eq!(
            ext.get("code"),
            Some(&async_graphql::Value::from("UPSTREAM_TIMEOUT"))
        );
    }

    #[test]
    fn upstream_statuses_keep_their_number_and_map_to_codes() {
        let e = |status| GatewayError::UpstreamStatus {
            status,
            message: format!("upstream answered {status}"),
        };
        assert_eq!(e(401).code(), "UNAUTHENTICATED");
        assert_eq!(e(403).code(), "FORBIDDEN");
        assert_eq!(e(400).code(), "BAD_USER_INPUT");
        assert_eq!(e(503).code(), "UPSTREAM_UNAVAILABLE");
        assert!(e(503).is_transient() && !e(400).is_transient());
        assert_eq!(e(501).upstream_status(), Some(501));
        assert_eq!(e(404).code(), "UPSTREAM_INVALID_RESPONSE");
        assert_eq!(
            e(502).to_string(),
            "upstream unavailable: upstream answered 502"
        );
    }

    #[test]
    fn internal_faults_hide_their_detail() {
        let e = GatewayError::Internal("no upstream is configured".into());
        assert_eq!(e.code(), "INTERNAL_SERVER_ERROR");
        assert_eq!(e.clone().into_graphql().message, "internal error");
    }

    #[test]
    fn depth_and_complexity_errors_are_query_too_complex() {
        let code = |e: &async_graphql::ServerError| {
            e.extensions
                .as_ref()
                .and_then(|x| x.get("code").cloned())
                .unwrap_or_default()
        };
        let mut errors = vec![
            async_graphql::ServerError::new("Query is nested too deep.", None),
            async_graphql::ServerError::new("Unknown field", None),
        ];
        ensure_codes(&mut errors);
        assert_eq!(
            code(&errors[0]),
            async_graphql::Value::from("QUERY_TOO_COMPLEX")
        );
        assert!(errors[0].message.contains("max_depth"));
        assert_eq!(
            code(&errors[1]),
            async_graphql::Value::from("BAD_USER_INPUT")
        );
    }
}
