//! The `DateTime` and `JSON` scalars, and decoding of upstream values into
//! GraphQL values, leniently: real upstreams send numbers as strings, JSON
//! columns as text and dates without a zone.

use crate::model::FieldType;
use crate::odata::dates::{format_date_time, parse_date_time};
use crate::odata::response::lenient_i64;
use async_graphql::dynamic::Scalar;
use async_graphql::{Name, Value};
use serde_json::Value as Json;

/// The name of the `DateTime` scalar.
pub const DATE_TIME: &str = "DateTime";

pub fn date_time_scalar() -> Scalar {
    Scalar::new(DATE_TIME)
        .description("A point in time, RFC 3339 (e.g. 2025-03-30T01:30:00.000Z). Output is UTC with Z; input may carry any offset.")
        .specified_by_url("https://datatracker.ietf.org/doc/html/rfc3339")
        .validator(|v| matches!(v, Value::String(s) if parse_date_time(s).is_some()))
}

pub fn json_scalar() -> Scalar {
    Scalar::new("JSON")
        .description("Any JSON value (objects stored upstream as JSON text are parsed).")
}

/// Decodes one upstream value; `Err` holds a message naming the raw value.
pub fn decode(ty: FieldType, raw: &Json) -> Result<Value, String> {
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let unexpected = |what: &str| format!("expected {what}, upstream sent {raw}");
    match ty {
        FieldType::Int => lenient_i64(raw)
            .map(Value::from)
            .ok_or_else(|| unexpected("an integer")),
        FieldType::Float => lenient_f64(raw)
            .map(Value::from)
            .ok_or_else(|| unexpected("a number")),
        FieldType::String => Ok(Value::String(match raw {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        })),
        FieldType::Boolean => match raw {
            Json::Bool(b) => Ok(Value::Boolean(*b)),
            Json::Number(n) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                Ok(Value::Boolean(n.as_i64() == Some(1)))
            }
            Json::String(s) if s == "true" || s == "false" => Ok(Value::Boolean(s == "true")),
            _ => Err(unexpected("a boolean")),
        },
        FieldType::DateTime => raw
            .as_str()
            .and_then(parse_date_time)
            .map(|d| Value::String(format_date_time(&d)))
            .ok_or_else(|| unexpected("a date")),
        FieldType::Json => Ok(match raw {
            Json::String(s) => match serde_json::from_str::<Json>(s) {
                Ok(parsed) => Value::from_json(parsed).unwrap_or(Value::Null),
                Err(_) => Value::String(s.clone()),
            },
            other => Value::from_json(other.clone()).unwrap_or(Value::Null),
        }),
        FieldType::Enum(def) => {
            let number = lenient_i64(raw).ok_or_else(|| unexpected("an enum number"))?;
            def.name_of(number)
                .map(|name| Value::Enum(Name::new(name)))
                .ok_or_else(|| {
                    format!(
                        "upstream sent {number}, which is not a known {} value",
                        def.name
                    )
                })
        }
        FieldType::IntList => {
            let parsed;
            let items = match raw {
                Json::Array(items) => items,
                Json::String(s) => {
                    parsed = serde_json::from_str::<Json>(s)
                        .map_err(|_| unexpected("a list of integers"))?;
                    parsed
                        .as_array()
                        .ok_or_else(|| unexpected("a list of integers"))?
                }
                _ => return Err(unexpected("a list of integers")),
            };
            items
                .iter()
                .map(|v| lenient_i64(v).map(Value::from))
                .collect::<Option<Vec<_>>>()
                .map(Value::List)
                .ok_or_else(|| unexpected("a list of integers"))
        }
    }
}

fn lenient_f64(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CONVERSATION_STATUS;
    use serde_json::json;

    #[test]
    fn both_date_forms_come_out_as_utc_rfc3339() {
        assert_eq!(
            decode(FieldType::DateTime, &json!("2021-12-11 12:41:26.745")),
            Ok(Value::from("2021-12-11T12:41:26.745Z"))
        );
        assert_eq!(
            decode(FieldType::DateTime, &json!("2023-01-19T14:31:18.553+01:00")),
            Ok(Value::from("2023-01-19T13:31:18.553Z"))
        );
        assert!(decode(FieldType::DateTime, &json!("yesterday")).is_err());
    }

    #[test]
    fn json_columns_parse_text_or_pass_objects() {
        let expected = Value::from_json(json!({"a": [1]})).unwrap_or(Value::Null);
        assert_eq!(
            decode(FieldType::Json, &json!("{\"a\":[1]}")),
            Ok(expected.clone())
        );
        assert_eq!(decode(FieldType::Json, &json!({"a": [1]})), Ok(expected));
        assert_eq!(
            decode(FieldType::Json, &json!("not json")),
            Ok(Value::from("not json"))
        );
    }

    #[test]
    fn numbers_are_lenient() {
        assert_eq!(
            decode(FieldType::Int, &json!(3_000_000_000i64)),
            Ok(Value::from(3_000_000_000i64))
        );
        assert_eq!(decode(FieldType::Int, &json!("42")), Ok(Value::from(42)));
        assert_eq!(decode(FieldType::Float, &json!(12)), Ok(Value::from(12.0)));
        assert_eq!(
            decode(FieldType::Float, &json!("37.5")),
            Ok(Value::from(37.5))
        );
        assert!(decode(FieldType::Int, &json!("x")).is_err());
    }

    #[test]
    fn unknown_enum_values_are_errors_naming_the_value() {
        let ty = FieldType::Enum(&CONVERSATION_STATUS);
        assert_eq!(
            decode(ty, &json!(1)),
            Ok(Value::Enum(Name::new("RESOLVED")))
        );
        let err = decode(ty, &json!(7)).expect_err("7 is not a status");
        assert!(
            err.contains('7') && err.contains("ConversationStatus"),
            "{err}"
        );
    }

    #[test]
    fn int_lists_accept_arrays_and_json_text() {
        let expected = Value::List(vec![Value::from(1), Value::from(2)]);
        assert_eq!(
            decode(FieldType::IntList, &json!([1, 2])),
            Ok(expected.clone())
        );
        assert_eq!(decode(FieldType::IntList, &json!("[1,2]")), Ok(expected));
    }
}
