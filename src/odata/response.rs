//! Decoding OData JSON responses: collection pages, single entities, errors.

use serde_json::{Map, Value};
use std::sync::Arc;

/// One upstream row, as sent (snake_case keys).
pub type Row = Map<String, Value>;

/// Rows are shared, never copied: the cache, every caller of the same answer
/// and every parent of a related row hold the same `Arc`.
#[derive(Debug, Default, PartialEq)]
pub struct CollectionPage {
    pub rows: Vec<Arc<Row>>,
    pub count: Option<i64>,
    pub next_link: Option<String>,
}

/// Reads `{"value": [...], "@odata.count": n, "@odata.nextLink": "..."}`.
pub fn decode_collection(body: &[u8]) -> Result<CollectionPage, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON ({e})"))?;
    let Value::Object(mut doc) = doc else {
        return Err("expected a JSON object".into());
    };
    let rows = match doc.remove("value") {
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::Object(row) => Ok(Arc::new(row)),
                other => Err(format!("expected rows to be objects, got {}", kind(&other))),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => {
            return Err(format!(
                "expected \"value\" to be an array, got {}",
                kind(&other)
            ))
        }
        None => return Err("missing \"value\" array".into()),
    };
    let count = match doc.get("@odata.count") {
        None | Some(Value::Null) => None,
        Some(v) => Some(lenient_i64(v).ok_or("\"@odata.count\" is not a number")?),
    };
    let next_link = doc
        .get("@odata.nextLink")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(CollectionPage {
        rows,
        count,
        next_link,
    })
}

/// Reads a single entity (`Conversation(7)`): the object itself, without the
/// `@odata.*` annotations.
pub fn decode_entity(body: &[u8]) -> Result<Row, String> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(mut row)) => {
            row.retain(|k, _| !k.starts_with('@'));
            Ok(row)
        }
        Ok(other) => Err(format!("expected a JSON object, got {}", kind(&other))),
        Err(e) => Err(format!("not JSON ({e})")),
    }
}

/// The message of an OData error body (`{"error":{"message":...}}`, where the
/// message may also be `{"value": ...}`), or the start of a plain-text body.
pub fn error_message(body: &[u8]) -> String {
    let from_json = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        let msg = v.get("error")?.get("message")?;
        match msg {
            Value::String(s) => Some(s.clone()),
            other => other
                .get("value")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }
    });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    truncate(&text, 500)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// An integer, sent as a number (a whole float too) or as text.
pub fn lenient_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A finite number, sent as a number or as text.
pub fn lenient_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        _ => None,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_rows_count_and_next_link() {
        let page = decode_collection(
            br#"{"@odata.context":"$metadata#X","@odata.count":"12","value":[{"id":1}],"@odata.nextLink":"X?$skip=1"}"#,
        )
        .unwrap_or_default();
        assert_eq!(page.rows.len(), 1);
        assert_eq!(page.count, Some(12));
        assert_eq!(page.next_link.as_deref(), Some("X?$skip=1"));
    }

    #[test]
    fn rejects_garbage_with_a_reason() {
        assert!(decode_collection(b"<html>oops</html>").is_err());
        assert!(decode_collection(br#"{"value": 3}"#).is_err());
        assert!(decode_collection(br#"{"value": [1]}"#).is_err());
        assert!(decode_collection(br#"[]"#).is_err());
    }

    #[test]
    fn reads_odata_error_messages() {
        assert_eq!(
            error_message(br#"{"error":{"code":"400","message":"Property 'x' not found"}}"#),
            "Property 'x' not found"
        );
        assert_eq!(
            error_message(br#"{"error":{"code":"400","message":{"lang":"en","value":"bad"}}}"#),
            "bad"
        );
        assert_eq!(error_message(b"Bad Gateway"), "Bad Gateway");
    }
}
