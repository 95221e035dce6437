//! Execution results as the JSON text both transports send: serialized
//! once per result, whatever the number of subscribers.

use async_graphql::ServerError;
use serde_json::{Map, Value};
use std::sync::Arc;

pub fn of_response(response: &async_graphql::Response) -> Arc<str> {
    let mut body = Map::new();
    body.insert("data".into(), to_json(&response.data));
    if !response.errors.is_empty() {
        body.insert("errors".into(), to_json(&response.errors));
    }
    if !response.extensions.is_empty() {
        body.insert("extensions".into(), to_json(&response.extensions));
    }
    Arc::from(Value::Object(body).to_string())
}

pub fn of_errors(errors: Vec<ServerError>) -> Arc<str> {
    Arc::from(serde_json::json!({ "errors": errors }).to_string())
}

fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
