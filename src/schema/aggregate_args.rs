//! The arguments and selection of an aggregate field, read into an
//! `aggregate::Spec`: `where`, `groupBy`, `bucket`, `orderBy`, `first`, and
//! which metrics the selection (or the order) needs.

use super::aggregate::{enum_name, NUMBER_FIELDS};
use crate::aggregate::{Bucketing, NumOp, SortBy, Spec, TimeUnit};
use crate::error::GatewayError;
use crate::model::{Entity, Field as Column, FieldType};
use crate::plan::args::{read_first, Args};
use crate::plan::Planner;
use async_graphql::{SelectionField, Value};

fn bad(msg: impl Into<String>) -> GatewayError {
    GatewayError::bad_input(msg)
}

/// Reads the arguments and the selection into a `Spec`; every error here
/// comes before any upstream data request.
pub fn parse_spec(
    planner: &Planner<'_>,
    entity: &'static Entity,
    args: &Args,
    field: SelectionField<'_>,
    max_groups: u64,
) -> Result<Spec, GatewayError> {
    let columns = planner.columns(entity);
    let served = |c: &'static Column, what: &str| {
        if planner.available(entity, c) {
            Ok(c)
        } else {
            Err(bad(format!(
                "`{}` cannot be {what}: this upstream does not serve it",
                c.graphql_name()
            )))
        }
    };
    let filter = planner.filter(entity, args.get("where"))?;
    let by_enum = |v: &Value, pick: fn(&Column) -> bool, arg: &str| {
        let name = match v {
            Value::Enum(n) => n.as_str(),
            Value::String(s) => s.as_str(),
            _ => "",
        };
        columns
            .iter()
            .copied()
            .find(|c| pick(c) && enum_name(c) == name)
            .ok_or_else(|| bad(format!("`{v}` is not a value of `{arg}`")))
    };
    let mut group_by: Vec<&'static Column> = Vec::new();
    for v in list(args.get("groupBy")) {
        let column = served(by_enum(v, |c| c.groupable, "groupBy")?, "grouped by")?;
        if !group_by.iter().any(|c| c.odata == column.odata) {
            group_by.push(column);
        }
    }
    let bucket = match args.get("bucket") {
        Some(Value::Object(b)) => {
            let null = Value::Null;
            let column = by_enum(
                b.get("field").unwrap_or(&null),
                |c| c.ty == FieldType::DateTime,
                "bucket.field",
            )?;
            let column = served(column, "bucketed")?;
            let unit = match b.get("unit") {
                Some(Value::Enum(n)) => TimeUnit::parse(n.as_str()),
                Some(Value::String(s)) => TimeUnit::parse(s),
                _ => None,
            }
            .ok_or_else(|| bad("`bucket.unit` must be HOUR, DAY, WEEK or MONTH"))?;
            Some((column, bucketing(unit, b.get("timeZone"))?))
        }
        _ => None,
    };
    let mut spec = Spec {
        entity,
        filter,
        group_by,
        bucket,
        distinct: Vec::new(),
        numbers: Vec::new(),
        order: Vec::new(),
        first: None,
    };
    let named = |name: &str, pick: fn(&Column) -> bool| {
        columns
            .iter()
            .copied()
            .find(|c| pick(c) && c.graphql_name() == name)
    };
    for child in field.selection_set() {
        match child.name() {
            "countDistinct" => {
                for f in child.selection_set() {
                    if let Some(c) = named(f.name(), |c| c.groupable) {
                        add_distinct(&mut spec, served(c, "counted")?);
                    }
                }
            }
            name => {
                if let Some((_, op)) = NUMBER_FIELDS.iter().find(|(n, _)| *n == name) {
                    for f in child.selection_set() {
                        if let Some(c) = named(f.name(), |c| c.measure) {
                            add_number(&mut spec, *op, served(c, "measured")?);
                        }
                    }
                }
            }
        }
    }
    for item in list(args.get("orderBy")) {
        let Value::Object(o) = item else {
            return Err(bad("each `orderBy` element must be an object"));
        };
        let descending = matches!(o.get("direction"), Some(Value::Enum(d)) if d.as_str() == "DESC");
        let text = |k: &str| match o.get(k) {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        };
        let metric = match o.get("metric") {
            Some(Value::Enum(m)) => Some(m.as_str()),
            _ => None,
        };
        let key = match (text("key"), metric) {
            (Some("bucket"), None) if spec.bucket.is_some() => SortBy::Bucket,
            (Some(k), None) => spec
                .group_by
                .iter()
                .position(|c| c.graphql_name() == k)
                .map(SortBy::Key)
                .ok_or_else(|| bad(format!("`orderBy.key` `{k}` is not a grouped field (or `bucket` of a bucketed aggregate)")))?,
            (None, Some("COUNT")) => SortBy::Count,
            (None, Some(m)) => {
                let name = text("field").ok_or_else(|| bad(format!("`orderBy` by {m} needs `field`")))?;
                if m == "COUNT_DISTINCT" {
                    let c = named(name, |c| c.groupable).ok_or_else(|| bad(format!("`{name}` has no distinct count")))?;
                    SortBy::Distinct(add_distinct(&mut spec, served(c, "counted")?))
                } else {
                    let op = NUMBER_FIELDS
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(m))
                        .map(|(_, op)| *op)
                        .ok_or_else(|| bad(format!("`{m}` is not a metric")))?;
                    let c = named(name, |c| c.measure).ok_or_else(|| bad(format!("`{name}` is not a measure field")))?;
                    SortBy::Number(add_number(&mut spec, op, served(c, "measured")?))
                }
            }
            _ => return Err(bad("each `orderBy` element gives either `key` or `metric`")),
        };
        spec.order.push((key, descending));
    }
    spec.first = read_first(args, max_groups, "max_groups")?.map(|f| f as usize);
    Ok(spec)
}

/// The bucketing of a unit in a zone (`null` means UTC).
pub fn bucketing(unit: TimeUnit, zone: Option<&Value>) -> Result<Bucketing, GatewayError> {
    let zone = match zone {
        None | Some(Value::Null) => "UTC",
        Some(Value::String(z)) => z.as_str(),
        Some(other) => return Err(bad(format!("`timeZone` must be a string, got {other}"))),
    };
    Bucketing::new(unit, zone).ok_or_else(|| {
        bad(format!(
            "`timeZone` `{zone}` is not an IANA time zone name (e.g. Europe/Berlin)"
        ))
    })
}

fn list(value: Option<&Value>) -> &[Value] {
    match value {
        Some(Value::List(items)) => items,
        Some(Value::Null) | None => &[],
        Some(single) => std::slice::from_ref(single),
    }
}

fn add_distinct(spec: &mut Spec, column: &'static Column) -> usize {
    match spec.distinct.iter().position(|c| c.odata == column.odata) {
        Some(i) => i,
        None => {
            spec.distinct.push(column);
            spec.distinct.len() - 1
        }
    }
}

fn add_number(spec: &mut Spec, op: NumOp, column: &'static Column) -> usize {
    let found = spec
        .numbers
        .iter()
        .position(|(o, c)| *o == op && c.odata == column.odata);
    match found {
        Some(i) => i,
        None => {
            spec.numbers.push((op, column));
            spec.numbers.len() - 1
        }
    }
}
