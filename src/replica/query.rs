//! An aggregate `Spec` as SQL over the replica: the filter as a `WHERE`
//! with bound parameters (values never enter the SQL text), the groups as
//! `GROUP BY`, and time buckets computed by the engine from each row's
//! wall-clock time in the bucket's zone. `None` wherever the replica
//! cannot give exactly what the scan would: a column it does not keep, a
//! value of another type than its column.

use super::store::{Builder, SqlDialect, Statement};
use super::tables::{kind, Cell, Kind, Table};
use crate::aggregate::{median, Bucketing, Group, KeyPart, NumOp, Spec, TimeUnit};
use crate::model::{Field, FieldType};
use crate::odata::{CompareOp, Filter, Literal, StringFn};
use chrono::{DateTime, Duration, NaiveDate, Offset, TimeZone, Utc};
use std::collections::HashMap;

const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 86_400_000_000;

/// The statements of one aggregate and how to read their rows.
pub struct Grouped<'s> {
    spec: &'s Spec,
    pub groups: Statement,
    pub group_kinds: Vec<Kind>,
    /// Values per group for each median, in `Spec::numbers` order.
    pub medians: Vec<(usize, Statement, Vec<Kind>)>,
}

/// The first and last instant (µs) of the bucket column, for the zone's
/// offset changes in between; `None` for an empty table.
pub type Bounds = Option<(i64, i64)>;

pub fn plan<'s>(
    d: &dyn SqlDialect,
    table: &Table,
    spec: &'s Spec,
    bounds: Bounds,
    limit: u64,
) -> Option<Grouped<'s>> {
    for f in &spec.group_by {
        groupable(table, f)?;
    }
    for f in &spec.distinct {
        groupable(table, f)?;
    }
    for (_, f) in &spec.numbers {
        measure(table, f)?;
    }
    if let Some((f, _)) = &spec.bucket {
        (table.has(f.odata) && f.ty == FieldType::DateTime).then_some(())?;
    }

    let mut b = Builder::default();
    let (keys, key_kinds, from) = keys_and_from(d, table, spec, bounds, &mut b)?;
    let mut select = keys.clone();
    select.push("COUNT(*)".into());
    select.extend(
        spec.distinct
            .iter()
            .map(|f| format!("COUNT(DISTINCT {})", f.odata)),
    );
    for (op, f) in &spec.numbers {
        let column = f.odata;
        select.push(match op {
            NumOp::Sum => format!("CAST(SUM({column}) AS DOUBLE PRECISION)"),
            NumOp::Avg => format!("CAST(AVG({column}) AS DOUBLE PRECISION)"),
            NumOp::Min => format!("CAST(MIN({column}) AS DOUBLE PRECISION)"),
            NumOp::Max => format!("CAST(MAX({column}) AS DOUBLE PRECISION)"),
            NumOp::Median => "CAST(NULL AS DOUBLE PRECISION)".into(),
        });
    }
    let mut group_kinds = key_kinds.clone();
    group_kinds.push(Kind::Int);
    group_kinds.extend(spec.distinct.iter().map(|_| Kind::Int));
    group_kinds.extend(spec.numbers.iter().map(|_| Kind::Real));
    b.push(&format!("SELECT {} {from}", select.join(", ")));
    if !keys.is_empty() {
        let positions: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
        b.push(&format!(" GROUP BY {}", positions.join(", ")));
    }
    // Without rows there are no groups, as a scan finds none.
    b.push(&format!(
        " HAVING COUNT(*) > 0 LIMIT {}",
        limit.saturating_add(1)
    ));

    let mut medians = Vec::new();
    for (i, (op, f)) in spec.numbers.iter().enumerate() {
        if *op != NumOp::Median {
            continue;
        }
        let mut m = Builder::default();
        let (keys, mut kinds, from) = keys_and_from(d, table, spec, bounds, &mut m)?;
        let mut select = keys.clone();
        select.push(format!("CAST({} AS DOUBLE PRECISION)", f.odata));
        kinds.push(Kind::Real);
        m.push(&format!(
            "SELECT {} {from} AND {} IS NOT NULL",
            select.join(", "),
            f.odata
        ));
        medians.push((i, m.finish(), kinds));
    }
    Some(Grouped {
        spec,
        groups: b.finish(),
        group_kinds,
        medians,
    })
}

/// The grouped expressions (keys, then the bucket) and the `FROM … WHERE`.
fn keys_and_from(
    d: &dyn SqlDialect,
    table: &Table,
    spec: &Spec,
    bounds: Bounds,
    b: &mut Builder,
) -> Option<(Vec<String>, Vec<Kind>, String)> {
    let mut keys: Vec<String> = spec.group_by.iter().map(|f| f.odata.to_string()).collect();
    let mut kinds: Vec<Kind> = spec.group_by.iter().filter_map(|f| kind(f)).collect();
    let mut filter = vec![where_sql(d, table, &spec.filter, b)?];
    if let Some((f, bucketing)) = &spec.bucket {
        keys.push(bucket_sql(d, f.odata, bucketing, bounds));
        kinds.push(Kind::Int);
        filter.push(format!("{} IS NOT NULL", f.odata));
    }
    Some((
        keys,
        kinds,
        format!("FROM {} WHERE {}", table.name, filter.join(" AND ")),
    ))
}

fn groupable(table: &Table, f: &Field) -> Option<()> {
    let ok = table.has(f.odata)
        && matches!(
            f.ty,
            FieldType::Int | FieldType::Enum(_) | FieldType::Boolean | FieldType::String
        );
    ok.then_some(())
}

fn measure(table: &Table, f: &Field) -> Option<()> {
    (table.has(f.odata) && matches!(f.ty, FieldType::Int | FieldType::Float)).then_some(())
}

/// A literal bound as its column is stored; `None` where the scan would
/// find the two incomparable.
fn literal(field: &Field, value: &Literal) -> Option<(Cell, Kind)> {
    Some(match (field.ty, value) {
        (FieldType::Int | FieldType::Enum(_), Literal::Int(i)) => (Cell::Int(*i), Kind::Int),
        (FieldType::Int | FieldType::Enum(_) | FieldType::Float, Literal::Float(f)) => {
            (Cell::Real(*f), Kind::Real)
        }
        (FieldType::Float, Literal::Int(i)) => (Cell::Real(*i as f64), Kind::Real),
        (FieldType::Boolean, Literal::Bool(v)) => (Cell::Int(i64::from(*v)), Kind::Int),
        (FieldType::DateTime, Literal::DateTime(t)) => (Cell::Int(t.timestamp_micros()), Kind::Int),
        (FieldType::String, Literal::String(s)) => (Cell::Text(s.clone()), Kind::Text),
        _ => return None,
    })
}

/// SQL's three-valued logic is the contract's: a comparison with null is
/// unknown and only a true filter keeps a row.
fn where_sql(d: &dyn SqlDialect, table: &Table, f: &Filter, b: &mut Builder) -> Option<String> {
    let column = |p: &str| table.column(p);
    Some(match f {
        Filter::True => "1 = 1".into(),
        Filter::False => "1 = 0".into(),
        Filter::And(parts) | Filter::Or(parts) => {
            let joiner = if matches!(f, Filter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            let parts: Option<Vec<String>> =
                parts.iter().map(|p| where_sql(d, table, p, b)).collect();
            let parts = parts?;
            if parts.is_empty() {
                return Some(
                    if matches!(f, Filter::And(_)) {
                        "1 = 1"
                    } else {
                        "1 = 0"
                    }
                    .into(),
                );
            }
            format!("({})", parts.join(joiner))
        }
        Filter::Not(inner) => format!("(NOT {})", where_sql(d, table, inner, b)?),
        Filter::IsNull { property, null } => {
            let c = column(property)?;
            format!("{} IS {}NULL", c.odata, if *null { "" } else { "NOT " })
        }
        Filter::Compare {
            property,
            op,
            value,
        } => {
            let c = column(property)?;
            let (cell, kind) = literal(c, value)?;
            let p = b.bind(d, cell, kind);
            let op = match op {
                CompareOp::Eq => "=",
                CompareOp::Ne => "<>",
                CompareOp::Gt => ">",
                CompareOp::Ge => ">=",
                CompareOp::Lt => "<",
                CompareOp::Le => "<=",
            };
            format!("{} {op} {p}", c.odata)
        }
        Filter::In { property, values } => {
            let c = column(property)?;
            if values.is_empty() {
                return Some("1 = 0".into());
            }
            let mut params = Vec::new();
            for v in values {
                let (cell, kind) = literal(c, v)?;
                params.push(b.bind(d, cell, kind));
            }
            format!("{} IN ({})", c.odata, params.join(", "))
        }
        Filter::Call {
            func,
            property,
            value,
        } => {
            let c = column(property)?;
            (c.ty == FieldType::String).then_some(())?;
            let p = b.bind(d, Cell::Text(value.clone()), Kind::Text);
            match func {
                StringFn::Contains => d.contains(c.odata, &p),
                StringFn::StartsWith => d.starts_with(c.odata, &p),
                StringFn::EndsWith => d.ends_with(c.odata, &p),
            }
        }
    })
}

/// The bucket of a row as one integer: for hours the bucket's start (µs),
/// for days and weeks the local day number of its first day, for months
/// `year * 12 + month - 1`. The wall-clock time is the instant plus the
/// zone's offset at that instant; offsets change only at the few
/// transitions between the column's first and last value.
fn bucket_sql(d: &dyn SqlDialect, column: &str, bucketing: &Bucketing, bounds: Bounds) -> String {
    let local = format!("({column} + {})", offset_sql(column, bucketing, bounds));
    let floor_div = |x: &str, m: i64| format!("(({x}) - ((({x}) % {m}) + {m}) % {m}) / {m}");
    let day = floor_div(&local, DAY_US);
    match bucketing.unit {
        TimeUnit::Hour => format!("({column} - ((({local} % {HOUR_US}) + {HOUR_US}) % {HOUR_US}))"),
        TimeUnit::Day => day,
        // Day 0 (1970-01-01) was a Thursday: Monday is 3 days before.
        TimeUnit::Week => format!("({day} - ((({day} + 3) % 7) + 7) % 7)"),
        TimeUnit::Month => d.month_of_day(&day),
    }
}

fn offset_sql(column: &str, bucketing: &Bucketing, bounds: Bounds) -> String {
    let (lo, hi) = bounds.unwrap_or((0, 0));
    let steps = transitions(bucketing, lo, hi);
    let first = offset_us(bucketing, lo);
    if steps.is_empty() {
        return first.to_string();
    }
    let mut sql = format!("CASE WHEN {column} < {} THEN {first}", steps[0].0);
    for pair in steps.windows(2) {
        sql.push_str(&format!(
            " WHEN {column} < {} THEN {}",
            pair[1].0, pair[0].1
        ));
    }
    let last = steps.last().map(|s| s.1).unwrap_or(first);
    sql.push_str(&format!(" ELSE {last} END"));
    sql
}

fn offset_us(bucketing: &Bucketing, at_us: i64) -> i64 {
    let t = DateTime::from_timestamp_micros(at_us).unwrap_or_default();
    let offset = bucketing
        .zone
        .offset_from_utc_datetime(&t.naive_utc())
        .fix();
    i64::from(offset.local_minus_utc()) * 1_000_000
}

/// The instants (µs) in `lo..=hi` where the zone's offset changes, with
/// the offset from then on. Offsets hold for months; a six-hour step
/// finds every change, a bisection its second.
fn transitions(bucketing: &Bucketing, lo: i64, hi: i64) -> Vec<(i64, i64)> {
    const STEP: i64 = 6 * HOUR_US;
    let mut out = Vec::new();
    let mut at = lo;
    let mut offset = offset_us(bucketing, at);
    while at < hi {
        let next = (at + STEP).min(hi);
        let next_offset = offset_us(bucketing, next);
        if next_offset != offset {
            let (mut before, mut after) = (at, next);
            while after - before > 1_000_000 {
                let mid = before + (after - before) / 2;
                if offset_us(bucketing, mid) == offset {
                    before = mid;
                } else {
                    after = mid;
                }
            }
            // Transitions fall on whole seconds.
            let switch = after - after.rem_euclid(1_000_000);
            let switch = if offset_us(bucketing, switch) == offset {
                after
            } else {
                switch
            };
            out.push((switch, next_offset));
            offset = next_offset;
        }
        at = next;
    }
    out
}

/// The start of the bucket a grouped integer names.
fn bucket_start(bucketing: &Bucketing, code: i64) -> Option<DateTime<Utc>> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    match bucketing.unit {
        TimeUnit::Hour => DateTime::from_timestamp_micros(code),
        TimeUnit::Day | TimeUnit::Week => {
            Some(bucketing.start_of_day(epoch.checked_add_signed(Duration::days(code))?))
        }
        TimeUnit::Month => {
            let year = i32::try_from(code.div_euclid(12)).ok()?;
            let month = u32::try_from(code.rem_euclid(12)).ok()? + 1;
            Some(bucketing.start_of_day(NaiveDate::from_ymd_opt(year, month, 1)?))
        }
    }
}

type GroupKey = (Vec<KeyPart>, Option<DateTime<Utc>>);

impl Grouped<'_> {
    fn key(&self, cells: &mut std::vec::IntoIter<Cell>) -> GroupKey {
        let spec = self.spec;
        let key = spec
            .group_by
            .iter()
            .map(|f| match (cells.next(), f.ty) {
                (Some(Cell::Int(i)), FieldType::Boolean) => KeyPart::Bool(i != 0),
                (Some(Cell::Int(i)), _) => KeyPart::Int(i),
                (Some(Cell::Text(s)), _) => KeyPart::Text(s),
                _ => KeyPart::Null,
            })
            .collect();
        let bucket = spec.bucket.as_ref().and_then(|(_, b)| match cells.next() {
            Some(Cell::Int(code)) => bucket_start(b, code),
            _ => None,
        });
        (key, bucket)
    }

    /// The groups from the rows of `groups` and of each median statement.
    pub fn read(&self, rows: Vec<Vec<Cell>>, medians: Vec<Vec<Vec<Cell>>>) -> Vec<Group> {
        let spec = self.spec;
        let mut groups: Vec<Group> = Vec::with_capacity(rows.len());
        let mut index: HashMap<GroupKey, usize> = HashMap::new();
        for row in rows {
            let mut cells = row.into_iter();
            let (key, bucket) = self.key(&mut cells);
            let int = |c: Option<Cell>| match c {
                Some(Cell::Int(i)) => u64::try_from(i).unwrap_or(0),
                _ => 0,
            };
            let count = int(cells.next());
            let distinct = spec.distinct.iter().map(|_| int(cells.next())).collect();
            let numbers = spec
                .numbers
                .iter()
                .map(|_| match cells.next() {
                    Some(Cell::Real(f)) => Some(f),
                    Some(Cell::Int(i)) => Some(i as f64),
                    _ => None,
                })
                .collect();
            index.insert((key.clone(), bucket), groups.len());
            groups.push(Group {
                key,
                bucket,
                count,
                distinct,
                numbers,
            });
        }
        for ((number, _, _), rows) in self.medians.iter().zip(medians) {
            let mut values: HashMap<GroupKey, Vec<f64>> = HashMap::new();
            for row in rows {
                let mut cells = row.into_iter();
                let key = self.key(&mut cells);
                if let Some(Cell::Real(v)) = cells.next() {
                    values.entry(key).or_default().push(v);
                }
            }
            for (key, mut values) in values {
                if let Some(g) = index.get(&key).and_then(|i| groups.get_mut(*i)) {
                    if let Some(slot) = g.numbers.get_mut(*number) {
                        *slot = median(&mut values);
                    }
                }
            }
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replica::store::Plain;

    fn at(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_micros())
            .unwrap_or_default()
    }

    fn events() -> Table {
        crate::replica::tables::tables(crate::model::ApiVersion::V1_1)
            .into_iter()
            .find(|t| t.entity.name == "ReportingEvent")
            .expect("events")
    }

    #[test]
    fn values_are_bound_never_written_into_the_sql() {
        let t = events();
        let hostile = "x'); DROP TABLE la_message; --";
        let filter = Filter::Or(vec![
            Filter::Compare {
                property: "name",
                op: CompareOp::Eq,
                value: Literal::String(hostile.into()),
            },
            Filter::Call {
                func: StringFn::Contains,
                property: "name",
                value: hostile.into(),
            },
            Filter::In {
                property: "user_id",
                values: vec![Literal::Int(1), Literal::Int(2)],
            },
        ]);
        let mut b = Builder::default();
        let sql = where_sql(&Plain, &t, &filter, &mut b).expect("kept columns");
        let statement = b.finish();
        assert_eq!(
            sql,
            "(name = ?1 OR contains(name, ?2) OR user_id IN (?3, ?4))"
        );
        assert!(!sql.contains("DROP"));
        assert_eq!(statement.params.len(), 4);
        assert_eq!(statement.params[0].0, Cell::Text(hostile.into()));
    }

    #[test]
    fn what_the_replica_lacks_or_cannot_compare_is_not_planned() {
        let t = events();
        let mut b = Builder::default();
        // A column it does not keep, and a value of another type.
        for filter in [
            Filter::IsNull {
                property: "nope",
                null: true,
            },
            Filter::Compare {
                property: "user_id",
                op: CompareOp::Eq,
                value: Literal::String("1".into()),
            },
        ] {
            assert_eq!(where_sql(&Plain, &t, &filter, &mut b), None, "{filter:?}");
        }
    }

    #[test]
    fn offset_changes_are_found_to_the_second() {
        let berlin = Bucketing::new(TimeUnit::Day, "Europe/Berlin").expect("zone");
        let steps = transitions(
            &berlin,
            at("2026-01-01T00:00:00Z"),
            at("2026-12-31T00:00:00Z"),
        );
        assert_eq!(
            steps,
            vec![
                (at("2026-03-29T01:00:00Z"), 7_200_000_000),
                (at("2026-10-25T01:00:00Z"), 3_600_000_000),
            ]
        );
        let utc = Bucketing::new(TimeUnit::Day, "UTC").expect("zone");
        assert!(transitions(&utc, 0, at("2026-12-31T00:00:00Z")).is_empty());
    }

    #[test]
    fn bucket_codes_name_the_same_starts_as_the_scan() {
        let b = Bucketing::new(TimeUnit::Month, "America/New_York").expect("zone");
        let t = DateTime::parse_from_rfc3339("2026-03-15T12:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        assert_eq!(bucket_start(&b, 2026 * 12 + 2), Some(b.start(t)));
        let week = Bucketing::new(TimeUnit::Week, "UTC").expect("zone");
        // 1970-01-05 was the first Monday: day 4.
        assert_eq!(
            bucket_start(&week, 4).map(|d| d.to_rfc3339()),
            Some("1970-01-05T00:00:00+00:00".into())
        );
    }
}
