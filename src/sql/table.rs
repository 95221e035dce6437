//! The tables of a local copy of the account, from the model: per
//! collection, the columns aggregates group, measure and filter on, and
//! how an upstream value is stored in them. Free text, JSON, lists and
//! personal data stay upstream; an aggregate that needs them is not
//! answered from a copy.

use super::statement::{Cell, Kind};
use crate::model::{entity, ApiVersion, Doc, Entity, Field, FieldType, KEY};
use crate::odata::dates::parse_date_time;
use crate::odata::response::{lenient_f64, lenient_i64};
use crate::odata::Row;
use serde_json::Value as Json;
use std::sync::Arc;

pub fn kind(field: &Field) -> Option<Kind> {
    match field.ty {
        FieldType::Int | FieldType::Enum(_) | FieldType::Boolean | FieldType::DateTime => {
            Some(Kind::Int)
        }
        FieldType::Float => Some(Kind::Real),
        // Grouped text (statuses, names of events): short and few values.
        FieldType::String if field.groupable => Some(Kind::Text),
        _ => None,
    }
}

/// The stored form of an upstream value; what cannot be read is null,
/// as the scan path would not count it either.
pub fn cell(field: &Field, raw: Option<&Json>) -> Cell {
    let Some(raw) = raw.filter(|v| !v.is_null()) else {
        return Cell::Null;
    };
    let stored = match field.ty {
        FieldType::Int | FieldType::Enum(_) => lenient_i64(raw).map(Cell::Int),
        FieldType::Boolean => match raw {
            Json::Bool(b) => Some(Cell::Int(i64::from(*b))),
            Json::Number(n) => n.as_i64().filter(|i| *i == 0 || *i == 1).map(Cell::Int),
            _ => None,
        },
        FieldType::DateTime => raw
            .as_str()
            .and_then(parse_date_time)
            .map(|t| Cell::Int(t.timestamp_micros())),
        FieldType::Float => lenient_f64(raw).map(Cell::Real),
        _ => Some(match raw {
            Json::String(s) => Cell::Text(s.clone()),
            other => Cell::Text(other.to_string()),
        }),
    };
    stored.unwrap_or(Cell::Null)
}

/// A replicated collection.
#[derive(Debug, Clone)]
pub struct Table {
    pub entity: &'static Entity,
    /// `la_<collection>`: fixed words from the model, never user input.
    pub name: String,
    /// The key first.
    pub columns: Vec<&'static Field>,
    /// Read in full at every sync (small), or by `updated_at` after a backfill.
    pub incremental: bool,
}

/// Collections read by `updated_at`; the others are small and read whole.
const INCREMENTAL: [&str; 3] = ["Conversation", "Message", "ReportingEvent"];
const WHOLE: [&str; 3] = ["Inbox", "Label", "User"];

impl Table {
    pub fn column(&self, odata: &str) -> Option<&'static Field> {
        self.columns.iter().find(|f| f.odata == odata).copied()
    }

    pub fn kinds(&self) -> Vec<Kind> {
        self.columns.iter().filter_map(|f| kind(f)).collect()
    }

    pub fn has(&self, odata: &str) -> bool {
        self.column(odata).is_some()
    }

    /// Upstream rows as stored, in `columns` order; those without an id
    /// left out.
    pub fn stored(&self, rows: &[Arc<Row>]) -> Vec<Vec<Cell>> {
        rows.iter()
            .map(|row| {
                self.columns
                    .iter()
                    .map(|f| cell(f, row.get(f.odata)))
                    .collect::<Vec<_>>()
            })
            .filter(|r| matches!(r.first(), Some(Cell::Int(_))))
            .collect()
    }
}

/// Every replicated collection for an endpoint version: the documented
/// columns only (older v1.0 extras may be missing upstream).
pub fn tables(version: ApiVersion) -> Vec<Table> {
    INCREMENTAL
        .iter()
        .map(|n| (n, true))
        .chain(WHOLE.iter().map(|n| (n, false)))
        .filter_map(|(name, incremental)| {
            let entity = entity(name)?;
            let mut columns: Vec<&'static Field> = entity
                .fields_for(version, false)
                .filter(|f| f.doc(version) == Doc::Current && kind(f).is_some())
                .collect();
            columns.sort_by_key(|f| f.odata != KEY);
            Some(Table {
                entity,
                name: format!("la_{}", name.to_ascii_lowercase()),
                columns,
                incremental,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_keep_the_columns_aggregates_use() {
        let tables = tables(ApiVersion::V1_1);
        assert_eq!(tables.len(), 6);
        let message = tables
            .iter()
            .find(|t| t.entity.name == "Message")
            .expect("Message");
        assert_eq!(message.columns[0].odata, "id");
        for kept in [
            "created_at",
            "updated_at",
            "message_type",
            "sender_id",
            "private",
            "account_id",
        ] {
            assert!(message.has(kept), "{kept}");
        }
        assert!(!message.has("content"), "free text stays upstream");
        assert!(message.incremental);
        let events = tables
            .iter()
            .find(|t| t.entity.name == "ReportingEvent")
            .expect("events");
        assert!(events.has("name") && events.has("value"));
    }

    #[test]
    fn values_are_stored_as_the_scan_reads_them() {
        let e = entity("Message").expect("Message");
        let f = |n| e.field(n).expect("field");
        assert_eq!(cell(f("id"), Some(&json!("7"))), Cell::Int(7));
        assert_eq!(cell(f("private"), Some(&json!(true))), Cell::Int(1));
        assert_eq!(
            cell(f("created_at"), Some(&json!("1970-01-01T00:00:01.5Z"))),
            Cell::Int(1_500_000)
        );
        assert_eq!(cell(f("created_at"), Some(&json!("garbage"))), Cell::Null);
        assert_eq!(cell(f("sender_id"), None), Cell::Null);
        let table = tables(ApiVersion::V1_1)
            .into_iter()
            .find(|t| t.entity.name == "Message")
            .expect("Message");
        let rows: Vec<Arc<Row>> = [json!({"id": "3", "private": false}), json!({"id": null})]
            .iter()
            .filter_map(|r| r.as_object().cloned().map(Arc::new))
            .collect();
        let stored = table.stored(&rows);
        assert_eq!(stored.len(), 1, "a row without an id is left out");
        assert_eq!(stored[0][0], Cell::Int(3));
        assert_eq!(stored[0].len(), table.columns.len());
    }
}
