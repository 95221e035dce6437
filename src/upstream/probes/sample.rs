//! The rows the probes ask about: the first conversations, read plainly,
//! in which each probe finds the row it needs (any row, one with a null
//! column, one with a plain text value and its date). A probe whose row
//! is missing cannot tell, and the capability keeps its preset value.

use super::ask::PROBED;
use crate::model::KEY;
use crate::odata::dates::parse_date_time;
use crate::odata::response::lenient_i64;
use crate::odata::{CollectionPage, CollectionQuery, OrderBy, Row};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Rows read: enough to meet an unassigned conversation.
const SAMPLE_ROWS: u64 = 100;
pub const DATE: &str = "created_at";
pub const TEXT: &str = "uuid";
/// Integer columns null in some rows (no assignee, no team).
const NULLABLE: [&str; 2] = ["assignee_id", "team_id"];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// The ids read, smallest first.
    pub ids: Vec<i64>,
    /// A row whose integer column is null.
    pub null: Option<(i64, &'static str)>,
    /// A row whose text has none of `%`, `_`, `\` and is not empty.
    pub text: Option<i64>,
    /// A row and its creation time.
    pub created: Option<(i64, DateTime<Utc>)>,
}

/// The sample read, at most `cap` rows.
pub fn query(cap: u64) -> CollectionQuery {
    let mut select = vec![KEY, DATE, TEXT];
    select.extend(NULLABLE);
    CollectionQuery::new(PROBED)
        .select(select)
        .order_by(vec![OrderBy {
            property: KEY,
            descending: false,
        }])
        .top(SAMPLE_ROWS.min(cap))
}

pub fn read(page: &CollectionPage) -> Sample {
    let rows: Vec<(i64, &Row)> = page
        .rows
        .iter()
        .filter_map(|r| Some((r.get(KEY).and_then(lenient_i64)?, r.as_ref())))
        .collect();
    let mut ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    let null = rows.iter().find_map(|(id, row)| {
        let column = NULLABLE
            .into_iter()
            .find(|c| matches!(row.get(*c), Some(Value::Null)))?;
        Some((*id, column))
    });
    let text = rows.iter().find_map(|(id, row)| {
        let text = row.get(TEXT)?.as_str()?;
        let plain = !text.is_empty() && !text.contains(['%', '_', '\\']);
        plain.then_some(*id)
    });
    let created = rows.iter().find_map(|(id, row)| {
        let at = row.get(DATE)?.as_str().and_then(parse_date_time)?;
        Some((*id, at))
    });
    Sample {
        ids,
        null,
        text,
        created,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn each_probe_finds_its_row() {
        let rows = [
            json!({"id": 3, "created_at": "2026-01-01T20:00:00.000Z", "uuid": "a%b", "assignee_id": 1, "team_id": 2}),
            json!({"id": 1, "created_at": null, "uuid": "", "assignee_id": 1, "team_id": null}),
            json!({"id": 2, "uuid": "abc", "assignee_id": 4, "team_id": 5}),
        ];
        let page = CollectionPage {
            rows: rows
                .iter()
                .filter_map(|r| r.as_object().cloned().map(Arc::new))
                .collect(),
            count: None,
            next_link: None,
        };
        let sample = read(&page);
        assert_eq!(sample.ids, [1, 2, 3]);
        assert_eq!(sample.null, Some((1, "team_id")));
        assert_eq!(sample.text, Some(2));
        assert_eq!(sample.created.map(|c| c.0), Some(3));
        assert_eq!(read(&CollectionPage::default()), Sample::default());
    }
}
