//! Ordering rows in the gateway, as `$orderby` would, for rows gathered
//! from several requests.

use crate::odata::{OrderBy, Row};
use serde_json::Value as Json;
use std::cmp::Ordering;

/// Orders rows as `$orderby` would, for rows gathered from several requests:
/// nulls first, numbers by value, strings (ISO dates included) by text.
pub fn compare_rows(a: &Row, b: &Row, order_by: &[OrderBy]) -> Ordering {
    for key in order_by {
        let ordering = compare_values(a.get(key.property), b.get(key.property));
        let ordering = if key.descending {
            ordering.reverse()
        } else {
            ordering
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}

fn compare_values(a: Option<&Json>, b: Option<&Json>) -> Ordering {
    let rank = |v: Option<&Json>| match v {
        None | Some(Json::Null) => 0,
        _ => 1,
    };
    match (a, b) {
        (Some(Json::Number(x)), Some(Json::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Json::String(x)), Some(Json::String(y))) => x.cmp(y),
        (Some(Json::Bool(x)), Some(Json::Bool(y))) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Json) -> Row {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn rows_order_like_orderby_with_nulls_first() {
        let order = [
            OrderBy {
                property: "status",
                descending: true,
            },
            OrderBy {
                property: "id",
                descending: false,
            },
        ];
        let mut rows = [
            row(json!({"id": 3, "status": 1})),
            row(json!({"id": 1, "status": null})),
            row(json!({"id": 2, "status": 1})),
            row(json!({"id": 4, "status": 2})),
        ];
        rows.sort_by(|a, b| compare_rows(a, b, &order));
        let ids: Vec<_> = rows.iter().map(|r| r["id"].clone()).collect();
        assert_eq!(ids, vec![json!(4), json!(2), json!(3), json!(1)]);
    }
}
