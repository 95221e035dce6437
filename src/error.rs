//! Typed errors and their GraphQL codes, mapped in this one place.

use async_graphql::ErrorExtensions;

/// Every `extensions.code` the gateway sends. The names are derived from
/// the variants, so a code is data to match on, never a string to compare.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::Display, strum::EnumIter,
)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    BadUserInput,
    /// Not a well-formed GraphQL-over-HTTP request.
    BadRequest,
    UpstreamUnavailable,
    UpstreamTimeout,
    UpstreamInvalidResponse,
    QueryTooComplex,
    ScanLimitExceeded,
    RateLimited,
    TooManySubscriptions,
    SubscriberTooSlow,
    PersistedQueryNotFound,
    PersistedQueryNotSupported,
    DocumentNotTrusted,
    InternalServerError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// An error a client may see. Messages never hold a credential. Each
/// variant has one code; an upstream HTTP error status becomes one of them
/// in one place (`GatewayError::from_upstream_status`; docs/errors.md).
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
    /// The API key runs only trusted documents and this is not one.
    #[error("{0}")]
    DocumentNotTrusted(String),
    /// A fault of the gateway itself. Clients see a generic message; the
    /// detail goes to the log.
    #[error("internal error")]
    Internal(String),
}

impl GatewayError {
    pub fn kind(&self) -> ErrorCode {
        match self {
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::BadUserInput(_) => ErrorCode::BadUserInput,
            Self::UpstreamUnavailable(_) => ErrorCode::UpstreamUnavailable,
            Self::UpstreamTimeout(_) => ErrorCode::UpstreamTimeout,
            Self::UpstreamInvalidResponse(_) => ErrorCode::UpstreamInvalidResponse,
            Self::QueryTooComplex(_) => ErrorCode::QueryTooComplex,
            Self::ScanLimitExceeded(_) => ErrorCode::ScanLimitExceeded,
            Self::PersistedQueryNotFound => ErrorCode::PersistedQueryNotFound,
            Self::PersistedQueryNotSupported => ErrorCode::PersistedQueryNotSupported,
            Self::DocumentNotTrusted(_) => ErrorCode::DocumentNotTrusted,
            Self::Internal(_) => ErrorCode::InternalServerError,
        }
    }

    /// The code as `extensions.code` spells it.
    pub fn code(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The error an upstream HTTP error status stands for (docs/errors.md):
    /// 401 and 403 refuse the credential, other 4xx the request,
    /// 429 and 5xx are the upstream's own trouble; anything else (a 404 on
    /// a collection, a 3xx) is an answer the gateway cannot use.
    pub fn from_upstream_status(status: u16, message: String) -> GatewayError {
        match status {
            401 => Self::Unauthenticated(message),
            403 => Self::Forbidden(message),
            400 | 405 | 406 | 413 | 414 | 422 => Self::BadUserInput(message),
            429 | 500..=599 => Self::UpstreamUnavailable(message),
            _ => Self::UpstreamInvalidResponse(message),
        }
    }

    /// A fault that may pass (5xx, 429, timeout, connection): worth a
    /// stale answer or another try later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::UpstreamUnavailable(_) | Self::UpstreamTimeout(_)
        )
    }

    /// The credential was refused (upstream 401 or 403, or none given).
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Unauthenticated(_) | Self::Forbidden(_))
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
            | Self::DocumentNotTrusted(m) => m.clone(),
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

/// Gives every error of a response an `extensions.code`: async-graphql's
/// own request errors (parse, validation, variables), which have no path,
/// BAD_USER_INPUT; anything else, an error of the gateway itself,
/// INTERNAL_SERVER_ERROR. Limits are refused before validation with their
/// own code (`server/pipeline/limits.rs`).
pub fn ensure_codes(errors: &mut [async_graphql::ServerError]) {
    for err in errors {
        let has_code = err
            .extensions
            .as_ref()
            .is_some_and(|ext| ext.get("code").is_some());
        if !has_code {
            let code = if err.path.is_empty() {
                ErrorCode::BadUserInput
            } else {
                ErrorCode::InternalServerError
            };
            err.extensions
                .get_or_insert_with(Default::default)
                .set("code", code.as_str());
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
    fn upstream_statuses_map_to_one_variant_each() {
        let e = |status| {
            GatewayError::from_upstream_status(status, format!("upstream answered {status}"))
        };
        assert_eq!(e(401).kind(), ErrorCode::Unauthenticated);
        assert_eq!(e(403).kind(), ErrorCode::Forbidden);
        assert_eq!(e(400).kind(), ErrorCode::BadUserInput);
        assert_eq!(e(503).kind(), ErrorCode::UpstreamUnavailable);
        assert!(e(503).is_transient() && !e(400).is_transient());
        assert!(e(401).is_refusal() && e(403).is_refusal() && !e(400).is_refusal());
        assert_eq!(e(404).kind(), ErrorCode::UpstreamInvalidResponse);
        assert_eq!(
            e(502).to_string(),
            "upstream unavailable: upstream answered 502"
        );
    }

    #[test]
    fn code_names_are_derived_from_the_variants() {
        use strum::IntoEnumIterator;
        assert_eq!(
            ErrorCode::UpstreamInvalidResponse.as_str(),
            "UPSTREAM_INVALID_RESPONSE"
        );
        assert_eq!(
            ErrorCode::TooManySubscriptions.to_string(),
            "TOO_MANY_SUBSCRIPTIONS"
        );
        for code in ErrorCode::iter() {
            let name = code.as_str();
            assert!(
                name.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{name}"
            );
        }
    }

    #[test]
    fn internal_faults_hide_their_detail() {
        let e = GatewayError::Internal("no upstream is configured".into());
        assert_eq!(e.code(), "INTERNAL_SERVER_ERROR");
        assert_eq!(e.clone().into_graphql().message, "internal error");
    }

    #[test]
    fn errors_without_a_code_get_one_by_their_path() {
        let code = |e: &async_graphql::ServerError| {
            e.extensions
                .as_ref()
                .and_then(|x| x.get("code").cloned())
                .unwrap_or_default()
        };
        let mut located = async_graphql::ServerError::new("resolver failed", None);
        located.path = vec![async_graphql::PathSegment::Field("labels".into())];
        let mut coded = async_graphql::ServerError::new("kept", None);
        coded
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", ErrorCode::QueryTooComplex.as_str());
        let mut errors = vec![
            async_graphql::ServerError::new("Unknown field", None),
            located,
            coded,
        ];
        ensure_codes(&mut errors);
        let codes: Vec<_> = errors.iter().map(code).collect();
        assert_eq!(
            codes,
            [
                "BAD_USER_INPUT",
                "INTERNAL_SERVER_ERROR",
                "QUERY_TOO_COMPLEX"
            ]
            .map(async_graphql::Value::from)
        );
    }
}
