//! An aggregate `Spec` as SQL over a local copy of the account: the groups
//! as `GROUP BY`, the metrics as SQL aggregates, the filter as a `WHERE`
//! with bound parameters (`filter`) and time buckets computed by the
//! engine (`buckets`). `None` wherever the copy cannot give exactly what
//! the scan would.

use super::buckets::{bucket_sql, Bounds};
use super::filter::where_sql;
use crate::aggregate::spec::Spec;
use crate::model::{Field, FieldType};
use crate::sql::{kind, Builder, Kind, SqlDialect, Statement, Table};

/// The statements of one aggregate and how to read their rows.
pub struct Grouped<'s> {
    pub(super) spec: &'s Spec,
    pub groups: Statement,
    pub group_kinds: Vec<Kind>,
    /// Values per group for each median, in `Spec::numbers` order.
    pub medians: Vec<(usize, Statement, Vec<Kind>)>,
}

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
        // A median is read from the values (below).
        let value = match op.needs_values() {
            true => "NULL".to_string(),
            false => format!("{}({})", op.name().to_uppercase(), f.odata),
        };
        select.push(format!("CAST({value} AS DOUBLE PRECISION)"));
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
        // The engines' LIMIT is a signed 64-bit number.
        limit.saturating_add(1).min(i64::MAX as u64)
    ));

    let mut medians = Vec::new();
    for (i, (op, f)) in spec.numbers.iter().enumerate() {
        if !op.needs_values() {
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
