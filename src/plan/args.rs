//! The paging arguments, one reader each, shared by root lists, relations
//! and aggregates: `first`, `after`/`offset`, and the cursors `after` takes.

use crate::error::GatewayError;
use async_graphql::{Name, Value};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use indexmap::IndexMap;

/// Page size of root lists and relation connections without `first`.
pub const DEFAULT_FIRST: i64 = 50;

pub type Args = IndexMap<Name, Value>;

/// `first`, from 0 up to `cap`; `None` when not given. `cap_key` names the
/// setting in the error, so the client knows which limit it met.
pub fn read_first(args: &Args, cap: u64, cap_key: &str) -> Result<Option<u64>, GatewayError> {
    match int(args, "first")? {
        None => Ok(None),
        Some(n) if n < 0 => Err(GatewayError::bad_input(format!(
            "`first` must be between 0 and {cap}, got {n}"
        ))),
        Some(n) if n as u64 > cap => Err(GatewayError::bad_input(format!(
            "`first` is {n}, above the cap of {cap} ({cap_key}); page with `after`"
        ))),
        Some(n) => Ok(Some(n as u64)),
    }
}

/// Position of the first row asked: after the `after` cursor, or `offset`.
pub fn read_start(args: &Args) -> Result<u64, GatewayError> {
    let offset = int(args, "offset")?;
    let after = match args.get("after") {
        Some(Value::String(cursor)) => Some(decode_cursor(cursor)?),
        Some(Value::Null) | None => None,
        Some(_) => return Err(GatewayError::bad_input("`after` must be a string")),
    };
    match (after, offset) {
        (Some(_), Some(_)) => Err(GatewayError::bad_input(
            "give either `after` or `offset`, not both",
        )),
        (Some(position), None) => Ok(position.saturating_add(1)),
        (None, Some(o)) if o < 0 => Err(GatewayError::bad_input(format!(
            "`offset` must be 0 or more, got {o}"
        ))),
        (None, Some(o)) => Ok(o as u64),
        (None, None) => Ok(0),
    }
}

fn int(args: &Args, name: &str) -> Result<Option<i64>, GatewayError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| GatewayError::bad_input(format!("`{name}` must be an integer"))),
        Some(_) => Err(GatewayError::bad_input(format!(
            "`{name}` must be an integer"
        ))),
    }
}

/// Cursors are opaque and positional: every order ends in `id`, so a
/// position names the same row as long as the data stands still.
pub fn encode_cursor(position: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("pos:{position}"))
}

pub fn decode_cursor(cursor: &str) -> Result<u64, GatewayError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("pos:")?.parse().ok())
        .ok_or_else(|| GatewayError::bad_input("`after` is not a cursor returned by this API"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, Value)]) -> Args {
        pairs
            .iter()
            .map(|(k, v)| (Name::new(k), v.clone()))
            .collect()
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(41)), Ok(41));
        assert!(decode_cursor("bm9wZQ").is_err());
        assert!(decode_cursor("%%%").is_err());
    }

    #[test]
    fn first_is_bounded_on_both_sides() {
        let first = |n: i64| read_first(&args(&[("first", Value::from(n))]), 10, "max_first");
        assert_eq!(first(0), Ok(Some(0)));
        assert_eq!(first(10), Ok(Some(10)));
        assert_eq!(first(-1).map_err(|e| e.code()), Err("BAD_USER_INPUT"));
        let above = first(11).expect_err("above the cap");
        assert!(above.to_string().contains("max_first"));
        assert_eq!(read_first(&args(&[]), 10, "max_first"), Ok(None));
    }

    #[test]
    fn start_comes_from_after_or_offset_never_both() {
        let cursor = Value::from(encode_cursor(9));
        assert_eq!(read_start(&args(&[("after", cursor.clone())])), Ok(10));
        assert_eq!(read_start(&args(&[("offset", Value::from(4))])), Ok(4));
        assert!(read_start(&args(&[("after", cursor), ("offset", Value::from(4))])).is_err());
        assert!(read_start(&args(&[("offset", Value::from(-4))])).is_err());
    }

    proptest::proptest! {
        #[test]
        fn cursors_decode_without_panicking_and_round_trip(
            text in proptest::prelude::any::<String>(),
            position in proptest::prelude::any::<u64>(),
        ) {
            let _ = decode_cursor(&text);
            proptest::prop_assert_eq!(decode_cursor(&encode_cursor(position)).ok(), Some(position));
        }
    }
}
