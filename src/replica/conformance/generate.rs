//! Random rows, random edits of them, and random aggregates: any spec, and
//! specs a rollup can answer (filters on its dims, quarter-hour bounds,
//! its metrics).

use crate::aggregate::{Bucketing, NumOp, Spec, TimeUnit};
use crate::model::{Field, FieldType, KEY};
use crate::odata::random::Lcg;
use crate::odata::{CompareOp, Filter, Literal, Row, StringFn};
use crate::sql::{Rollup, Table, QUARTER_US};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value as Json};

const ZONES: [&str; 8] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Pacific/Chatham",
];

/// Instants rows gather around: daylight-saving changes of those zones
/// (Berlin, New York, Lord Howe, Chatham, Sao Paulo's last) and a month end.
const AROUND: [&str; 8] = [
    "2026-03-29T01:00:00Z",
    "2026-10-25T01:00:00Z",
    "2026-03-08T07:00:00Z",
    "2026-04-04T15:00:00Z",
    "2026-10-03T15:30:00Z",
    "2026-04-04T14:00:00Z",
    "2018-11-04T03:00:00Z",
    "2026-12-31T22:30:00Z",
];

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// A value of `field` as the upstream sends it; sometimes null.
fn value(rng: &mut Lcg, field: &Field) -> Json {
    if field.odata != KEY && rng.chance(15) {
        return Json::Null;
    }
    match field.ty {
        FieldType::Int => json!(rng.below(4)),
        FieldType::Enum(def) => json!(rng.pick(def.values).1),
        FieldType::Boolean => json!(rng.chance(50)),
        FieldType::Float => json!(*rng.pick(&[0.0, 1.5, 2.0, 72.25, 100.0, -3.75, 7.0])),
        FieldType::DateTime => {
            json!(instant(rng).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        }
        _ => json!(*rng.pick(&["a", "b", "a%_b", "", "x'y", "ä\\"])),
    }
}

/// An instant within three hours of one of `AROUND`, at a whole minute or
/// with sub-millisecond digits.
fn instant(rng: &mut Lcg) -> DateTime<Utc> {
    let around = rng.pick::<&str>(&AROUND);
    let base = at(around);
    let minutes = rng.below(360) as i64 - 180;
    let micros = if rng.chance(20) {
        rng.below(3_000) as i64
    } else {
        0
    };
    base + Duration::minutes(minutes) + Duration::microseconds(micros)
}

pub(super) fn rows(rng: &mut Lcg, table: &Table) -> Vec<Row> {
    (0..rng.below(60))
        .map(|i| {
            let mut row = Row::new();
            for field in &table.columns {
                let v = if field.odata == KEY {
                    json!(i + 1)
                } else {
                    value(rng, field)
                };
                row.insert(field.odata.to_string(), v);
            }
            row
        })
        .collect()
}

/// A literal of the column's kind; numbers sometimes of the other numeric
/// type than the column's.
fn literal(rng: &mut Lcg, field: &Field) -> Literal {
    match field.ty {
        FieldType::Int | FieldType::Enum(_) | FieldType::Float if rng.chance(25) => {
            Literal::Float(*rng.pick(&[0.5, 1.0, 2.25, 72.25, -1.5]))
        }
        FieldType::Int | FieldType::Enum(_) | FieldType::Float => Literal::Int(rng.below(4) as i64),
        FieldType::Boolean => Literal::Bool(rng.chance(50)),
        FieldType::DateTime => Literal::DateTime(instant(rng)),
        _ => Literal::String(rng.pick(&["a", "b", "", "a%_b", "x'y"]).to_string()),
    }
}

fn leaf(rng: &mut Lcg, table: &Table) -> Filter {
    let field = *rng.pick(&table.columns);
    let property = field.odata;
    let ops = CompareOp::ALL;
    match rng.below(5) {
        0 => Filter::IsNull {
            property,
            null: rng.chance(50),
        },
        1 if field.ty != FieldType::DateTime => Filter::In {
            property,
            values: (0..rng.below(3)).map(|_| literal(rng, field)).collect(),
        },
        2 if field.ty == FieldType::String => Filter::Call {
            func: *rng.pick(&[StringFn::Contains, StringFn::StartsWith, StringFn::EndsWith]),
            property,
            value: rng.pick(&["a", "%", "_b", "", "'"]).to_string(),
        },
        _ => Filter::Compare {
            property,
            op: *rng.pick(&ops),
            value: literal(rng, field),
        },
    }
}

fn filter(rng: &mut Lcg, table: &Table, depth: u32) -> Filter {
    if depth == 0 || rng.chance(40) {
        return leaf(rng, table);
    }
    let parts = |rng: &mut Lcg| {
        (0..2 + rng.below(2))
            .map(|_| filter(rng, table, depth - 1))
            .collect()
    };
    match rng.below(3) {
        0 => Filter::And(parts(rng)),
        1 => Filter::Or(parts(rng)),
        _ => Filter::Not(Box::new(filter(rng, table, depth - 1))),
    }
}

pub(super) fn spec(rng: &mut Lcg, table: &Table) -> Spec {
    let groupable: Vec<&'static Field> = table
        .columns
        .iter()
        .copied()
        .filter(|f| f.groupable)
        .collect();
    let numeric: Vec<&'static Field> = table
        .columns
        .iter()
        .copied()
        .filter(|f| matches!(f.ty, FieldType::Int | FieldType::Float) && f.odata != KEY)
        .collect();
    let times: Vec<&'static Field> = table
        .columns
        .iter()
        .copied()
        .filter(|f| f.ty == FieldType::DateTime)
        .collect();
    let mut group_by: Vec<&'static Field> = Vec::new();
    for _ in 0..rng.below(3) {
        let f = *rng.pick(&groupable);
        if !group_by.iter().any(|g| g.odata == f.odata) {
            group_by.push(f);
        }
    }
    let mut spec = Spec::grouped(table.entity, filter(rng, table, 3), group_by);
    if !times.is_empty() && rng.chance(60) {
        let units = TimeUnit::ALL.map(|(u, _)| u);
        let zone = rng.pick::<&str>(&ZONES);
        let bucketing = Bucketing::new(*rng.pick(&units), zone);
        spec.bucket = bucketing.map(|b| (*rng.pick(&times), b));
    }
    if rng.chance(40) {
        spec.distinct.push(*rng.pick(&groupable));
    }
    let ops = [
        NumOp::Sum,
        NumOp::Avg,
        NumOp::Min,
        NumOp::Max,
        NumOp::Median,
    ];
    for _ in 0..rng.below(4) {
        if !numeric.is_empty() {
            spec.numbers.push((*rng.pick(&ops), *rng.pick(&numeric)));
        }
    }
    spec
}

/// Edits of `rows`: some rows changed (same id), some deleted, a few new.
pub(super) struct Edits {
    pub upserts: Vec<Row>,
    pub deleted: Vec<i64>,
    pub after: Vec<Row>,
}

pub(super) fn edits(rng: &mut Lcg, table: &Table, rows: &[Row]) -> Edits {
    let mut edits = Edits {
        upserts: Vec::new(),
        deleted: Vec::new(),
        after: Vec::new(),
    };
    let id = |r: &Row| r.get(KEY).and_then(Json::as_i64).unwrap_or(0);
    for row in rows {
        match rng.below(10) {
            0 => edits.deleted.push(id(row)),
            1 | 2 => {
                let mut changed = fresh_row(rng, table, id(row));
                changed.insert(KEY.to_string(), json!(id(row)));
                edits.upserts.push(changed.clone());
                edits.after.push(changed);
            }
            _ => edits.after.push(row.clone()),
        }
    }
    let next = rows.iter().map(id).max().unwrap_or(0) + 1;
    for n in 0..rng.below(5) as i64 {
        let row = fresh_row(rng, table, next + n);
        edits.upserts.push(row.clone());
        edits.after.push(row);
    }
    edits
}

fn fresh_row(rng: &mut Lcg, table: &Table, id: i64) -> Row {
    let mut row = Row::new();
    for field in &table.columns {
        let v = if field.odata == KEY {
            json!(id)
        } else {
            value(rng, field)
        };
        row.insert(field.odata.to_string(), v);
    }
    row
}

/// A spec one of `table`'s rollups answers, when it has any.
pub(super) fn rollup_spec(rng: &mut Lcg, table: &Table, rollups: &[Rollup]) -> Option<Spec> {
    let ours: Vec<&Rollup> = rollups.iter().filter(|r| r.base == table.name).collect();
    if ours.is_empty() {
        return None;
    }
    let r = *rng.pick::<&Rollup>(&ours);
    let mut parts: Vec<Filter> = r
        .only
        .iter()
        .map(|(f, v)| Filter::Compare {
            property: f.odata,
            op: CompareOp::Eq,
            value: v.clone(),
        })
        .collect();
    let dims = Table {
        columns: r.dims.clone(),
        ..table.clone()
    };
    if rng.chance(50) {
        parts.push(leaf(rng, &dims));
    }
    let mut bounded = false;
    if let Some(t) = r.time {
        let aligned = |rng: &mut Lcg| {
            let around: &str = rng.pick::<&str>(&AROUND);
            let us = at(around).timestamp_micros() + (rng.below(48) as i64 - 24) * QUARTER_US;
            DateTime::from_timestamp_micros(us - us.rem_euclid(QUARTER_US)).unwrap_or_default()
        };
        for op in [CompareOp::Ge, CompareOp::Lt] {
            if rng.chance(50) {
                bounded = true;
                parts.push(Filter::Compare {
                    property: t.odata,
                    op,
                    value: Literal::DateTime(aligned(rng)),
                });
            }
        }
    }
    let mut group_by: Vec<&'static Field> = Vec::new();
    for _ in 0..rng.below(3) {
        let f = *rng.pick(&r.dims);
        if !group_by.iter().any(|g| g.odata == f.odata) {
            group_by.push(f);
        }
    }
    let mut bucket = None;
    if let Some(t) = r.time.filter(|_| !bounded || rng.chance(60)) {
        let units = TimeUnit::ALL.map(|(u, _)| u);
        let zone = rng.pick::<&str>(&ZONES);
        bucket = Bucketing::new(*rng.pick(&units), zone).map(|b| (t, b));
    }
    // Hours over the rows' eight years are too many boundaries for the
    // cells (the rows answer those): keep hourly buckets to a day.
    if let Some((t, b)) = bucket.filter(|(_, b)| b.unit == TimeUnit::Hour) {
        let around: &str = rng.pick::<&str>(&AROUND);
        let from = at(around) - Duration::hours(12);
        for (op, instant) in [
            (CompareOp::Ge, from),
            (CompareOp::Lt, from + Duration::days(1)),
        ] {
            parts.push(Filter::Compare {
                property: t.odata,
                op,
                value: Literal::DateTime(instant),
            });
        }
        let _ = b;
    }
    let mut spec = Spec::grouped(table.entity, Filter::And(parts), group_by);
    spec.bucket = bucket;
    let distinct: Vec<&'static Field> = r.dims.iter().copied().chain(r.distinct).collect();
    if rng.chance(50) {
        let counted = *rng.pick(&distinct);
        spec.distinct.push(counted);
        // The distinct column beyond the dims is counted per cell of every
        // dim: grouped by all of them.
        if !r.has_dim(counted.odata) {
            spec.group_by = r.dims.clone();
        }
    }
    for _ in 0..rng.below(3) {
        if let Some(m) = r.measures.get(rng.below(r.measures.len() as u64) as usize) {
            spec.numbers.push((*rng.pick(&NumOp::FIELDS), *m));
        }
    }
    Some(spec)
}
