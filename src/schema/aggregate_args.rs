//! The arguments and selection of an aggregate field, read into an
//! `aggregate::Spec`: `where`, `groupBy`, `bucket`, `orderBy`, `first`, and
//! which metrics the selection (or the order) needs.

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
    let reader = SpecReader {
        planner,
        entity,
        columns: planner.columns(entity),
    };
    let mut spec = Spec {
        entity,
        filter: planner.filter(entity, args.get("where"))?,
        group_by: reader.group_by(args)?,
        bucket: reader.bucket(args)?,
        distinct: Vec::new(),
        numbers: Vec::new(),
        order: Vec::new(),
        first: None,
    };
    reader.selected_metrics(&mut spec, field)?;
    for item in list(args.get("orderBy")) {
        let key = reader.sort_key(&mut spec, item)?;
        spec.order.push(key);
    }
    spec.first = read_first(args, max_groups, "max_groups")?.map(|f| f as usize);
    Ok(spec)
}

/// The columns of one aggregate's collection, and how arguments name them.
struct SpecReader<'p> {
    planner: &'p Planner<'p>,
    entity: &'static Entity,
    columns: Vec<&'static Column>,
}

impl SpecReader<'_> {
    fn served(&self, c: &'static Column, what: &str) -> Result<&'static Column, GatewayError> {
        if self.planner.available(self.entity, c) {
            Ok(c)
        } else {
            Err(bad(format!(
                "`{}` cannot be {what}: this upstream does not serve it",
                c.graphql_name()
            )))
        }
    }

    /// A column named by an enum value (`INBOX_ID`).
    fn by_enum(
        &self,
        v: &Value,
        pick: fn(&Column) -> bool,
        arg: &str,
    ) -> Result<&'static Column, GatewayError> {
        let name = match v {
            Value::Enum(n) => n.as_str(),
            Value::String(s) => s.as_str(),
            _ => "",
        };
        self.columns
            .iter()
            .copied()
            .find(|c| pick(c) && enum_name(c) == name)
            .ok_or_else(|| bad(format!("`{v}` is not a value of `{arg}`")))
    }

    /// A column named by its GraphQL field name (`inboxId`).
    fn named(&self, name: &str, pick: fn(&Column) -> bool) -> Option<&'static Column> {
        self.columns
            .iter()
            .copied()
            .find(|c| pick(c) && c.graphql_name() == name)
    }

    fn group_by(&self, args: &Args) -> Result<Vec<&'static Column>, GatewayError> {
        let mut group_by: Vec<&'static Column> = Vec::new();
        for v in list(args.get("groupBy")) {
            let column = self.served(self.by_enum(v, |c| c.groupable, "groupBy")?, "grouped by")?;
            if !group_by.iter().any(|c| c.odata == column.odata) {
                group_by.push(column);
            }
        }
        Ok(group_by)
    }

    fn bucket(&self, args: &Args) -> Result<Option<(&'static Column, Bucketing)>, GatewayError> {
        let Some(Value::Object(b)) = args.get("bucket") else {
            return Ok(None);
        };
        let null = Value::Null;
        let field = b.get("field").unwrap_or(&null);
        let column = self.by_enum(field, |c| c.ty == FieldType::DateTime, "bucket.field")?;
        let column = self.served(column, "bucketed")?;
        let unit = match b.get("unit") {
            Some(Value::Enum(n)) => TimeUnit::parse(n.as_str()),
            Some(Value::String(s)) => TimeUnit::parse(s),
            _ => None,
        }
        .ok_or_else(|| bad("`bucket.unit` must be HOUR, DAY, WEEK or MONTH"))?;
        Ok(Some((column, bucketing(unit, b.get("timeZone"))?)))
    }

    /// The metrics the selection asks for: each costs memory on the scan
    /// path and a column upstream, so only those.
    fn selected_metrics(
        &self,
        spec: &mut Spec,
        field: SelectionField<'_>,
    ) -> Result<(), GatewayError> {
        for child in field.selection_set() {
            if child.name() == "countDistinct" {
                for f in child.selection_set() {
                    if let Some(c) = self.named(f.name(), |c| c.groupable) {
                        add_distinct(spec, self.served(c, "counted")?);
                    }
                }
            } else if let Some(op) = NumOp::FIELDS
                .into_iter()
                .find(|op| op.name() == child.name())
            {
                for f in child.selection_set() {
                    if let Some(c) = self.named(f.name(), |c| c.measure) {
                        add_number(spec, op, self.served(c, "measured")?);
                    }
                }
            }
        }
        Ok(())
    }

    /// One `orderBy` element: a grouped key, or a metric (added to the spec
    /// when the selection did not ask for it).
    fn sort_key(&self, spec: &mut Spec, item: &Value) -> Result<(SortBy, bool), GatewayError> {
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
                self.metric_key(spec, m, name)?
            }
            _ => return Err(bad("each `orderBy` element gives either `key` or `metric`")),
        };
        Ok((key, descending))
    }

    fn metric_key(
        &self,
        spec: &mut Spec,
        metric: &str,
        name: &str,
    ) -> Result<SortBy, GatewayError> {
        if metric == "COUNT_DISTINCT" {
            let c = self
                .named(name, |c| c.groupable)
                .ok_or_else(|| bad(format!("`{name}` has no distinct count")))?;
            return Ok(SortBy::Distinct(add_distinct(
                spec,
                self.served(c, "counted")?,
            )));
        }
        let op =
            NumOp::field_named(metric).ok_or_else(|| bad(format!("`{metric}` is not a metric")))?;
        let c = self
            .named(name, |c| c.measure)
            .ok_or_else(|| bad(format!("`{name}` is not a measure field")))?;
        Ok(SortBy::Number(add_number(
            spec,
            op,
            self.served(c, "measured")?,
        )))
    }
}

/// The GraphQL enum value naming a column (`<Entity>GroupField`, ...).
pub(super) fn enum_name(column: &Column) -> String {
    column.odata.to_uppercase()
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
