//! GraphQL over WebSocket, `graphql-transport-ws` protocol: the client
//! sends `connection_init`, then any number of `subscribe` and `complete`
//! (`ws_messages.rs`); the server answers `connection_ack`, then `next`,
//! `error` and `complete` per operation (`ws_operation.rs`). Protocol
//! errors close the connection with the protocol's codes (4400 invalid
//! message, 4401 subscribe before ack, 4403 refused credential, 4408 no
//! `connection_init` in time, 4409 duplicate id, 4429 second
//! `connection_init`); other connections are not affected. Either side may
//! close: a client's Close frame is answered with one, and after the
//! server's own the client's answer is awaited a moment (RFC 6455 §5.5.1).
//!
//! One task serves a connection: it reads the socket, writes every
//! operation's messages and the heartbeat, with small socket buffers, so
//! that thousands of open subscriptions cost little memory each.

use super::heartbeat::HEARTBEAT;
use super::ws_messages::{invalid, Close, Connection, Outgoing};
use crate::server::request_log::Trace;
use crate::server::state::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::WebSocketUpgrade;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use std::time::Duration;

const PROTOCOL: &str = "graphql-transport-ws";

/// Time from the upgrade to `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// The socket's read buffer: client messages are small, and a larger one
/// (the library's default is 128 KiB, zero-filled) would be most of what
/// a connection costs. A longer message grows it for its own read.
const READ_BUFFER: usize = 1024;

/// A client that takes this long to accept one message is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the client's Close frame is awaited after the server's.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

pub fn upgrade(
    state: AppState,
    headers: HeaderMap,
    uri: Uri,
    upgrade: WebSocketUpgrade,
) -> Response {
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == PROTOCOL);
    if !offered {
        return (
            StatusCode::BAD_REQUEST,
            "WebSocket clients of /graphql use the graphql-transport-ws subprotocol",
        )
            .into_response();
    }
    let query = uri.query().map(str::to_owned);
    upgrade
        .protocols([PROTOCOL])
        .read_buffer_size(READ_BUFFER)
        // Each message goes out as it is sent: nothing is held back.
        .write_buffer_size(0)
        .on_upgrade(move |socket| serve(state, headers, query, socket))
}

async fn serve(state: AppState, headers: HeaderMap, query: Option<String>, mut socket: WebSocket) {
    let request_id = Trace::start(&headers).id;
    let mut closing = state.live.closing();
    let mut connection = Connection::new(state, headers, query, request_id);
    let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
    tokio::pin!(init_deadline);
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    let close = loop {
        let step = tokio::select! {
            message = socket.next() => read(&mut connection, message),
            Some(outgoing) = connection.operations.next() => match outgoing {
                Outgoing::Send(message) => Step::Send(message),
                Outgoing::Over(id, serial) => {
                    connection.over(&id, serial);
                    Step::Go
                }
            },
            _ = heartbeat.tick() => Step::Send(Message::Ping(Default::default())),
            _ = closing.wait_for(|closing| *closing) => Step::ShutDown,
            _ = &mut init_deadline, if !connection.acknowledged() => {
                break Some((4408, "Connection initialisation timeout".to_string()));
            }
        };
        match step {
            Step::Go => {}
            Step::Send(message) => {
                if !send(&mut socket, message).await {
                    return;
                }
            }
            Step::Close(close) => break close,
            Step::ShutDown => break shut_down(&mut connection, &mut socket).await,
        }
    };
    // Operations end with the connection (their subscriptions leave).
    drop(connection);
    match close {
        Some((code, reason)) => close_and_wait(socket, code, reason).await,
        // The client closed: the library queued the Close frame that
        // answers it; flushing sends it.
        None => {
            let _ = tokio::time::timeout(CLOSE_WAIT, socket.close()).await;
        }
    }
}

/// What the connection does next.
enum Step {
    Go,
    Send(Message),
    /// Close with this code, or `None`: the client closed (or vanished).
    Close(Option<Close>),
    /// The server shuts down.
    ShutDown,
}

fn read(connection: &mut Connection, message: Option<Result<Message, axum::Error>>) -> Step {
    let outcome = match message {
        Some(Ok(Message::Text(text))) => connection.handle(text.as_str()),
        Some(Ok(Message::Binary(_))) => Err(invalid("messages are JSON text")),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(None),
        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Step::Close(None),
    };
    match outcome {
        Ok(Some(answer)) => Step::Send(Message::Text(answer.to_string().into())),
        Ok(None) => Step::Go,
        Err(close) => Step::Close(Some(close)),
    }
}

/// Sends one message; false when the client is gone or stopped reading.
async fn send(socket: &mut WebSocket, message: Message) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// The server shuts down: every subscription completes (`complete`),
/// then the connection closes with 1001.
async fn shut_down(connection: &mut Connection, socket: &mut WebSocket) -> Option<Close> {
    let drain = async {
        while let Some(outgoing) = connection.operations.next().await {
            if let Outgoing::Send(message) = outgoing {
                if !send(socket, message).await {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
    Some((1001, "the server is shutting down".to_string()))
}

/// Sends the server's Close frame, then reads until the client's answer
/// (or its end of the connection), a moment at most.
async fn close_and_wait(mut socket: WebSocket, code: u16, reason: String) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if !send(&mut socket, Message::Close(Some(frame))).await {
        return;
    }
    let answered = async {
        while let Some(Ok(message)) = socket.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, answered).await;
}
