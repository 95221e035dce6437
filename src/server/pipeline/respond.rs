//! Stage 5: the HTTP response. The GraphQL body in the negotiated media
//! type with its status; every GraphQL response is counted in the metrics
//! and carries its error codes for the log line.

use super::error::RequestError;
use super::negotiate::MediaType;
use crate::metrics::Metrics;
use crate::server::request_log::ErrorCodes;
use async_graphql::ServerError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// The answer to a request that executed, or failed as a whole.
pub fn respond(
    metrics: &Metrics,
    media: MediaType,
    outcome: Result<async_graphql::Response, RequestError>,
) -> Response {
    match outcome {
        Ok(response) => executed(metrics, media, response),
        Err(error) => failed(metrics, media, error),
    }
}

/// An operation that ran: 200, its data, field errors and extensions.
fn executed(metrics: &Metrics, media: MediaType, response: async_graphql::Response) -> Response {
    let codes: Vec<&str> = response.errors.iter().map(error_code).collect();
    metrics.graphql_response(codes.iter().copied());
    let mut body = Map::new();
    body.insert("data".into(), to_json(&response.data));
    if !response.errors.is_empty() {
        body.insert("errors".into(), to_json(&response.errors));
    }
    if !response.extensions.is_empty() {
        body.insert("extensions".into(), to_json(&response.extensions));
    }
    json_response(StatusCode::OK, media, body, &codes)
}

/// A request that failed as a whole: its status and errors (`data: null`
/// once execution had started).
pub fn failed(metrics: &Metrics, media: MediaType, error: RequestError) -> Response {
    let status = error.status(media);
    let graphql = error.is_graphql();
    let retry_after = error.retry_after();
    let mut body = Map::new();
    if error.started_execution() {
        body.insert("data".into(), Value::Null);
    }
    let errors = error.into_errors();
    let codes: Vec<&str> = errors.iter().map(error_code).collect();
    if graphql {
        metrics.graphql_response(codes.iter().copied());
    }
    body.insert("errors".into(), to_json(&errors));
    let mut response = json_response(status, media, body, &codes);
    if status == StatusCode::METHOD_NOT_ALLOWED {
        // GraphQL is served over GET and POST; a 405 is a mutation over GET.
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    if let Some(wait) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
    }
    response
}

fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The body in `media`, with its error codes attached for the log line.
fn json_response(
    status: StatusCode,
    media: MediaType,
    body: Map<String, Value>,
    codes: &[&str],
) -> Response {
    let mut response = (status, Value::Object(body).to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.content_type()),
    );
    let codes = codes.iter().map(|c| c.to_string()).collect();
    response.extensions_mut().insert(ErrorCodes(codes));
    response
}

/// An error's `extensions.code` (every error has one after `ensure_codes`).
fn error_code(error: &ServerError) -> &str {
    match error.extensions.as_ref().and_then(|ext| ext.get("code")) {
        Some(async_graphql::Value::String(code)) => code,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::GatewayError;
    use axum::body::to_bytes;
    use std::time::Duration;

    async fn parts(response: Response) -> (u16, String, String, Vec<String>) {
        let status = response.status().as_u16();
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap_or("")
            .to_string();
        let codes = response
            .extensions()
            .get::<ErrorCodes>()
            .map(|c| c.0.clone())
            .unwrap_or_default();
        let body = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (
            status,
            content_type,
            String::from_utf8_lossy(&body).into_owned(),
            codes,
        )
    }

    #[tokio::test]
    async fn malformed_requests_are_plain_errors_not_counted() {
        let metrics = Metrics::new();
        let response = failed(
            &metrics,
            MediaType::GraphqlResponse,
            RequestError::MutationOverGet,
        );
        assert_eq!(response.headers()[header::ALLOW], "POST");
        let (status, content_type, body, codes) = parts(response).await;
        assert_eq!(status, 405);
        assert!(content_type.starts_with("application/graphql-response+json"));
        assert_eq!(
            body,
            r#"{"errors":[{"message":"mutations are not allowed over GET","extensions":{"code":"BAD_REQUEST"}}]}"#
        );
        assert_eq!(codes, ["BAD_REQUEST"]);
        assert!(metrics
            .render()
            .contains("gateway_graphql_requests_total 0"));
    }

    #[tokio::test]
    async fn a_timeout_has_null_data_and_is_counted() {
        let metrics = Metrics::new();
        let error = RequestError::TimedOut {
            limit: Duration::from_millis(300),
        };
        let (status, content_type, body, _) = parts(failed(&metrics, MediaType::Json, error)).await;
        assert_eq!(status, 200);
        assert!(content_type.starts_with("application/json"));
        assert!(
            body.starts_with(r#"{"data":null,"errors":[{"message":"the request did not finish"#),
            "{body}"
        );
        assert!(metrics
            .render()
            .contains("gateway_graphql_requests_total 1"));
    }

    #[tokio::test]
    async fn executed_responses_are_200_with_data() {
        let metrics = Metrics::new();
        let mut response = async_graphql::Response::new(
            async_graphql::Value::from_json(serde_json::json!({"a": null})).expect("value"),
        );
        response.errors.push(
            GatewayError::Forbidden("no".into())
                .into_graphql()
                .into_server_error(async_graphql::Pos::default()),
        );
        let (status, _, body, codes) =
            parts(respond(&metrics, MediaType::GraphqlResponse, Ok(response))).await;
        assert_eq!(status, 200);
        assert!(
            body.starts_with(r#"{"data":{"a":null},"errors":["#),
            "{body}"
        );
        assert_eq!(codes, ["FORBIDDEN"]);
    }
}
