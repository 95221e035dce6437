//! A filter evaluated on a row, as the contract defines it (SQL's null
//! semantics): a comparison with a null field is unknown, `not` unknown is
//! unknown, and a row matches only when the filter is true. The gateway
//! evaluates residual filters with it.

use super::dates::parse_date_time;
use super::filter::{CompareOp, Filter, Literal, StringFn};
use super::response::Row;
use serde_json::Value as Json;
use std::cmp::Ordering;

/// Whether `row` matches `filter`.
pub fn matches(filter: &Filter, row: &Row) -> bool {
    eval(filter, row) == Some(true)
}

/// Three-valued: `None` is unknown.
fn eval(filter: &Filter, row: &Row) -> Option<bool> {
    match filter {
        Filter::True => Some(true),
        Filter::False => Some(false),
        Filter::And(parts) => all(parts.iter().map(|p| eval(p, row))),
        // De Morgan holds in three-valued logic.
        Filter::Or(parts) => all(parts.iter().map(|p| eval(p, row).map(|b| !b))).map(|b| !b),
        Filter::Not(inner) => eval(inner, row).map(|b| !b),
        Filter::IsNull { property, null } => Some(field(row, property).is_none() == *null),
        Filter::Compare {
            property,
            op,
            value,
        } => {
            let ordering = compare(field(row, property)?, value)?;
            Some(match op {
                CompareOp::Eq => ordering == Ordering::Equal,
                CompareOp::Ne => ordering != Ordering::Equal,
                CompareOp::Gt => ordering == Ordering::Greater,
                CompareOp::Ge => ordering != Ordering::Less,
                CompareOp::Lt => ordering == Ordering::Less,
                CompareOp::Le => ordering != Ordering::Greater,
            })
        }
        Filter::In { property, values } => {
            let v = field(row, property)?;
            let mut unknown = false;
            for candidate in values {
                match compare(v, candidate) {
                    Some(Ordering::Equal) => return Some(true),
                    None => unknown = true,
                    Some(_) => {}
                }
            }
            (!unknown).then_some(false)
        }
        Filter::Call {
            func,
            property,
            value,
        } => {
            let text = field(row, property)?.as_str()?;
            Some(match func {
                StringFn::Contains => text.contains(value.as_str()),
                StringFn::StartsWith => text.starts_with(value.as_str()),
                StringFn::EndsWith => text.ends_with(value.as_str()),
            })
        }
    }
}

/// Three-valued `and`: false wins, then unknown.
fn all(values: impl Iterator<Item = Option<bool>>) -> Option<bool> {
    let mut unknown = false;
    for value in values {
        match value {
            Some(false) => return Some(false),
            None => unknown = true,
            Some(true) => {}
        }
    }
    (!unknown).then_some(true)
}

fn field<'r>(row: &'r Row, property: &str) -> Option<&'r Json> {
    row.get(property).filter(|v| !v.is_null())
}

/// The row's value against a literal; `None` when they cannot be compared.
fn compare(value: &Json, literal: &Literal) -> Option<Ordering> {
    match (literal, value) {
        (Literal::Int(i), Json::Number(n)) => match n.as_i64() {
            Some(v) => Some(v.cmp(i)),
            None => n.as_f64()?.partial_cmp(&(*i as f64)),
        },
        (Literal::Float(f), Json::Number(n)) => n.as_f64()?.partial_cmp(f),
        (Literal::Int(i), Json::String(s)) => s.trim().parse::<i64>().ok().map(|v| v.cmp(i)),
        (Literal::Float(f), Json::String(s)) => s.trim().parse::<f64>().ok()?.partial_cmp(f),
        (Literal::Bool(b), Json::Bool(v)) => Some(v.cmp(b)),
        (Literal::String(s), Json::String(v)) => Some(v.as_str().cmp(s.as_str())),
        (Literal::DateTime(d), Json::String(v)) => Some(parse_date_time(v)?.cmp(d)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Json) -> Row {
        v.as_object().cloned().unwrap_or_default()
    }

    fn ne(property: &'static str, v: i64) -> Filter {
        Filter::Compare {
            property,
            op: CompareOp::Ne,
            value: Literal::Int(v),
        }
    }

    #[test]
    fn comparisons_with_null_are_unknown_and_not_keeps_them_unknown() {
        let null = row(json!({"id": 1, "a": null}));
        let five = row(json!({"id": 2, "a": 5}));
        assert!(!matches(&ne("a", 4), &null));
        assert!(matches(&ne("a", 4), &five));
        let not_eq = Filter::Not(Box::new(Filter::Compare {
            property: "a",
            op: CompareOp::Eq,
            value: Literal::Int(4),
        }));
        assert!(!matches(&not_eq, &null));
        let either = Filter::Or(vec![
            ne("a", 4),
            Filter::IsNull {
                property: "a",
                null: true,
            },
        ]);
        assert!(matches(&either, &null) && matches(&either, &five));
        // `nin` around a null: unknown, and so is `not` of it.
        let nin = Filter::Not(Box::new(Filter::In {
            property: "a",
            values: vec![Literal::Int(1)],
        }));
        assert!(!matches(&nin, &null) && matches(&nin, &five));
    }

    #[test]
    fn strings_match_literally_and_dates_at_full_precision() {
        let r = row(json!({"c": "100% _ok\\", "t": "2025-01-01T00:00:00.000Z"}));
        let call = |func, v: &str| Filter::Call {
            func,
            property: "c",
            value: v.into(),
        };
        assert!(matches(&call(StringFn::Contains, "% _"), &r));
        assert!(!matches(&call(StringFn::Contains, "%%"), &r));
        assert!(matches(&call(StringFn::EndsWith, "ok\\"), &r));
        assert!(matches(&call(StringFn::StartsWith, "100"), &r));
        let bound = parse_date_time("2025-01-01T00:00:00.000001Z").map(Literal::DateTime);
        let ge = Filter::Compare {
            property: "t",
            op: CompareOp::Ge,
            value: bound.unwrap_or(Literal::Int(0)),
        };
        assert!(!matches(&ge, &r));
    }
}
