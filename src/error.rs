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

/// Gives every error of a response an `extensions.code`.
pub fn ensure_codes(errors: &mut [async_graphql::ServerError]) {
    for err in errors {
        let has_code = err
            .extensions
            .as_ref()
            .is_some_and(|ext| ext.get("code").is_some());
        if !has_code {
            let code = if err.path.is_empty() {
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
}
