//! Event streams served on their own socket. A `POST /graphql` that accepts
//! `text/event-stream`, with a small `Content-Length` body, is read here,
//! handed to the router like any request, and its response written by the
//! connection's task itself, delimited by closing the connection. A
//! subscription may stay open for days, and hyper would hold its read and
//! write buffers (8 KiB each) for all that time: most of what a subscriber
//! would cost. Any other request, and any such request with something
//! unusual about it (a chunked body, `Expect`, an upgrade, a large head or
//! body), goes to hyper untouched: the head is only peeked at here.

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Version};
use axum::Router;
use http_body_util::BodyExt;
use hyper::service::Service;
use hyper_util::service::TowerToHyperService;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// A head longer than this goes to hyper.
const MAX_HEAD: usize = 4096;
/// A body longer than this goes to hyper (subscriptions are small).
const MAX_BODY: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;
/// Between two looks at a head that arrives in pieces.
const PEEK_PAUSE: Duration = Duration::from_millis(5);
/// A client that takes this long to accept a write is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

const PREFIX: &[u8] = b"POST /graphql";

/// A request this module serves: its head (length in bytes) and body length.
pub struct Claimed {
    head_len: usize,
    body_len: usize,
    request: Request<()>,
}

/// What one look at the head found.
enum Look {
    Claimed(Box<Claimed>),
    /// More bytes are needed to tell.
    Partial,
    /// Hyper's.
    Declined,
}

/// Who serves a connection.
pub enum First {
    /// Its first request is an event stream served here.
    Stream(Box<Claimed>),
    Hyper,
    /// No request head within the header read timeout: the connection
    /// closes, as hyper would close it.
    TimedOut,
}

/// Looks at the connection's first request; waits for its head at most
/// `wait`.
pub async fn claim(stream: &TcpStream, wait: Duration) -> First {
    let deadline = Instant::now() + wait;
    // On the heap: the connection's task keeps no room for it afterwards.
    let mut buf = vec![0u8; MAX_HEAD];
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Err(_) => return First::TimedOut,
            // Hyper meets the error (or the end) itself.
            Ok(Err(_)) | Ok(Ok(0)) => return First::Hyper,
            Ok(Ok(n)) => n,
        };
        match look(&buf[..n]) {
            Look::Claimed(claimed) => return First::Stream(claimed),
            Look::Partial if n < MAX_HEAD => {
                tokio::time::sleep(PEEK_PAUSE).await;
                if Instant::now() >= deadline {
                    return First::TimedOut;
                }
            }
            Look::Declined | Look::Partial => return First::Hyper,
        }
    }
}

fn look(bytes: &[u8]) -> Look {
    let start = bytes.len().min(PREFIX.len());
    if bytes[..start] != PREFIX[..start] {
        return Look::Declined;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(head_len)) => claimed(&parsed, head_len),
        Ok(httparse::Status::Partial) => Look::Partial,
        Err(_) => Look::Declined,
    }
}

fn claimed(parsed: &httparse::Request<'_, '_>, head_len: usize) -> Look {
    let path = parsed.path.unwrap_or("");
    let ours = parsed.method == Some("POST")
        && parsed.version == Some(1)
        && (path == "/graphql" || path.starts_with("/graphql?"));
    if !ours {
        return Look::Declined;
    }
    let mut headers = HeaderMap::new();
    for h in parsed.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) else {
            return Look::Declined;
        };
        headers.append(name, value);
    }
    let unusual = [header::TRANSFER_ENCODING, header::EXPECT, header::UPGRADE]
        .iter()
        .any(|name| headers.contains_key(name));
    let streams = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/event-stream"));
    let lengths: Vec<_> = headers.get_all(header::CONTENT_LENGTH).iter().collect();
    let body_len = match lengths.as_slice() {
        [one] => one
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok()),
        _ => None,
    };
    let (Some(body_len), false, true) = (body_len, unusual, streams) else {
        return Look::Declined;
    };
    if body_len > MAX_BODY {
        return Look::Declined;
    }
    let mut request = Request::new(());
    *request.method_mut() = Method::POST;
    *request.version_mut() = Version::HTTP_11;
    match path.parse() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return Look::Declined,
    }
    *request.headers_mut() = headers;
    Look::Claimed(Box::new(Claimed {
        head_len,
        body_len,
        request,
    }))
}

/// Reads the claimed request, answers it through `app`, writes the answer
/// and closes the connection. `wait` bounds the reading of the body.
pub async fn serve(mut stream: TcpStream, claimed: Box<Claimed>, app: Router, wait: Duration) {
    let mut bytes = vec![0u8; claimed.head_len + claimed.body_len];
    match timeout(wait, stream.read_exact(&mut bytes)).await {
        Ok(Ok(_)) => {}
        _ => return,
    }
    let body = Bytes::from(bytes).slice(claimed.head_len..);
    let (parts, ()) = claimed.request.into_parts();
    let request = Request::from_parts(parts, Body::from(body));
    let Ok(response) = TowerToHyperService::new(app).call(request).await;
    let (parts, body) = response.into_parts();
    let exact = body.size_hint().exact();
    let head = response_head(&parts, exact);
    if write(&mut stream, &head).await {
        stream_body(&mut stream, body).await;
    }
    let _ = stream.shutdown().await;
}

/// The status line and headers, closing the connection after the body.
fn response_head(parts: &axum::http::response::Parts, exact: Option<u64>) -> Vec<u8> {
    let status = parts.status;
    let reason = status.canonical_reason().unwrap_or("");
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", status.as_u16()).into_bytes();
    for (name, value) in &parts.headers {
        if name == header::CONNECTION || name == header::CONTENT_LENGTH {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if let Some(length) = exact {
        head.extend_from_slice(format!("content-length: {length}\r\n").as_bytes());
    }
    head.extend_from_slice(b"connection: close\r\n\r\n");
    head
}

async fn write(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    matches!(
        timeout(WRITE_TIMEOUT, stream.write_all(bytes)).await,
        Ok(Ok(()))
    )
}

/// Writes the body as it comes, until it ends or the client leaves.
async fn stream_body(stream: &mut TcpStream, body: Body) {
    let mut body = body;
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            () = client_gone(stream) => return,
        };
        match frame {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if !write(stream, &data).await {
                        return;
                    }
                }
            }
            Some(Err(_)) | None => return,
        }
    }
}

/// Resolves when the client closes its end (bytes it sends meanwhile are
/// read and dropped: it has no other request to make on this connection).
async fn client_gone(stream: &TcpStream) {
    let mut sink = [0u8; 64];
    loop {
        if stream.readable().await.is_err() {
            return;
        }
        match stream.try_read(&mut sink) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Response;

    fn looked(text: &str) -> &'static str {
        match look(text.as_bytes()) {
            Look::Claimed(_) => "claimed",
            Look::Partial => "partial",
            Look::Declined => "declined",
        }
    }

    #[test]
    fn only_plain_event_stream_posts_to_graphql_are_claimed() {
        let post =
            "POST /graphql HTTP/1.1\r\nAccept: text/event-stream\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(looked(post), "claimed");
        assert_eq!(looked("POST /graph"), "partial");
        assert_eq!(
            looked("POST /graphql HTTP/1.1\r\nAccept: text/event"),
            "partial"
        );
        assert_eq!(looked("GET /graphql HTTP/1.1\r\n\r\n"), "declined");
        assert_eq!(
            looked(
                "POST /graphqlx HTTP/1.1\r\nAccept: text/event-stream\r\nContent-Length: 2\r\n\r\n"
            ),
            "declined"
        );
        for unusual in [
            "Accept: application/json\r\nContent-Length: 2",
            "Accept: text/event-stream\r\nTransfer-Encoding: chunked",
            "Accept: text/event-stream\r\nContent-Length: 2\r\nExpect: 100-continue",
            "Accept: text/event-stream\r\nContent-Length: 999999",
            "Accept: text/event-stream",
        ] {
            let text = format!("POST /graphql HTTP/1.1\r\n{unusual}\r\n\r\n");
            assert_eq!(looked(&text), "declined", "{unusual}");
        }
    }

    #[test]
    fn the_response_head_closes_the_connection() {
        let response = Response::builder()
            .status(200)
            .header("content-type", "text/event-stream")
            .body(())
            .expect("response");
        let (parts, ()) = response.into_parts();
        let head = String::from_utf8(response_head(&parts, None)).expect("text");
        assert_eq!(
            head,
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
        );
    }
}
