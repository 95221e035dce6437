//! The GraphiQL playground, served entirely by the binary: the page, its
//! start script and the pinned GraphiQL/React builds (gzipped at build time
//! by build.rs from `playground/`'s npm packages).

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

const PAGE: &str = include_str!("index.html");
const START: &str = include_str!("start.js");

/// (name, content type, gzipped bytes)
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "graphiql.js",
        "text/javascript; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/playground/graphiql.js.gz")),
    ),
    (
        "graphiql.css",
        "text/css; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/playground/graphiql.css.gz")),
    ),
    (
        "react.js",
        "text/javascript; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/playground/react.js.gz")),
    ),
    (
        "react-dom.js",
        "text/javascript; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/playground/react-dom.js.gz")),
    ),
];

pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// Whether a GET to /graphql comes from a browser that wants the page.
pub fn wants_page(headers: &HeaderMap, query: Option<&str>) -> bool {
    let html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let has_query =
        query.is_some_and(|q| url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "query"));
    html && !has_query
}

pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    if name == "start.js" {
        return (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            START,
        )
            .into_response();
    }
    let Some((_, content_type, gzipped)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such playground asset").into_response();
    };
    let accepts_gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"));
    let mut response = if accepts_gzip {
        let mut r = gzipped.to_vec().into_response();
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        match gunzip(gzipped) {
            Ok(bytes) => bytes.into_response(),
            Err(_) => {
                return (StatusCode::INTERNAL_SERVER_ERROR, "asset unreadable").into_response()
            }
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

fn gunzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}
