//! Groups and their keys. A key holds the grouped values normalised one
//! way, as the copy of the account stores them (`sql::cell`), so that the
//! same value read from scanned rows, from `$apply` output or from SQL
//! gives the same key.

use crate::model::{Field, FieldType};
use crate::sql::{cell, Cell};
use chrono::{DateTime, Utc};
use serde_json::Value as Json;

/// One grouped value. Nulls sort first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyPart {
    Null,
    Bool(bool),
    Int(i64),
    /// Text columns, and any value of another column that is not of its
    /// type (decoding reports it when the key is shown).
    Text(String),
}

impl KeyPart {
    /// An upstream value of `field`.
    pub fn read(field: &Field, raw: Option<&Json>) -> KeyPart {
        match (KeyPart::from_cell(field, cell(field, raw)), raw) {
            // Not of the column's type: kept as text, reported when shown.
            (KeyPart::Null, Some(Json::String(s))) => KeyPart::Text(s.clone()),
            (KeyPart::Null, Some(other)) if !other.is_null() => KeyPart::Text(other.to_string()),
            (key, _) => key,
        }
    }

    /// A stored value of `field`.
    pub fn from_cell(field: &Field, cell: Cell) -> KeyPart {
        match cell {
            Cell::Int(i) if field.ty == FieldType::Boolean => KeyPart::Bool(i != 0),
            Cell::Int(i) => KeyPart::Int(i),
            Cell::Text(s) => KeyPart::Text(s),
            Cell::Real(f) => KeyPart::Text(f.to_string()),
            Cell::Null => KeyPart::Null,
        }
    }

    /// The value as upstream would send it, for the usual decoding.
    pub fn to_json(&self) -> Json {
        match self {
            KeyPart::Null => Json::Null,
            KeyPart::Bool(b) => Json::Bool(*b),
            KeyPart::Int(i) => Json::from(*i),
            KeyPart::Text(s) => Json::String(s.clone()),
        }
    }
}

/// One result group. `distinct` and `numbers` follow `Spec::distinct` and
/// `Spec::numbers`.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub key: Vec<KeyPart>,
    pub bucket: Option<DateTime<Utc>>,
    pub count: u64,
    pub distinct: Vec<u64>,
    pub numbers: Vec<Option<f64>>,
}

impl Group {
    pub fn number(&self, i: usize) -> Option<f64> {
        self.numbers.get(i).copied().flatten()
    }
}

/// The middle value, or the mean of the two middle values.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::entity;
    use serde_json::json;

    #[test]
    fn keys_are_normalised_one_way() {
        let e = entity("Message").expect("Message");
        let f = |n| e.field(n).expect("field");
        assert_eq!(
            KeyPart::read(f("inbox_id"), Some(&json!("7"))),
            KeyPart::Int(7)
        );
        assert_eq!(
            KeyPart::read(f("inbox_id"), Some(&json!(7.0))),
            KeyPart::Int(7)
        );
        assert_eq!(
            KeyPart::read(f("private"), Some(&json!(1))),
            KeyPart::Bool(true)
        );
        assert_eq!(
            KeyPart::read(f("inbox_id"), Some(&json!("x"))),
            KeyPart::Text("x".into())
        );
        assert_eq!(KeyPart::read(f("inbox_id"), None), KeyPart::Null);
        assert_eq!(
            KeyPart::from_cell(f("private"), Cell::Int(0)),
            KeyPart::read(f("private"), Some(&json!(false)))
        );
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
