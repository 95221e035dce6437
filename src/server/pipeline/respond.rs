//! Stage 5: the HTTP response. The GraphQL body in the negotiated media
//! type with its status; every GraphQL response is counted in the metrics
//! and carries its error codes for the log line. An executed operation's
//! body is serialized once, tagged (`ETag`), and answered `304 Not
//! Modified` when the client already holds it. A body of at least 1 KiB
//! goes out compressed as the client accepts (`encoding.rs`), with `Vary:
//! Accept-Encoding`; a compressed representation has its own strong tag
//! (the identity tag with the coding as a suffix), as HTTP wants of two
//! representations whose bytes differ.

use super::encoding::{self, Encoded, Encoding};
use super::error::RequestError;
use super::negotiate::MediaType;
use crate::metrics::{EncodingLabel, Metrics};
use crate::server::request_log::ErrorCodes;
use async_graphql::ServerError;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A GraphQL response serialized once: the bytes the client gets (and the
/// response cache keeps), their entity tag, the error codes, and the
/// body's compressed forms as clients asked for them.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub body: Bytes,
    pub etag: HeaderValue,
    pub codes: Vec<String>,
    pub encoded: Arc<Encoded>,
}

/// The body in the order the spec shows: `data`, `errors`, `extensions`.
#[derive(Serialize)]
struct Body<'a> {
    data: &'a async_graphql::Value,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [ServerError],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, async_graphql::Value>,
}

/// Serializes an executed operation's response.
pub fn render(response: &async_graphql::Response) -> Rendered {
    let body = Body {
        data: &response.data,
        errors: &response.errors,
        extensions: &response.extensions,
    };
    // Values built by the gateway always serialize; an empty body would
    // be a bug made visible, not a panic.
    let body = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
    let codes = response
        .errors
        .iter()
        .map(|e| error_code(e).to_string())
        .collect();
    Rendered {
        etag: entity_tag(&body),
        body,
        codes,
        encoded: Arc::default(),
    }
}

/// A strong entity tag: the first 128 bits of the body's SHA-256.
fn entity_tag(body: &[u8]) -> HeaderValue {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    let hex: String = digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

/// An operation that ran, or its cached rendering: 200 with the body
/// (compressed when `compression` is on and the client accepts it), or
/// 304 without it when the client's `If-None-Match` names its tag.
pub fn executed(
    metrics: &Metrics,
    media: MediaType,
    rendered: &Rendered,
    request_headers: &HeaderMap,
    compression: bool,
) -> Response {
    metrics.graphql_response(rendered.codes.iter().map(String::as_str));
    let compressible = compression && rendered.body.len() >= encoding::MIN_BYTES;
    let encoded = compressible
        .then(|| encoding::negotiate(request_headers))
        .flatten()
        .and_then(|e| Some((e, compressed(metrics, rendered, e)?)));
    let etag = match &encoded {
        Some((encoding, _)) => tag_of(&rendered.etag, *encoding),
        None => rendered.etag.clone(),
    };
    let mut response = if has_tag(request_headers, &rendered.etag) {
        metrics.not_modified.inc();
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body = match &encoded {
            Some((_, bytes)) => bytes.clone(),
            None => rendered.body.clone(),
        };
        let mut response = (StatusCode::OK, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(media.content_type()),
        );
        if let Some((encoding, _)) = &encoded {
            let token = HeaderValue::from_static(encoding.token());
            headers.insert(header::CONTENT_ENCODING, token);
        }
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    if compressible {
        // Another Accept-Encoding may get other bytes: caches must key on it.
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
        .extensions_mut()
        .insert(ErrorCodes(rendered.codes.clone()));
    response
}

/// The rendered body in `encoding`, made now if it was not yet.
fn compressed(metrics: &Metrics, rendered: &Rendered, encoding: Encoding) -> Option<Bytes> {
    rendered.encoded.get(encoding, &rendered.body, || {
        let label = EncodingLabel {
            encoding: encoding.token(),
        };
        metrics.compressions.get_or_create(&label).inc();
    })
}

/// The strong tag of the body in `encoding`: `"<identity tag>-<coding>"`.
fn tag_of(identity: &HeaderValue, encoding: Encoding) -> HeaderValue {
    let tag = identity.to_str().unwrap_or("\"\"").trim_end_matches('"');
    HeaderValue::from_str(&format!("{tag}-{}\"", encoding.token())).unwrap_or(identity.clone())
}

/// `If-None-Match` lists `etag` (weak comparison) or is `*`. A tag of one
/// of its compressed forms counts too: the content is the same, and the
/// 304 names the form this request would have got.
fn has_tag(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || identity_tag(tag.strip_prefix("W/").unwrap_or(tag)) == etag)
}

/// A tag without the coding suffix `tag_of` adds.
fn identity_tag(tag: &str) -> std::borrow::Cow<'_, str> {
    for token in ["-zstd\"", "-br\"", "-gzip\""] {
        if let Some(stem) = tag.strip_suffix(token) {
            return format!("{stem}\"").into();
        }
    }
    tag.into()
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
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
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
        let rendered = render(&response);
        let none = HeaderMap::new();
        let answer = executed(&metrics, MediaType::GraphqlResponse, &rendered, &none, true);
        assert_eq!(answer.headers()[header::ETAG], rendered.etag);
        let (status, _, body, codes) = parts(answer).await;
        assert_eq!(status, 200);
        assert!(
            body.starts_with(r#"{"data":{"a":null},"errors":["#),
            "{body}"
        );
        assert_eq!(codes, ["FORBIDDEN"]);
    }

    #[tokio::test]
    async fn a_known_entity_tag_is_304_without_a_body() {
        let metrics = Metrics::new();
        let response = async_graphql::Response::new(
            async_graphql::Value::from_json(serde_json::json!({"a": 1})).expect("value"),
        );
        let rendered = render(&response);
        let tag = rendered.etag.to_str().expect("ascii").to_string();
        assert!(
            tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34,
            "{tag}"
        );
        for sent in [
            tag.clone(),
            format!("W/{tag}"),
            format!("\"x\", {tag}"),
            "*".into(),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, sent.parse().expect("header"));
            let answer = executed(&metrics, MediaType::Json, &rendered, &headers, true);
            assert_eq!(answer.headers()[header::ETAG], rendered.etag);
            let (status, _, body, _) = parts(answer).await;
            assert_eq!((status, body.as_str()), (304, ""), "{sent}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, "\"other\"".parse().expect("header"));
        let (status, _, body, _) = parts(executed(
            &metrics,
            MediaType::Json,
            &rendered,
            &headers,
            true,
        ))
        .await;
        assert_eq!((status, body.as_str()), (200, r#"{"data":{"a":1}}"#));
        assert!(metrics.render().contains("gateway_not_modified_total 4"));
    }
}
