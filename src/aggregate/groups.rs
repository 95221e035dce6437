//! Groups and their running totals. A group's key holds the raw upstream
//! values, normalised so that the same value read from `$apply` output or
//! from scanned rows gives the same key.

use super::{NumOp, Spec};
use crate::error::GatewayError;
use crate::model::{Field, FieldType};
use crate::odata::dates::parse_date_time;
use crate::odata::response::lenient_i64;
use crate::odata::Row;
use chrono::{DateTime, Utc};
use serde_json::Value as Json;
use std::collections::{HashMap, HashSet};

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
    pub fn read(field: &Field, raw: Option<&Json>) -> KeyPart {
        let Some(raw) = raw.filter(|v| !v.is_null()) else {
            return KeyPart::Null;
        };
        let parsed = match field.ty {
            FieldType::Int | FieldType::Enum(_) => lenient_i64(raw).map(KeyPart::Int),
            FieldType::Boolean => match raw {
                Json::Bool(b) => Some(KeyPart::Bool(*b)),
                Json::Number(n) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                    Some(KeyPart::Bool(n.as_i64() == Some(1)))
                }
                _ => None,
            },
            _ => None,
        };
        parsed.unwrap_or_else(|| match raw {
            Json::String(s) => KeyPart::Text(s.clone()),
            other => KeyPart::Text(other.to_string()),
        })
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

pub fn lenient_f64(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        _ => None,
    }
}

/// Running values of one measure column in one group. Only a median keeps
/// the values themselves.
#[derive(Debug, Clone, Default)]
struct Stat {
    n: u64,
    sum: f64,
    min: f64,
    max: f64,
    values: Option<Vec<f64>>,
}

#[derive(Debug, Default)]
struct Acc {
    count: u64,
    distinct: Vec<HashSet<KeyPart>>,
    stats: Vec<Stat>,
}

/// Folds scanned rows into groups: memory grows with the number of groups
/// (and, for `countDistinct`, with the distinct values of each group; for a
/// median, with its values), not with the number of rows.
pub struct Accumulator<'s> {
    spec: &'s Spec,
    /// Measure columns, each once, with whether a median needs its values.
    measures: Vec<(&'static Field, bool)>,
    groups: HashMap<(Vec<KeyPart>, Option<DateTime<Utc>>), Acc>,
    max_groups: u64,
}

impl<'s> Accumulator<'s> {
    pub fn new(spec: &'s Spec, max_groups: u64) -> Self {
        let mut measures: Vec<(&'static Field, bool)> = Vec::new();
        for (op, field) in &spec.numbers {
            match measures.iter_mut().find(|(f, _)| f.odata == field.odata) {
                Some(entry) => entry.1 |= *op == NumOp::Median,
                None => measures.push((field, *op == NumOp::Median)),
            }
        }
        Accumulator {
            spec,
            measures,
            groups: HashMap::new(),
            max_groups,
        }
    }

    pub fn add(&mut self, row: &Row) -> Result<(), GatewayError> {
        let spec = self.spec;
        let bucket = match &spec.bucket {
            None => None,
            Some((field, bucketing)) => match row.get(field.odata) {
                None | Some(Json::Null) => return Ok(()),
                Some(raw) => {
                    let t = raw
                        .as_str()
                        .and_then(parse_date_time)
                        .ok_or_else(|| invalid(spec, field, raw, "a date"))?;
                    Some(bucketing.start(t))
                }
            },
        };
        let key: Vec<KeyPart> = spec
            .group_by
            .iter()
            .map(|f| KeyPart::read(f, row.get(f.odata)))
            .collect();
        let groups = self.groups.len() as u64;
        let measures = &self.measures;
        let acc = match self.groups.entry((key, bucket)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                if groups >= self.max_groups {
                    return Err(super::too_many_groups(spec.entity, self.max_groups));
                }
                e.insert(Acc {
                    count: 0,
                    distinct: vec![HashSet::new(); spec.distinct.len()],
                    stats: measures
                        .iter()
                        .map(|(_, median)| Stat {
                            values: median.then(Vec::new),
                            ..Stat::default()
                        })
                        .collect(),
                })
            }
        };
        acc.count += 1;
        for (set, field) in acc.distinct.iter_mut().zip(&spec.distinct) {
            let value = KeyPart::read(field, row.get(field.odata));
            if value != KeyPart::Null {
                set.insert(value);
            }
        }
        for (stat, (field, _)) in acc.stats.iter_mut().zip(measures) {
            let Some(raw) = row.get(field.odata).filter(|v| !v.is_null()) else {
                continue;
            };
            let x = lenient_f64(raw).ok_or_else(|| invalid(spec, field, raw, "a number"))?;
            if stat.n == 0 || x < stat.min {
                stat.min = x;
            }
            if stat.n == 0 || x > stat.max {
                stat.max = x;
            }
            stat.n += 1;
            stat.sum += x;
            if let Some(values) = stat.values.as_mut() {
                values.push(x);
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Vec<Group> {
        let spec = self.spec;
        let measures = self.measures;
        self.groups
            .into_iter()
            .map(|((key, bucket), mut acc)| {
                let numbers = spec
                    .numbers
                    .iter()
                    .map(|(op, field)| {
                        let i = measures.iter().position(|(f, _)| f.odata == field.odata)?;
                        let stat = acc.stats.get_mut(i)?;
                        if stat.n == 0 {
                            return None;
                        }
                        Some(match op {
                            NumOp::Sum => stat.sum,
                            NumOp::Avg => stat.sum / stat.n as f64,
                            NumOp::Min => stat.min,
                            NumOp::Max => stat.max,
                            NumOp::Median => median(stat.values.as_mut()?)?,
                        })
                    })
                    .collect();
                Group {
                    key,
                    bucket,
                    count: acc.count,
                    distinct: acc.distinct.iter().map(|s| s.len() as u64).collect(),
                    numbers,
                }
            })
            .collect()
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

fn invalid(spec: &Spec, field: &Field, raw: &Json, what: &str) -> GatewayError {
    GatewayError::UpstreamInvalidResponse(format!(
        "{}.{}: expected {what}, upstream sent {raw}",
        spec.entity.name,
        field.graphql_name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{Bucketing, TimeUnit};
    use crate::model::entity;
    use crate::odata::Filter;
    use serde_json::json;

    fn row(v: Json) -> Row {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn rows_fold_into_groups_with_every_metric() {
        let e = entity("ReportingEvent").expect("entity");
        let field = |n| e.field(n).expect("field");
        let spec = Spec {
            entity: e,
            filter: Filter::True,
            group_by: vec![field("user_id")],
            bucket: Some((
                field("created_at"),
                Bucketing::new(TimeUnit::Day, "UTC").expect("utc"),
            )),
            distinct: vec![field("conversation_id")],
            numbers: vec![
                (NumOp::Sum, field("value")),
                (NumOp::Avg, field("value")),
                (NumOp::Median, field("value")),
                (NumOp::Max, field("value")),
            ],
            order: vec![],
            first: None,
        };
        let mut acc = Accumulator::new(&spec, 10);
        for r in [
            json!({"user_id": 1, "conversation_id": 7, "value": 10, "created_at": "2026-01-01T05:00:00.000Z"}),
            json!({"user_id": "1", "conversation_id": 7, "value": "20.5", "created_at": "2026-01-01T23:00:00.000Z"}),
            json!({"user_id": 1, "conversation_id": 8, "value": null, "created_at": "2026-01-01T23:30:00.000Z"}),
            json!({"user_id": null, "conversation_id": 9, "value": 1, "created_at": "2026-01-02T00:00:00.000Z"}),
            json!({"user_id": 2, "conversation_id": 9, "value": 1, "created_at": null}),
        ] {
            acc.add(&row(r)).expect("row");
        }
        let mut groups = acc.finish();
        groups.sort_by(|a, b| a.key.cmp(&b.key));
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].key, vec![KeyPart::Null]);
        let g = &groups[1];
        assert_eq!((g.count, g.distinct.clone()), (3, vec![2]));
        assert_eq!(
            g.numbers,
            vec![Some(30.5), Some(15.25), Some(15.25), Some(20.5)]
        );
    }

    #[test]
    fn group_cap_and_bad_values_are_errors() {
        let e = entity("Conversation").expect("entity");
        let spec = Spec {
            entity: e,
            filter: Filter::True,
            group_by: vec![e.field("inbox_id").expect("inbox_id")],
            bucket: None,
            distinct: vec![],
            numbers: vec![],
            order: vec![],
            first: None,
        };
        let mut acc = Accumulator::new(&spec, 1);
        acc.add(&row(json!({"inbox_id": 1}))).expect("first group");
        let err = acc.add(&row(json!({"inbox_id": 2}))).expect_err("cap");
        assert_eq!(err.code(), "QUERY_TOO_COMPLEX");
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut []), None);
    }
}
