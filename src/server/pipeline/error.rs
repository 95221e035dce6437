//! Why a GraphQL request fails as a whole, and what each reason answers:
//! its `extensions.code` and its HTTP status for each media type, by the
//! GraphQL-over-HTTP rules. Errors of single fields are not here: they
//! stay in a `200` response beside the data.

use super::negotiate::MediaType;
use crate::config::RateLimit;
use crate::error::{ensure_codes, ErrorCode, GatewayError};
use async_graphql::ServerError;
use axum::http::StatusCode;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    // Not a well-formed GraphQL-over-HTTP request: answered before GraphQL
    // sees it, with the same status for both media types.
    #[error("Accept must allow application/graphql-response+json or application/json")]
    NotAcceptable,
    #[error("the request body is larger than {limit} bytes (max_body_bytes)")]
    BodyTooLarge { limit: usize },
    /// The body could not be read; axum's status and text.
    #[error("{message}")]
    UnreadableBody { status: StatusCode, message: String },
    #[error("POST bodies must be application/json")]
    UnsupportedMediaType,
    /// The body or a parameter is not what GraphQL over HTTP prescribes.
    #[error("{0}")]
    MalformedParams(String),
    #[error("mutations are not allowed over GET")]
    MutationOverGet,

    // A GraphQL request that fails as a whole: 200 for `application/json`,
    // 4xx/5xx for `application/graphql-response+json`.
    /// Refused by the gateway before execution: a persisted query, a limit.
    #[error(transparent)]
    Refused(GatewayError),
    /// Errors located in the document: async-graphql's request errors
    /// (syntax, validation, variables), their codes from `ensure_codes`,
    /// and selection sets nested past `max_nesting`.
    #[error("{}", messages(.0))]
    Invalid(Vec<ServerError>),
    /// The client used up its rate (`rate_limit_per_second`).
    #[error(
        "too many requests: at most {} a second and {} at once per client \
         (rate_limit_per_second, rate_limit_burst); retry in {} s",
        .limit.per_second, .limit.burst, .retry_after.as_secs()
    )]
    RateLimited {
        limit: RateLimit,
        retry_after: Duration,
    },
    /// Execution ran past `request_timeout_ms`.
    #[error("the request did not finish within {} ms (request_timeout_ms)", .limit.as_millis())]
    TimedOut { limit: Duration },
}

impl RequestError {
    /// The HTTP status of the answer in `media`.
    pub fn status(&self, media: MediaType) -> StatusCode {
        use MediaType::{GraphqlResponse, Json};
        match (self, media) {
            (Self::NotAcceptable, _) => StatusCode::NOT_ACCEPTABLE,
            (Self::BodyTooLarge { .. }, _) => StatusCode::PAYLOAD_TOO_LARGE,
            (Self::UnreadableBody { status, .. }, _) => *status,
            (Self::UnsupportedMediaType, _) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            (Self::MalformedParams(_), _) => StatusCode::BAD_REQUEST,
            (Self::MutationOverGet, _) => StatusCode::METHOD_NOT_ALLOWED,
            // 400 in either media type: no retry of the same request helps.
            (Self::Refused(GatewayError::DocumentNotTrusted(_)), _) => StatusCode::BAD_REQUEST,
            (Self::Refused(_) | Self::Invalid(_) | Self::TimedOut { .. }, Json) => StatusCode::OK,
            (Self::Refused(_) | Self::Invalid(_), GraphqlResponse) => StatusCode::BAD_REQUEST,
            (Self::TimedOut { .. }, GraphqlResponse) => StatusCode::GATEWAY_TIMEOUT,
            (Self::RateLimited { .. }, _) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// When the client may try again (`Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// The response's `errors`, each with its `extensions.code`.
    pub fn into_errors(self) -> Vec<ServerError> {
        let code = match self {
            Self::Invalid(mut errors) => {
                ensure_codes(&mut errors);
                return errors;
            }
            Self::Refused(ref error) => error.kind(),
            // Not well-formed GraphQL over HTTP.
            Self::NotAcceptable
            | Self::BodyTooLarge { .. }
            | Self::UnreadableBody { .. }
            | Self::UnsupportedMediaType
            | Self::MalformedParams(_)
            | Self::MutationOverGet => ErrorCode::BadRequest,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::TimedOut { .. } => ErrorCode::UpstreamTimeout,
        };
        let mut error = ServerError::new(self.to_string(), None);
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code.as_str());
        vec![error]
    }

    /// Whether the request reached GraphQL: the answer is then a GraphQL
    /// response, counted in the metrics.
    pub fn is_graphql(&self) -> bool {
        matches!(
            self,
            Self::Refused(_) | Self::Invalid(_) | Self::TimedOut { .. } | Self::RateLimited { .. }
        )
    }

    /// Whether execution had started: the answer then holds `data: null`.
    pub fn started_execution(&self) -> bool {
        matches!(self, Self::TimedOut { .. })
    }
}

fn messages(errors: &[ServerError]) -> String {
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    messages.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use MediaType::{GraphqlResponse, Json};

    fn code(error: RequestError) -> String {
        let errors = error.into_errors();
        let ext = errors[0].extensions.as_ref().expect("extensions");
        match ext.get("code") {
            Some(async_graphql::Value::String(code)) => code.clone(),
            other => panic!("no code: {other:?}"),
        }
    }

    #[test]
    fn status_table() {
        let table = [
            (RequestError::NotAcceptable, 406, 406),
            (RequestError::BodyTooLarge { limit: 10 }, 413, 413),
            (
                RequestError::UnreadableBody {
                    status: StatusCode::BAD_REQUEST,
                    message: "cut".into(),
                },
                400,
                400,
            ),
            (RequestError::UnsupportedMediaType, 415, 415),
            (RequestError::MalformedParams("x".into()), 400, 400),
            (RequestError::MutationOverGet, 405, 405),
            (
                RequestError::Refused(GatewayError::PersistedQueryNotFound),
                200,
                400,
            ),
            (
                RequestError::Invalid(vec![ServerError::new("Unknown field", None)]),
                200,
                400,
            ),
            (
                RequestError::TimedOut {
                    limit: Duration::from_millis(5),
                },
                200,
                504,
            ),
            (
                RequestError::RateLimited {
                    limit: crate::config::RateLimit {
                        per_second: std::num::NonZeroU32::MIN,
                        burst: std::num::NonZeroU32::MIN,
                    },
                    retry_after: Duration::from_secs(1),
                },
                429,
                429,
            ),
        ];
        for (error, json, graphql_response) in table {
            assert_eq!(error.status(Json).as_u16(), json, "{error:?}");
            assert_eq!(
                error.status(GraphqlResponse).as_u16(),
                graphql_response,
                "{error:?}"
            );
        }
    }

    #[test]
    fn codes_and_messages() {
        assert_eq!(code(RequestError::UnsupportedMediaType), "BAD_REQUEST");
        assert_eq!(
            code(RequestError::Refused(GatewayError::QueryTooComplex(
                "x".into()
            ))),
            "QUERY_TOO_COMPLEX"
        );
        let timeout = RequestError::TimedOut {
            limit: Duration::from_millis(300),
        };
        assert_eq!(
            timeout.to_string(),
            "the request did not finish within 300 ms (request_timeout_ms)"
        );
        assert_eq!(code(timeout), "UPSTREAM_TIMEOUT");
        let refused = RequestError::Refused(GatewayError::PersistedQueryNotFound);
        assert_eq!(refused.into_errors()[0].message, "PersistedQueryNotFound");
        let invalid = RequestError::Invalid(vec![ServerError::new("Unknown field", None)]);
        assert_eq!(invalid.to_string(), "Unknown field");
        assert_eq!(code(invalid), "BAD_USER_INPUT");
    }

    #[test]
    fn only_graphql_failures_are_graphql_responses() {
        assert!(!RequestError::MutationOverGet.is_graphql());
        assert!(RequestError::Refused(GatewayError::PersistedQueryNotSupported).is_graphql());
        let timeout = RequestError::TimedOut {
            limit: Duration::from_secs(1),
        };
        assert!(timeout.is_graphql() && timeout.started_execution());
        assert!(!RequestError::Invalid(Vec::new()).started_execution());
    }
}
