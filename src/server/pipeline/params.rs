//! Stage 1: the GraphQL parameters, from a POST JSON body or a GET query
//! string, then checked and with the persisted query resolved.

use super::error::RequestError;
use super::nesting::{deeper_than, too_deep};
use super::persisted::PersistedQueries;
use crate::config::TrustedDocuments;
use crate::error::GatewayError;
use async_graphql::Variables;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The parameters as the client sent them, any JSON: `resolve` checks them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawParams {
    query: Option<Value>,
    operation_name: Option<Value>,
    variables: Option<Value>,
    extensions: Option<Value>,
    /// A trusted document's hash instead of `query`.
    document_id: Option<Value>,
}

impl RawParams {
    /// The operation name, when it is a string (for the log line).
    pub fn operation_name(&self) -> Option<String> {
        self.operation_name
            .as_ref()
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    /// The query text, when the client sent one.
    pub fn query_text(&self) -> Option<&str> {
        self.query.as_ref().and_then(Value::as_str)
    }

    /// The hash a request names its document by, without its text:
    /// `documentId` (bare or `sha256:`) or the persisted query's.
    pub fn document_hash(&self) -> Option<&str> {
        let id = self.document_id.as_ref().and_then(Value::as_str);
        let id = id.map(|id| id.strip_prefix("sha256:").unwrap_or(id));
        id.or_else(|| {
            let persisted = self.extensions.as_ref()?.get("persistedQuery")?;
            persisted.get("sha256Hash")?.as_str()
        })
    }

    /// `extensions.explain: true`: the client asks to see its upstream
    /// requests (the header form is read with the identity).
    pub fn asks_explain(&self) -> bool {
        self.extensions
            .as_ref()
            .and_then(|e| e.get("explain"))
            .is_some_and(|v| v == &Value::Bool(true))
    }
}

/// Checked parameters, with the query text to run.
#[derive(Debug, PartialEq)]
pub struct Params {
    pub query: String,
    pub operation_name: Option<String>,
    pub variables: Variables,
}

/// A POST body: JSON, within `max_body_bytes`, its values nested at most
/// `max_nesting` deep (the body's own object and `variables` aside).
pub fn from_post(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    max_body_bytes: usize,
    max_nesting: usize,
) -> Result<RawParams, RequestError> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => RequestError::BodyTooLarge {
            limit: max_body_bytes,
        },
        status => RequestError::UnreadableBody {
            status,
            message: rejection.body_text(),
        },
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(RequestError::UnsupportedMediaType);
    }
    let text = std::str::from_utf8(&body).unwrap_or_default();
    if let Some(depth) = deeper_than(text, max_nesting + 2) {
        let error = too_deep("the request's JSON", depth - 2, max_nesting);
        return Err(RequestError::Refused(error));
    }
    serde_json::from_slice(&body)
        .map_err(|e| RequestError::MalformedParams(format!("the body is not valid JSON: {e}")))
}

/// A GET query string; `variables` and `extensions` hold JSON text, nested
/// at most `max_nesting` deep.
pub fn from_get(query_string: Option<&str>, max_nesting: usize) -> Result<RawParams, RequestError> {
    let mut params: Map<String, Value> = Map::new();
    for (k, v) in url::form_urlencoded::parse(query_string.unwrap_or("").as_bytes()) {
        params.insert(k.into_owned(), Value::String(v.into_owned()));
    }
    let json_param = |name: &str| -> Result<Option<Value>, RequestError> {
        match params.get(name).and_then(Value::as_str) {
            None | Some("") => Ok(None),
            Some(text) if deeper_than(text, max_nesting).is_some() => Err(RequestError::Refused(
                too_deep(&format!("`{name}`"), max_nesting + 1, max_nesting),
            )),
            Some(text) => serde_json::from_str(text).map(Some).map_err(|e| {
                RequestError::MalformedParams(format!("`{name}` is not valid JSON: {e}"))
            }),
        }
    };
    let variables = json_param("variables")?;
    let extensions = json_param("extensions")?;
    Ok(RawParams {
        query: params.get("query").cloned(),
        operation_name: params.get("operationName").cloned(),
        variables,
        extensions,
        document_id: params.get("documentId").cloned(),
    })
}

/// Checks the parameters' types and finds the query text: the request's
/// own, the trusted document its `documentId` names, or the persisted one
/// its `extensions` name (which also registers a persisted query sent with
/// its text).
pub async fn resolve(
    raw: RawParams,
    persisted: &PersistedQueries,
    trusted: &TrustedDocuments,
) -> Result<Params, RequestError> {
    let malformed = |message: &str| RequestError::MalformedParams(message.into());
    let query = match raw.query {
        Some(Value::String(q)) if !q.trim().is_empty() => Some(q),
        Some(Value::String(_)) | None => None,
        Some(_) => return Err(malformed("`query` must be a string")),
    };
    let query = match query {
        Some(text) => Some(text),
        None => by_document_id(raw.document_id.as_ref(), trusted)?,
    };
    if !matches!(
        raw.extensions,
        None | Some(Value::Null) | Some(Value::Object(_))
    ) {
        return Err(malformed("`extensions` must be an object"));
    }
    let query = persisted
        .resolve(query, raw.extensions.as_ref(), trusted)
        .await
        .map_err(RequestError::Refused)?
        .ok_or_else(|| malformed("`query` is required"))?;
    let operation_name = match raw.operation_name {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => return Err(malformed("`operationName` must be a string")),
    };
    let variables = match raw.variables {
        None | Some(Value::Null) => Variables::default(),
        Some(v @ Value::Object(_)) => Variables::from_json(v),
        Some(_) => return Err(malformed("`variables` must be an object")),
    };
    Ok(Params {
        query,
        operation_name,
        variables,
    })
}

/// The trusted document a `documentId` names: its SHA-256 in hex, bare
/// or as `sha256:<hex>`.
fn by_document_id(
    id: Option<&Value>,
    trusted: &TrustedDocuments,
) -> Result<Option<String>, RequestError> {
    let id = match id {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(id)) => id.strip_prefix("sha256:").unwrap_or(id),
        Some(_) => {
            return Err(RequestError::MalformedParams(
                "`documentId` must be a string".into(),
            ))
        }
    };
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        let message =
            "`documentId` must be a SHA-256 in hex (64 digits, optionally after `sha256:`)";
        return Err(RequestError::MalformedParams(message.into()));
    }
    match trusted.get(id) {
        Some(text) => Ok(Some(text.to_string())),
        None => Err(RequestError::Refused(GatewayError::PersistedQueryNotFound)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_get_default(query_string: Option<&str>) -> Result<RawParams, RequestError> {
        from_get(query_string, 64)
    }
    use serde_json::json;

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "Application/JSON; charset=utf-8".parse().expect("header"),
        );
        h
    }

    fn post(headers: &HeaderMap, body: &str) -> Result<RawParams, RequestError> {
        from_post(headers, Ok(Bytes::from(body.to_owned())), 1024, 64)
    }

    async fn resolved(raw: Value) -> Result<Params, RequestError> {
        let raw: RawParams = serde_json::from_value(raw).expect("raw params");
        resolve(
            raw,
            &PersistedQueries::new(1024),
            &TrustedDocuments::default(),
        )
        .await
    }

    fn malformed(result: Result<Params, RequestError>) -> String {
        match result {
            Err(RequestError::MalformedParams(message)) => message,
            other => panic!("not malformed: {other:?}"),
        }
    }

    #[test]
    fn post_bodies_are_json_objects_of_any_json() {
        let raw = post(&json_headers(), r#"{"query": 42, "operationName": "Dash"}"#).expect("raw");
        assert_eq!(raw.query, Some(json!(42)));
        assert_eq!(raw.operation_name(), Some("Dash".to_string()));
        assert!(matches!(
            post(&HeaderMap::new(), "{}"),
            Err(RequestError::UnsupportedMediaType)
        ));
        match post(&json_headers(), "{not json") {
            Err(RequestError::MalformedParams(m)) => {
                assert!(m.starts_with("the body is not valid JSON"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert!(post(&json_headers(), "[1]").is_err());
    }

    #[test]
    fn get_parameters_hold_json_text() {
        let raw = from_get_default(Some(
            "query=%7B+a+%7D&variables=%7B%22n%22%3A2%7D&extensions=&operationName=Q",
        ))
        .expect("raw");
        assert_eq!(raw.query, Some(json!("{ a }")));
        assert_eq!(raw.variables, Some(json!({"n": 2})));
        assert_eq!(raw.extensions, None);
        assert_eq!(raw.operation_name(), Some("Q".to_string()));
        match from_get_default(Some("query=x&variables=%7B&extensions=%7B")) {
            Err(RequestError::MalformedParams(m)) => {
                assert!(m.starts_with("`variables` is not valid JSON"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert!(from_get_default(None).is_ok());
    }

    #[test]
    fn explain_is_asked_in_extensions_of_body_or_query_string() {
        let body = |text: &str| post(&json_headers(), text).expect("raw").asks_explain();
        assert!(body(
            r#"{"query": "{ a }", "extensions": {"explain": true}}"#
        ));
        assert!(!body(
            r#"{"query": "{ a }", "extensions": {"explain": "true"}}"#
        ));
        assert!(!body(
            r#"{"query": "{ a }", "extensions": {"explain": false}}"#
        ));
        assert!(!body(r#"{"query": "{ a }", "extensions": []}"#));
        assert!(!body(r#"{"query": "{ a }"}"#));
        let get = from_get_default(Some(
            "query=%7B+a+%7D&extensions=%7B%22explain%22%3Atrue%7D",
        ));
        assert!(get.expect("raw").asks_explain());
    }

    #[tokio::test]
    async fn parameters_are_typed() {
        let params =
            resolved(json!({"query": "{ a }", "operationName": null, "variables": {"n": 1}}))
                .await
                .expect("params");
        assert_eq!(params.query, "{ a }");
        assert_eq!(params.operation_name, None);
        assert_eq!(params.variables, Variables::from_json(json!({"n": 1})));
        for (raw, message) in [
            (json!({"query": 42}), "`query` must be a string"),
            (
                json!({"query": "{ a }", "extensions": []}),
                "`extensions` must be an object",
            ),
            (json!({"query": "  "}), "`query` is required"),
            (json!({}), "`query` is required"),
            (
                json!({"query": "{ a }", "operationName": 1}),
                "`operationName` must be a string",
            ),
            (
                json!({"query": "{ a }", "variables": [1]}),
                "`variables` must be an object",
            ),
        ] {
            assert_eq!(malformed(resolved(raw).await), message);
        }
    }

    #[tokio::test]
    async fn persisted_query_errors_are_refusals() {
        let raw =
            json!({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0".repeat(64)}}});
        assert!(matches!(
            resolved(raw).await,
            Err(RequestError::Refused(GatewayError::PersistedQueryNotFound))
        ));
    }
}
