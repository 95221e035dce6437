//! GraphQL over HTTP: request parsing, content negotiation between
//! `application/json` and `application/graphql-response+json`, and the
//! status codes each calls for.

use super::auth::Identity;
use super::request_log::{ErrorCodes, OperationName, Trace};
use super::AppState;
use crate::error::{ensure_codes, GatewayError};
use crate::schema::field_errors::FieldErrors;
use crate::schema::RequestContext;
use crate::upstream::Credential;
use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Variables};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

#[derive(Debug, Clone, Copy, PartialEq)]
enum MediaType {
    Json,
    GraphqlResponse,
}

impl MediaType {
    fn as_str(self) -> &'static str {
        match self {
            MediaType::Json => "application/json; charset=utf-8",
            MediaType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
        }
    }
}

/// Picks the response type from `Accept`; `None` when nothing fits.
fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(MediaType::Json);
    };
    let mut best: Option<(f32, MediaType)> = None;
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let media = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = pieces
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let kind = match media.as_str() {
            GRAPHQL_RESPONSE => MediaType::GraphqlResponse,
            JSON | "application/*" | "*/*" => MediaType::Json,
            _ => continue,
        };
        if q <= 0.0 {
            continue;
        }
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    query: Option<Value>,
    operation_name: Option<Value>,
    variables: Option<Value>,
    extensions: Option<Value>,
}

/// An error before execution: never reached the schema.
fn reject(status: StatusCode, media: MediaType, message: &str) -> Response {
    let body = json!({"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]});
    with_codes(respond(status, media, body), ["BAD_REQUEST"])
}

/// Attaches a response's error codes for the request log line.
fn with_codes<'a>(mut response: Response, codes: impl IntoIterator<Item = &'a str>) -> Response {
    let codes = ErrorCodes(codes.into_iter().map(str::to_owned).collect());
    response.extensions_mut().insert(codes);
    response
}

fn respond(status: StatusCode, media: MediaType, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.as_str()),
    );
    response
}

/// A GraphQL error raised by the gateway before execution (a limit, a
/// persisted query): 200 for `application/json`, `status` for
/// `application/graphql-response+json`.
fn refuse(state: &AppState, media: MediaType, status: StatusCode, error: GatewayError) -> Response {
    state.metrics.graphql_response([error.code()]);
    let body =
        json!({"errors": [{"message": error.to_string(), "extensions": {"code": error.code()}}]});
    let status = match media {
        MediaType::GraphqlResponse => status,
        MediaType::Json => StatusCode::OK,
    };
    with_codes(respond(status, media, body), [error.code()])
}

fn not_acceptable() -> Response {
    reject(
        StatusCode::NOT_ACCEPTABLE,
        MediaType::Json,
        "Accept must allow application/graphql-response+json or application/json",
    )
}

pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let trace = Trace::start(&headers);
    let response = post_traced(&state, &headers, &uri, body, trace.id.clone()).await;
    trace.finish(Method::POST, response)
}

async fn post_traced(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    body: Result<Bytes, BytesRejection>,
    request_id: Arc<str>,
) -> Response {
    let Some(media) = negotiate(headers) else {
        return not_acceptable();
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return reject(
                StatusCode::PAYLOAD_TOO_LARGE,
                media,
                &format!(
                    "the request body is larger than {} bytes (max_body_bytes)",
                    state.max_body_bytes
                ),
            )
        }
        Err(rejection) => return reject(rejection.status(), media, &rejection.body_text()),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case(JSON) {
        return reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            "POST bodies must be application/json",
        );
    }
    let parsed: Body = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return reject(
                StatusCode::BAD_REQUEST,
                media,
                &format!("the body is not valid JSON: {e}"),
            )
        }
    };
    execute(state, headers, uri, Method::POST, parsed, media, request_id).await
}

pub async fn get(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    if crate::playground::wants_page(&headers, uri.query()) {
        return crate::playground::page().await.into_response();
    }
    let trace = Trace::start(&headers);
    let response = get_traced(&state, &headers, &uri, trace.id.clone()).await;
    trace.finish(Method::GET, response)
}

async fn get_traced(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    request_id: Arc<str>,
) -> Response {
    let Some(media) = negotiate(headers) else {
        return not_acceptable();
    };
    let mut params: Map<String, Value> = Map::new();
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        params.insert(k.into_owned(), Value::String(v.into_owned()));
    }
    let json_param = |name: &str| -> Result<Option<Value>, String> {
        match params.get(name).and_then(Value::as_str) {
            None | Some("") => Ok(None),
            Some(text) => serde_json::from_str(text)
                .map(Some)
                .map_err(|e| format!("`{name}` is not valid JSON: {e}")),
        }
    };
    let (variables, extensions) = match (json_param("variables"), json_param("extensions")) {
        (Ok(v), Ok(e)) => (v, e),
        (Err(msg), _) | (_, Err(msg)) => return reject(StatusCode::BAD_REQUEST, media, &msg),
    };
    let body = Body {
        query: params.get("query").cloned(),
        operation_name: params.get("operationName").cloned(),
        variables,
        extensions,
    };
    execute(state, headers, uri, Method::GET, body, media, request_id).await
}

/// Runs a request and attaches its operation name for the log line.
async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    method: Method,
    body: Body,
    media: MediaType,
    request_id: Arc<str>,
) -> Response {
    let operation = body
        .operation_name
        .as_ref()
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut response = run(state, headers, uri, method, body, media, request_id).await;
    if let Some(name) = operation {
        response.extensions_mut().insert(OperationName(name));
    }
    response
}

async fn run(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    method: Method,
    body: Body,
    media: MediaType,
    request_id: Arc<str>,
) -> Response {
    let query = match body.query {
        Some(Value::String(q)) if !q.trim().is_empty() => Some(q),
        Some(Value::String(_)) | None => None,
        Some(_) => return reject(StatusCode::BAD_REQUEST, media, "`query` must be a string"),
    };
    if !matches!(
        body.extensions,
        None | Some(Value::Null) | Some(Value::Object(_))
    ) {
        return reject(
            StatusCode::BAD_REQUEST,
            media,
            "`extensions` must be an object",
        );
    }
    let query = match state
        .persisted
        .resolve(query, body.extensions.as_ref())
        .await
    {
        Ok(Some(q)) => q,
        Ok(None) => return reject(StatusCode::BAD_REQUEST, media, "`query` is required"),
        Err(e) => return refuse(state, media, StatusCode::BAD_REQUEST, e),
    };
    let operation_name = match body.operation_name {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => {
            return reject(
                StatusCode::BAD_REQUEST,
                media,
                "`operationName` must be a string",
            )
        }
    };
    let variables = match body.variables {
        None | Some(Value::Null) => Variables::default(),
        Some(v @ Value::Object(_)) => Variables::from_json(v),
        Some(_) => {
            return reject(
                StatusCode::BAD_REQUEST,
                media,
                "`variables` must be an object",
            )
        }
    };
    // Unparsable queries pass these checks: execution reports the syntax
    // error.
    let document = async_graphql::parser::parse_query(&query).ok();
    if let Some(doc) = &document {
        if let Err(e) = state.limits.check(doc, operation_name.as_deref()) {
            return refuse(state, media, StatusCode::BAD_REQUEST, e);
        }
    }
    let mutation = document
        .as_ref()
        .is_some_and(|doc| is_mutation(doc, operation_name.as_deref()));
    drop(document);
    if method == Method::GET && mutation {
        let mut response = reject(
            StatusCode::METHOD_NOT_ALLOWED,
            media,
            "mutations are not allowed over GET",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }

    let identity = match &state.service {
        Some(service) => service.authenticate(headers, uri.query()),
        None => Identity {
            credential: Credential::from_request(
                headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok()),
                uri.query(),
            ),
            ..Identity::default()
        },
    };
    let no_cache = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| d.trim().eq_ignore_ascii_case("no-cache"));
    let context = RequestContext {
        credential: identity.credential,
        no_cache,
        served_stale: Default::default(),
        collections: identity.collections,
        refusal: identity.refusal,
        request_id: Some(request_id),
    };
    let served_stale = context.served_stale.clone();
    let field_errors = FieldErrors::default();
    let mut request = Request::new(query)
        .variables(variables)
        .data(context)
        .data(field_errors.clone());
    if let Some(name) = operation_name {
        request = request.operation_name(name);
    }
    let Ok(mut response) =
        tokio::time::timeout(state.request_timeout, state.schema.execute(request)).await
    else {
        let error = GatewayError::UpstreamTimeout(format!(
            "the request did not finish within {} ms (request_timeout_ms)",
            state.request_timeout.as_millis()
        ));
        state.metrics.graphql_response([error.code()]);
        let body = json!({"data": null, "errors": [{"message": error.to_string(), "extensions": {"code": error.code()}}]});
        let status = match media {
            MediaType::GraphqlResponse => StatusCode::GATEWAY_TIMEOUT,
            MediaType::Json => StatusCode::OK,
        };
        return with_codes(respond(status, media, body), [error.code()]);
    };
    response.errors.extend(field_errors.take());
    ensure_codes(&mut response.errors);
    state
        .metrics
        .graphql_response(response.errors.iter().map(error_code));

    // A request error (parse, validation, variables) never starts execution.
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let mut out = Map::new();
    if !request_error {
        out.insert(
            "data".into(),
            serde_json::to_value(&response.data).unwrap_or(Value::Null),
        );
    }
    if !response.errors.is_empty() {
        out.insert(
            "errors".into(),
            serde_json::to_value(&response.errors).unwrap_or(Value::Null),
        );
    }
    if served_stale.load(std::sync::atomic::Ordering::Relaxed) {
        response
            .extensions
            .insert("stale".into(), async_graphql::Value::Boolean(true));
    }
    if !response.extensions.is_empty() {
        out.insert(
            "extensions".into(),
            serde_json::to_value(&response.extensions).unwrap_or(Value::Null),
        );
    }
    let status = match media {
        MediaType::GraphqlResponse if request_error => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    with_codes(
        respond(status, media, Value::Object(out)),
        response.errors.iter().map(error_code),
    )
}

/// An error's `extensions.code` (every error has one after `ensure_codes`).
fn error_code(error: &async_graphql::ServerError) -> &str {
    match error.extensions.as_ref().and_then(|ext| ext.get("code")) {
        Some(async_graphql::Value::String(code)) => code,
        _ => "",
    }
}

/// Whether the operation that would run is a mutation.
fn is_mutation(
    doc: &async_graphql::parser::types::ExecutableDocument,
    operation_name: Option<&str>,
) -> bool {
    let ty = match (&doc.operations, operation_name) {
        (async_graphql::parser::types::DocumentOperations::Single(op), _) => Some(op.node.ty),
        (async_graphql::parser::types::DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get(name).map(|op| op.node.ty)
        }
        (async_graphql::parser::types::DocumentOperations::Multiple(ops), None) => (ops.len() == 1)
            .then(|| ops.values().next().map(|op| op.node.ty))
            .flatten(),
    };
    ty == Some(OperationType::Mutation)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(accept("text/plain"), None);
    }

    #[test]
    fn mutations_are_detected() {
        let m = |q: &str, name: Option<&str>| {
            is_mutation(&async_graphql::parser::parse_query(q).expect("query"), name)
        };
        assert!(m("mutation { x }", None));
        assert!(!m("{ x }", None));
        assert!(m("query a { x } mutation b { y }", Some("b")));
        assert!(!m("query a { x } mutation b { y }", Some("a")));
    }
}
