//! The graphql-transport-ws messages a client sends, and what each does to
//! its connection: `connection_init` (its payload may carry
//! `Authorization`, `x-api-key`, `apikey` and `Cache-Control`, over the
//! upgrade request's own), `ping`, `pong`, `subscribe` and `complete`.

use super::ws_operation;
use crate::error::GatewayError;
use crate::server::pipeline::identity;
use crate::server::pipeline::params::RawParams;
use crate::server::state::AppState;
use crate::upstream::Caller;
use axum::extract::ws::Message;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use futures::future;
use futures::stream::{self, AbortHandle, Abortable, BoxStream, SelectAll, StreamExt};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// A protocol error: the close code and reason.
pub type Close = (u16, String);

pub fn invalid(why: &str) -> Close {
    (4400, format!("Invalid message: {why}"))
}

/// An operation's messages, then its id and serial number when it is over.
pub enum Outgoing {
    Send(Message),
    Over(Arc<str>, u64),
}

pub struct Connection {
    state: AppState,
    /// The upgrade request's headers and query string, until
    /// `connection_init` has used them.
    upgrade: Option<(HeaderMap, Option<String>)>,
    request_id: Arc<str>,
    /// Set by an accepted `connection_init`.
    caller: Option<Caller>,
    /// The running operations by id, with their serial numbers (an id
    /// may be used again once its operation is over).
    running: HashMap<Arc<str>, (u64, AbortHandle)>,
    started: u64,
    /// Every running operation's messages, polled by the connection's task.
    pub operations: SelectAll<BoxStream<'static, Outgoing>>,
}

impl Connection {
    pub fn new(
        state: AppState,
        headers: HeaderMap,
        query: Option<String>,
        request_id: Arc<str>,
    ) -> Connection {
        Connection {
            state,
            upgrade: Some((headers, query)),
            request_id,
            caller: None,
            running: HashMap::new(),
            started: 0,
            operations: SelectAll::new(),
        }
    }

    pub fn acknowledged(&self) -> bool {
        self.caller.is_some()
    }

    /// An operation is over: its id may be used again.
    pub fn over(&mut self, id: &str, serial: u64) {
        if self.running.get(id).is_some_and(|(s, _)| *s == serial) {
            self.running.remove(id);
        }
    }

    /// Handles one text message; an answer to send, or the close.
    pub fn handle(&mut self, text: &str) -> Result<Option<Value>, Close> {
        let message: Map<String, Value> =
            serde_json::from_str(text).map_err(|_| invalid("not a JSON object"))?;
        match message.get("type").and_then(Value::as_str) {
            Some("connection_init") => self.init(&message).map(Some),
            Some("ping") => Ok(Some(serde_json::json!({"type": "pong"}))),
            Some("pong") => Ok(None),
            Some("subscribe") => self.subscribe(&message).map(|()| None),
            Some("complete") => {
                let id = operation_id(&message)?;
                if let Some((_, operation)) = self.running.remove(id.as_str()) {
                    operation.abort();
                }
                Ok(None)
            }
            _ => Err(invalid("unknown type")),
        }
    }

    fn init(&mut self, message: &Map<String, Value>) -> Result<Value, Close> {
        let Some((headers, query)) = self.upgrade.take() else {
            return Err((4429, "Too many initialisation requests".into()));
        };
        let payload = match message.get("payload") {
            None | Some(Value::Null) => None,
            Some(Value::Object(p)) => Some(p),
            Some(_) => return Err(invalid("the payload must be an object")),
        };
        let caller = self
            .identify(headers, query, payload)
            .map_err(|e| (4403, format!("Forbidden: {}", e.message())))?;
        self.caller = Some(caller);
        Ok(serde_json::json!({"type": "connection_ack"}))
    }

    fn subscribe(&mut self, message: &Map<String, Value>) -> Result<(), Close> {
        let caller = self
            .caller
            .clone()
            .ok_or_else(|| (4401, "Unauthorized".to_string()))?;
        let id = operation_id(message)?;
        let raw: RawParams = match message.get("payload") {
            Some(payload @ Value::Object(_)) => serde_json::from_value(payload.clone())
                .map_err(|_| invalid("the payload is not GraphQL parameters"))?,
            _ => return Err(invalid("subscribe needs a payload object")),
        };
        if self.running.contains_key(id.as_str()) {
            return Err((4409, format!("Subscriber for {id} already exists")));
        }
        let id: Arc<str> = Arc::from(id);
        let messages = ws_operation::messages(self.state.clone(), &id, raw, caller);
        let (abort, registration) = AbortHandle::new_pair();
        self.started += 1;
        let over = stream::once(future::ready(Outgoing::Over(id.clone(), self.started)));
        let tagged = Abortable::new(messages, registration).map(Outgoing::Send);
        self.operations.push(tagged.chain(over).boxed());
        self.running.insert(id, (self.started, abort));
        Ok(())
    }

    /// The upgrade request's identity, with the `connection_init`
    /// payload's headers (at its top level or under `headers`) over it.
    fn identify(
        &self,
        mut headers: HeaderMap,
        mut query: Option<String>,
        payload: Option<&Map<String, Value>>,
    ) -> Result<Caller, GatewayError> {
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
                "cache-control" => {
                    headers.insert(header::CACHE_CONTROL, header_value);
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
            self.state.access.current().service.as_ref(),
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
