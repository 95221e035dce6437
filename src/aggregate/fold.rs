//! The groups computed in the gateway: rows folded into running totals
//! per group. The scan engine folds upstream pages with it; it is the
//! reference the other engines are held equal to.

use super::group::{median, Group, KeyPart};
use super::spec::{too_many_groups, NumOp, Spec};
use crate::error::GatewayError;
use crate::model::Field;
use crate::odata::dates::parse_date_time;
use crate::odata::response::lenient_f64;
use crate::odata::Row;
use chrono::{DateTime, Utc};
use serde_json::Value as Json;
use std::collections::{HashMap, HashSet};

/// Running values of one measure column in one group. Only a median keeps
/// the values themselves.
#[derive(Debug, Clone, Default)]
pub struct Stat {
    n: u64,
    sum: f64,
    min: f64,
    max: f64,
    values: Option<Vec<f64>>,
}

impl Stat {
    /// A stat that keeps its values when a metric needs them.
    pub fn new(keep_values: bool) -> Stat {
        Stat {
            values: keep_values.then(Vec::new),
            ..Stat::default()
        }
    }

    pub fn add(&mut self, x: f64) {
        if self.n == 0 || x < self.min {
            self.min = x;
        }
        if self.n == 0 || x > self.max {
            self.max = x;
        }
        self.n += 1;
        self.sum += x;
        if let Some(values) = self.values.as_mut() {
            values.push(x);
        }
    }

    /// The metric's value; `None` for a group without a value.
    pub fn value(&mut self, op: NumOp) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        Some(match op {
            NumOp::Sum => self.sum,
            NumOp::Avg => self.sum / self.n as f64,
            NumOp::Min => self.min,
            NumOp::Max => self.max,
            NumOp::Median => median(self.values.as_mut()?)?,
        })
    }
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
        Accumulator {
            spec,
            measures: spec.measures(),
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
                    return Err(too_many_groups(spec.entity, self.max_groups));
                }
                e.insert(Acc {
                    count: 0,
                    distinct: vec![HashSet::new(); spec.distinct.len()],
                    stats: measures.iter().map(|(_, keep)| Stat::new(*keep)).collect(),
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
            stat.add(x);
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
                        acc.stats.get_mut(i)?.value(*op)
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
    use crate::error::ErrorCode;
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
        assert_eq!(err.kind(), ErrorCode::QueryTooComplex);
    }
}
