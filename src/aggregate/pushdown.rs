//! The upstream computes the groups: `$apply=filter(...)/groupby(...)`.
//! OData has no time buckets (and this upstream no `compute()`), so a
//! bucketed aggregate first asks for the time column's range, then sends one
//! grouping per bucket with the bucket's bounds, as instants, in its filter;
//! bounds come from the zone's rules, so any time zone works. Too many
//! buckets, or a median (which needs every value), leave it to the scan.

use super::group::{Group, KeyPart};
use super::policy::Pushdown;
use super::source::Source;
use super::spec::{too_many_groups, NumOp, Spec};
use crate::error::GatewayError;
use crate::model::Field;
use crate::odata::dates::parse_date_time;
use crate::odata::response::{lenient_f64, lenient_i64};
use crate::odata::{
    Aggregate, Apply, CollectionQuery, CompareOp, Filter, Literal, Method, OrderBy, Row,
};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use std::sync::Arc;

const COUNT: &str = "n";

/// Whether to send `$apply`: where the capability set in force has it
/// (probed with the other capabilities, or set in config), unless turned
/// off.
pub(super) fn enabled(source: &Source<'_>) -> bool {
    source.dialect.apply && source.policy.pushdown != Pushdown::Off
}

/// `None` when `$apply` cannot express the aggregate.
pub(super) async fn run(
    source: &Source<'_>,
    spec: &Spec,
) -> Result<Option<Vec<Group>>, GatewayError> {
    if spec.numbers.iter().any(|(op, _)| op.needs_values()) {
        return Ok(None);
    }
    let Some((field, bucketing)) = &spec.bucket else {
        return fetch_groups(source, spec, spec.filter.clone(), None)
            .await
            .map(Some);
    };
    let Some((lo, hi)) = range(source, spec, field).await? else {
        return Ok(Some(Vec::new()));
    };
    let mut buckets = Vec::new();
    let mut start = bucketing.start(lo);
    while start <= hi {
        if buckets.len() as u64 >= source.policy.max_pushdown_buckets {
            return Ok(None);
        }
        let end = bucketing.next(start);
        buckets.push((start, end));
        start = end;
    }
    let per_bucket: Vec<Vec<Group>> = futures::stream::iter(buckets)
        .map(|(start, end)| {
            let filter = Filter::And(vec![
                spec.filter.clone(),
                bound(field, CompareOp::Ge, start),
                bound(field, CompareOp::Lt, end),
            ])
            .simplify();
            fetch_groups(source, spec, filter, Some(start))
        })
        .buffered(source.policy.scan_concurrency)
        .try_collect()
        .await?;
    let groups: Vec<Group> = per_bucket.into_iter().flatten().collect();
    if groups.len() as u64 > source.policy.max_groups {
        return Err(too_many_groups(spec.entity, source.policy.max_groups));
    }
    Ok(Some(groups))
}

fn bound(field: &'static Field, op: CompareOp, t: DateTime<Utc>) -> Filter {
    Filter::Compare {
        property: field.odata,
        op,
        value: Literal::DateTime(t),
    }
}

/// The earliest and latest value of the time column among matching rows.
async fn range(
    source: &Source<'_>,
    spec: &Spec,
    field: &'static Field,
) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, GatewayError> {
    let apply = Apply {
        filter: filter_of(&spec.filter),
        group_by: Vec::new(),
        count_alias: None,
        aggregates: vec![
            aggregate(field, Method::Min, "lo"),
            aggregate(field, Method::Max, "hi"),
        ],
    };
    let rows = fetch(source, spec, apply, Vec::new()).await?;
    let time = |name: &str| {
        rows.first()
            .and_then(|row| row.get(name))
            .and_then(|v| v.as_str())
            .and_then(parse_date_time)
    };
    Ok(time("lo").zip(time("hi")))
}

fn filter_of(filter: &Filter) -> Option<Filter> {
    (*filter != Filter::True).then(|| filter.clone())
}

fn aggregate(field: &'static Field, method: Method, alias: &str) -> Aggregate {
    Aggregate {
        property: field.odata,
        method,
        alias: alias.to_string(),
    }
}

fn alias(op: NumOp, field: &Field) -> String {
    format!("{}_{}", op.name(), field.odata)
}

fn distinct_alias(field: &Field) -> String {
    format!("cd_{}", field.odata)
}

async fn fetch_groups(
    source: &Source<'_>,
    spec: &Spec,
    filter: Filter,
    bucket: Option<DateTime<Utc>>,
) -> Result<Vec<Group>, GatewayError> {
    if filter == Filter::False {
        return Ok(Vec::new());
    }
    let mut aggregates: Vec<Aggregate> = spec
        .distinct
        .iter()
        .map(|f| aggregate(f, Method::CountDistinct, &distinct_alias(f)))
        .collect();
    for (op, field) in &spec.numbers {
        let method = match op {
            NumOp::Sum => Method::Sum,
            NumOp::Avg => Method::Average,
            NumOp::Min => Method::Min,
            NumOp::Max => Method::Max,
            NumOp::Median => continue,
        };
        let a = aggregate(field, method, &alias(*op, field));
        if !aggregates.contains(&a) {
            aggregates.push(a);
        }
    }
    let apply = Apply {
        filter: filter_of(&filter),
        group_by: spec.group_by.iter().map(|f| f.odata).collect(),
        count_alias: Some(COUNT.into()),
        aggregates,
    };
    // Ordered by the groups, so that server-driven pages are stable.
    let order_by = spec
        .group_by
        .iter()
        .map(|f| OrderBy {
            property: f.odata,
            descending: false,
        })
        .collect();
    let rows = fetch(source, spec, apply, order_by).await?;
    let mut groups = Vec::with_capacity(rows.len());
    for row in &rows {
        let count = row.get(COUNT).and_then(lenient_i64).ok_or_else(|| {
            GatewayError::UpstreamInvalidResponse("an $apply group has no count".into())
        })?;
        // A plain aggregate over no rows still answers one row, counting 0.
        if count <= 0 {
            continue;
        }
        groups.push(Group {
            key: spec
                .group_by
                .iter()
                .map(|f| KeyPart::read(f, row.get(f.odata)))
                .collect(),
            bucket,
            count: count as u64,
            distinct: spec
                .distinct
                .iter()
                .map(|f| {
                    row.get(&distinct_alias(f))
                        .and_then(lenient_i64)
                        .map_or(0, |n| n.max(0) as u64)
                })
                .collect(),
            numbers: spec
                .numbers
                .iter()
                .map(|(op, f)| row.get(&alias(*op, f)).and_then(lenient_f64))
                .collect(),
        });
    }
    Ok(groups)
}

async fn fetch(
    source: &Source<'_>,
    spec: &Spec,
    apply: Apply,
    order_by: Vec<OrderBy>,
) -> Result<Vec<Arc<Row>>, GatewayError> {
    let max_groups = source.policy.max_groups;
    // One more than allowed tells that there are too many.
    let query = CollectionQuery::new(spec.entity.name)
        .order_by(order_by)
        .top(max_groups + 1)
        .apply(apply);
    let page = source
        .upstream
        .fetch_collection(source.caller, source.report, &query, source.dialect)
        .await?;
    if page.rows.len() as u64 > max_groups {
        return Err(too_many_groups(spec.entity, max_groups));
    }
    Ok(page.rows.clone())
}
