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
        }
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
            | Self::ScanLimitExceeded(m) => m.clone(),
            Self::PersistedQueryNotFound | Self::PersistedQueryNotSupported => self.to_string(),
        }
    }

    /// Rebuilds an error kept as code and message (see `loaders`).
    pub fn from_code(code: &str, message: &str) -> Self {
        let m = message.to_string();
        match code {
            "UNAUTHENTICATED" => Self::Unauthenticated(m),
            "FORBIDDEN" => Self::Forbidden(m),
            "BAD_USER_INPUT" => Self::BadUserInput(m),
            "UPSTREAM_UNAVAILABLE" => Self::UpstreamUnavailable(m),
            "UPSTREAM_TIMEOUT" => Self::UpstreamTimeout(m),
            "QUERY_TOO_COMPLEX" => Self::QueryTooComplex(m),
            "SCAN_LIMIT_EXCEEDED" => Self::ScanLimitExceeded(m),
            "PERSISTED_QUERY_NOT_FOUND" => Self::PersistedQueryNotFound,
            "PERSISTED_QUERY_NOT_SUPPORTED" => Self::PersistedQueryNotSupported,
            _ => Self::UpstreamInvalidResponse(m),
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
const LIMIT_MESSAGES: [(&str, &str); 2] = [
    ("Query is nested too deep.", "max_depth"),
    ("Query is too complex.", "max_complexity"),
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
                .find(|(message, _)| err.path.is_empty() && err.message == *message);
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
