//! Response compression over HTTP: zstd, br and gzip by `Accept-Encoding`
//! (q-values), bodies decoded and compared with the identity body; small
//! bodies and event streams as they are; `Vary`; `compression = false`;
//! a hot whole-response hit compressed once and its tags.

mod common;

use common::*;
use liveagent_graphql::config::Config;
use serde_json::json;
use std::io::Read;

const LIST: &str = "{ conversations(first: 200) { nodes { id } } }";
const SMALL: &str = "{ inboxes(first: 1) { nodes { id } } }";

/// Status, headers and raw (still encoded) body of one POST.
async fn post(
    gw: &Gateway,
    query: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    // No automatic decoding: the test reads the bytes as sent.
    let client = reqwest::Client::builder()
        .no_gzip()
        .no_deflate()
        .build()
        .expect("client");
    let mut request = client
        .post(gw.url())
        .bearer_auth(ADMIN_1)
        .json(&json!({ "query": query }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("post");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn decode(encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "zstd" => out = zstd::decode_all(body).expect("zstd"),
        "br" => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .expect("br");
        }
        "gzip" => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .expect("gzip");
        }
        other => panic!("unexpected encoding {other}"),
    }
    out
}

fn config(compression: bool) -> Config {
    Config {
        compression,
        ..config_for(upstream(), "1.1")
    }
}

#[tokio::test]
async fn each_encoding_decodes_to_the_identity_body() {
    let gw = gateway_with(config(true)).await;
    let (status, plain_headers, plain) = post(&gw, LIST, &[("accept-encoding", "identity")]).await;
    assert_eq!(status, 200);
    assert!(plain.len() >= 1024, "the list is {} bytes", plain.len());
    assert_eq!(header(&plain_headers, "content-encoding"), None);
    assert_eq!(header(&plain_headers, "vary"), Some("accept-encoding"));
    let identity_tag = header(&plain_headers, "etag").expect("etag").to_string();
    for (accept, expected) in [
        ("zstd", "zstd"),
        ("br", "br"),
        ("gzip", "gzip"),
        ("gzip, deflate, br, zstd", "zstd"),
        ("gzip;q=1, br;q=0.8, zstd;q=0.5", "gzip"),
        ("zstd;q=0, br;q=0.1, *;q=0.05", "br"),
        ("zstd;q=0, br;q=0, *", "gzip"),
    ] {
        let (status, headers, body) = post(&gw, LIST, &[("accept-encoding", accept)]).await;
        assert_eq!(status, 200, "{accept}");
        assert_eq!(
            header(&headers, "content-encoding"),
            Some(expected),
            "{accept}"
        );
        assert_eq!(header(&headers, "vary"), Some("accept-encoding"));
        assert!(
            body.len() < plain.len() / 2,
            "{accept}: {} bytes",
            body.len()
        );
        assert_eq!(decode(expected, &body), plain, "{accept}");
        let tag = header(&headers, "etag").expect("etag");
        assert_eq!(
            tag,
            format!("{}-{expected}\"", identity_tag.trim_end_matches('"')),
            "a strong tag of its own per encoding"
        );
    }
    for refused in ["gzip;q=0, br;q=0, zstd;q=0", "*;q=0", "deflate", "identity"] {
        let (_, headers, body) = post(&gw, LIST, &[("accept-encoding", refused)]).await;
        assert_eq!(header(&headers, "content-encoding"), None, "{refused}");
        assert_eq!(body, plain, "{refused}");
    }
}

#[tokio::test]
async fn small_bodies_and_event_streams_go_out_as_they_are() {
    let gw = gateway_with(config(true)).await;
    let (status, headers, body) = post(&gw, SMALL, &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(status, 200);
    assert!(body.len() < 1024);
    assert_eq!(header(&headers, "content-encoding"), None);
    assert_eq!(header(&headers, "vary"), None, "not compressible");
    serde_json::from_slice::<serde_json::Value>(&body).expect("plain JSON");
    // A query answered as an event stream: its single `next` is large, the
    // stream is never compressed.
    let (status, headers, body) = post(
        &gw,
        LIST,
        &[("accept", "text/event-stream"), ("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type")
        .unwrap_or("")
        .starts_with("text/event-stream"));
    assert_eq!(header(&headers, "content-encoding"), None);
    let text = String::from_utf8(body).expect("plain text events");
    assert!(text.contains("event: next") && text.len() > 1024, "{text}");
}

#[tokio::test]
async fn compression_false_sends_every_body_as_it_is() {
    let gw = gateway_with(config(false)).await;
    let (status, headers, body) = post(&gw, LIST, &[("accept-encoding", "zstd, br, gzip")]).await;
    assert_eq!(status, 200);
    assert!(body.len() >= 1024);
    assert_eq!(header(&headers, "content-encoding"), None);
    assert_eq!(header(&headers, "vary"), None);
    serde_json::from_slice::<serde_json::Value>(&body).expect("plain JSON");
}

#[tokio::test]
async fn a_hot_hit_is_compressed_once_and_answers_304_to_either_tag() {
    let up = private_upstream("compression_hot");
    let gw = gateway_with(Config {
        compression: true,
        ..config_for(up, "1.1")
    })
    .await;
    let gzip = [("accept-encoding", "gzip")];
    let (_, first_headers, first) = post(&gw, LIST, &gzip).await;
    let since = up.last_seq().await;
    for _ in 0..3 {
        let (status, headers, body) = post(&gw, LIST, &gzip).await;
        assert_eq!(status, 200);
        assert_eq!(body, first, "the very bytes made once");
        assert_eq!(header(&headers, "etag"), header(&first_headers, "etag"));
    }
    assert!(up.requests_since(since).await.is_empty(), "hot hits");
    let series = "gateway_response_compressions_total{encoding=\"gzip\"}";
    assert_eq!(metric_of(&gw, series).await, Some(1.0), "compressed once");
    assert_eq!(
        metric_of(&gw, "gateway_response_cache_hits_total").await,
        Some(3.0)
    );
    // The tag of the gzip form, or of the identity form, is the same content.
    let gzip_tag = header(&first_headers, "etag").expect("etag").to_string();
    let identity_tag = gzip_tag.replace("-gzip\"", "\"");
    for (tag, accept, expected) in [
        (gzip_tag.as_str(), "gzip", gzip_tag.as_str()),
        (identity_tag.as_str(), "gzip", gzip_tag.as_str()),
        (gzip_tag.as_str(), "identity", identity_tag.as_str()),
    ] {
        let headers = [("accept-encoding", accept), ("if-none-match", tag)];
        let (status, answer, body) = post(&gw, LIST, &headers).await;
        assert_eq!((status, body.len()), (304, 0), "{tag} {accept}");
        assert_eq!(header(&answer, "etag"), Some(expected));
        assert_eq!(header(&answer, "vary"), Some("accept-encoding"));
    }
}
