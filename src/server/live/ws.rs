//! GraphQL over WebSocket, `graphql-transport-ws` protocol: the client
//! sends `connection_init` (its payload may carry `Authorization`,
//! `x-api-key` or `apikey`, over the upgrade request's own), then any
//! number of `subscribe` and `complete`; the server answers
//! `connection_ack`, then `next`, `error` and `complete` per operation.
//! Protocol errors close the connection with the protocol's codes (4400
//! invalid message, 4401 subscribe before ack, 4403 refused credential,
//! 4408 no `connection_init` in time, 4409 duplicate id, 4429 second
//! `connection_init`); other connections are not affected.

use super::heartbeat::HEARTBEAT;
use super::start::{start, Started};
use crate::live::LiveEvent;
use crate::server::pipeline::identity;
use crate::server::pipeline::params::RawParams;
use crate::server::request_log::Trace;
use crate::server::state::AppState;
use crate::upstream::Caller;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::WebSocketUpgrade;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const PROTOCOL: &str = "graphql-transport-ws";

/// Time from the upgrade to `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Messages waiting for the socket. Bounded: when the client reads too
/// slowly, operations wait here and their cohorts drop them.
const OUTGOING: usize = 64;

/// A protocol error: the close code and reason.
type Close = (u16, String);

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
        .on_upgrade(move |socket| serve(state, headers, query, socket))
}

async fn serve(state: AppState, headers: HeaderMap, query: Option<String>, socket: WebSocket) {
    let (mut sink, mut incoming) = socket.split();
    let (out, mut outgoing) = mpsc::channel::<Message>(OUTGOING);
    tokio::spawn(async move {
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;
        loop {
            let message = tokio::select! {
                message = outgoing.recv() => match message {
                    Some(message) => message,
                    None => break,
                },
                _ = heartbeat.tick() => Message::Ping(Default::default()),
            };
            let closing = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
    });
    let mut connection = Connection {
        request_id: Trace::start(&headers).id,
        state,
        headers,
        query,
        out: out.clone(),
        caller: None,
        operations: HashMap::new(),
    };
    let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
    tokio::pin!(init_deadline);
    let mut closing = connection.state.live.closing();
    let mut shutting_down = false;
    let close = loop {
        let message = tokio::select! {
            message = incoming.next() => message,
            changed = closing.wait_for(|closing| *closing) => {
                drop(changed);
                shutting_down = true;
                break Some((1001, "the server is shutting down".to_string()));
            }
            _ = &mut init_deadline, if connection.caller.is_none() => {
                break Some((4408, "Connection initialisation timeout".to_string()));
            }
        };
        let outcome = match message {
            Some(Ok(Message::Text(text))) => connection.handle(text.as_str()).await,
            Some(Ok(Message::Binary(_))) => Err(invalid("messages are JSON text")),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
        };
        if let Err(close) = outcome {
            break Some(close);
        }
    };
    for (_, operation) in connection.operations.drain() {
        if shutting_down {
            // The operations complete (their subscriptions ended), then
            // the connection closes.
            let _ = tokio::time::timeout(Duration::from_secs(1), operation).await;
        } else {
            operation.abort();
        }
    }
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = out.send(Message::Close(Some(frame))).await;
    }
}

struct Connection {
    state: AppState,
    /// The upgrade request's headers and query string.
    headers: HeaderMap,
    query: Option<String>,
    request_id: Arc<str>,
    out: mpsc::Sender<Message>,
    /// Set by an accepted `connection_init`.
    caller: Option<Caller>,
    operations: HashMap<String, JoinHandle<()>>,
}

fn invalid(why: &str) -> Close {
    (4400, format!("Invalid message: {why}"))
}

impl Connection {
    async fn send(&self, message: Value) {
        let _ = self
            .out
            .send(Message::Text(message.to_string().into()))
            .await;
    }

    async fn handle(&mut self, text: &str) -> Result<(), Close> {
        let message: Map<String, Value> =
            serde_json::from_str(text).map_err(|_| invalid("not a JSON object"))?;
        let kind = message.get("type").and_then(Value::as_str);
        match kind {
            Some("connection_init") => {
                if self.caller.is_some() {
                    return Err((4429, "Too many initialisation requests".into()));
                }
                let payload = match message.get("payload") {
                    None | Some(Value::Null) => None,
                    Some(Value::Object(p)) => Some(p),
                    Some(_) => return Err(invalid("the payload must be an object")),
                };
                let caller = self
                    .identify(payload)
                    .map_err(|e| (4403, format!("Forbidden: {}", e.message())))?;
                self.caller = Some(caller);
                self.send(serde_json::json!({"type": "connection_ack"}))
                    .await;
            }
            Some("ping") => self.send(serde_json::json!({"type": "pong"})).await,
            Some("pong") => {}
            Some("subscribe") => {
                let caller = self
                    .caller
                    .clone()
                    .ok_or_else(|| (4401, "Unauthorized".to_string()))?;
                let id = operation_id(&message)?;
                let raw: RawParams = match message.get("payload") {
                    Some(payload @ Value::Object(_)) => serde_json::from_value(payload.clone())
                        .map_err(|_| invalid("the payload is not GraphQL parameters"))?,
                    _ => return Err(invalid("subscribe needs a payload object")),
                };
                self.operations.retain(|_, op| !op.is_finished());
                if self.operations.contains_key(&id) {
                    return Err((4409, format!("Subscriber for {id} already exists")));
                }
                let task = operate(
                    self.state.clone(),
                    id.clone(),
                    raw,
                    caller,
                    self.out.clone(),
                );
                self.operations.insert(id, tokio::spawn(task));
            }
            Some("complete") => {
                let id = operation_id(&message)?;
                if let Some(operation) = self.operations.remove(&id) {
                    operation.abort();
                }
            }
            _ => return Err(invalid("unknown type")),
        }
        Ok(())
    }

    /// The upgrade request's identity, with the `connection_init`
    /// payload's credential (at its top level or under `headers`) over it.
    fn identify(
        &self,
        payload: Option<&Map<String, Value>>,
    ) -> Result<Caller, crate::error::GatewayError> {
        let mut headers = self.headers.clone();
        let mut query = self.query.clone();
        let nested = payload
            .and_then(|p| p.get("headers"))
            .and_then(Value::as_object);
        let entries = payload.into_iter().chain(nested).flatten();
        for (name, value) in entries {
            let Some(value) = value.as_str() else {
                continue;
            };
            let Ok(header_value) = HeaderValue::from_str(value) else {
                continue;
            };
            match name.to_ascii_lowercase().as_str() {
                "authorization" => {
                    headers.insert(header::AUTHORIZATION, header_value);
                }
                "x-api-key" => {
                    headers.insert(HeaderName::from_static("x-api-key"), header_value);
                }
                "apikey" => {
                    headers.remove(header::AUTHORIZATION);
                    query = Some(
                        url::form_urlencoded::Serializer::new(String::new())
                            .append_pair("apikey", value)
                            .finish(),
                    );
                }
                _ => {}
            }
        }
        identity::identify(
            self.state.service.as_deref(),
            &headers,
            query.as_deref(),
            self.request_id.clone(),
        )
    }
}

fn operation_id(message: &Map<String, Value>) -> Result<String, Close> {
    match message.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        _ => Err(invalid("the id must be a non-empty string")),
    }
}

/// One operation: its results as `next`, then `complete`; an operation
/// that fails to start or ends early gets `error`.
async fn operate(
    state: AppState,
    id: String,
    raw: RawParams,
    caller: Caller,
    out: mpsc::Sender<Message>,
) {
    let id_json = Value::String(id).to_string();
    let message = |kind: &str, payload: &str| {
        Message::Text(format!(r#"{{"id":{id_json},"type":"{kind}","payload":{payload}}}"#).into())
    };
    let complete = Message::Text(format!(r#"{{"id":{id_json},"type":"complete"}}"#).into());
    match start(&state, raw, Ok(caller)).await {
        Err(error) => {
            let errors = serde_json::to_string(&error.into_errors()).unwrap_or_default();
            let _ = out.send(message("error", &errors)).await;
        }
        Ok(Started::Once(result)) => {
            if out.send(message("next", &result)).await.is_ok() {
                let _ = out.send(complete).await;
            }
        }
        Ok(Started::Live(mut subscription)) => {
            while let Some(event) = subscription.next().await {
                let sent = match event {
                    LiveEvent::Result(result) => out.send(message("next", &result)).await,
                    LiveEvent::Ended(error) => {
                        let errors =
                            Value::Array(vec![serde_json::to_value(error.into_server_error())
                                .unwrap_or(Value::Null)]);
                        let _ = out.send(message("error", &errors.to_string())).await;
                        return;
                    }
                };
                if sent.is_err() {
                    return;
                }
            }
            let _ = out.send(complete).await;
        }
    }
}
