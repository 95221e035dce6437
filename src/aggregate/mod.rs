//! Grouped aggregates over one collection, without GraphQL: what to group
//! and measure (`Spec`), and three ways to get the same groups — from a
//! local copy of the account (`Local`, the analytics replica) when it can
//! answer, pushed down to the upstream as `$apply` (`pushdown`), or
//! computed here from a streamed scan of the few columns needed (`scan`).
//! The last two go through `Upstream::fetch_collection`, like every other
//! read.

pub mod analytics;
pub mod bucket;
mod groups;
mod pushdown;
mod scan;
mod settings;

pub use bucket::{Bucketing, TimeUnit};
/// The scan fold, for the benchmarks (`benches/hot_paths.rs`).
#[doc(hidden)]
pub use groups::Accumulator;
pub use groups::{lenient_f64, median, Group, KeyPart};
pub use settings::{Pushdown, Settings};

use crate::error::GatewayError;
use crate::model::{Entity, Field};
use crate::odata::{Dialect, Filter};
use crate::plan::residual::split;
use crate::report::Report;
use crate::upstream::{Caller, Upstream};
use std::cmp::Ordering;

/// A number computed per group from a measure column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumOp {
    Sum,
    Avg,
    Min,
    Max,
    /// Needs every value: computed by the scan path only.
    Median,
}

/// One sort key of the groups.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SortBy {
    /// The n-th grouped field.
    Key(usize),
    Bucket,
    Count,
    /// The n-th entry of `Spec::distinct`.
    Distinct(usize),
    /// The n-th entry of `Spec::numbers`.
    Number(usize),
}

/// What one aggregate asks for. Metrics are only those selected (or sorted
/// on): each costs memory on the scan path and a column upstream.
#[derive(Debug, Clone)]
pub struct Spec {
    pub entity: &'static Entity,
    /// Simplified; `Filter::False` sends nothing.
    pub filter: Filter,
    pub group_by: Vec<&'static Field>,
    /// A time column and its buckets. Rows where it is null are left out.
    pub bucket: Option<(&'static Field, Bucketing)>,
    pub distinct: Vec<&'static Field>,
    pub numbers: Vec<(NumOp, &'static Field)>,
    /// Applied in order, then by bucket and the grouped fields ascending.
    pub order: Vec<(SortBy, bool)>,
    pub first: Option<usize>,
}

/// A local copy of the account that may answer an aggregate without the
/// upstream: the analytics replica.
#[async_trait::async_trait]
pub trait Local: Send + Sync {
    /// The groups of `spec` (in any order, at most `max_groups`), or `None`
    /// when it cannot answer this caller now (not in sync, another
    /// account, a column it does not keep).
    async fn groups(
        &self,
        caller: &Caller,
        report: &Report,
        spec: &Spec,
        max_groups: u64,
    ) -> Result<Option<Vec<Group>>, GatewayError>;
}

/// Where an aggregate reads from: the local copy if any, else the
/// upstream, as one caller.
pub struct Source<'a> {
    pub upstream: &'a Upstream,
    pub caller: &'a Caller,
    pub report: &'a Report,
    pub dialect: Dialect,
    pub settings: &'a Settings,
    pub local: Option<&'a dyn Local>,
}

/// How a result was computed, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Replica,
    Pushdown,
    Scan,
}

/// The groups of `spec`, sorted and cut to `first`.
pub async fn run(source: &Source<'_>, spec: &Spec) -> Result<Vec<Group>, GatewayError> {
    let split = split(&spec.filter, source.dialect);
    if split.is_false() {
        return Ok(Vec::new());
    }
    // `Cache-Control: no-cache` asks the upstream itself.
    if let Some(local) = source.local.filter(|_| !source.caller.no_cache) {
        if let Some(groups) = local
            .groups(
                source.caller,
                source.report,
                spec,
                source.settings.max_groups,
            )
            .await?
        {
            tracing::debug!(entity = spec.entity.name, path = ?Path::Replica, groups = groups.len(), "aggregate");
            return Ok(finish(spec, groups));
        }
    }
    // The upstream aggregates only what it filters exactly.
    let pushed = if !split.has_residual()
        && source
            .settings
            .pushdown_enabled(source, spec.entity)
            .await?
    {
        let exact = Spec {
            filter: split.upstream.clone(),
            ..spec.clone()
        };
        pushdown::run(source, &exact).await?
    } else {
        None
    };
    let (path, groups) = match pushed {
        Some(groups) => (Path::Pushdown, groups),
        None => (Path::Scan, scan::run(source, spec, &split).await?),
    };
    tracing::debug!(
        entity = spec.entity.name,
        ?path,
        groups = groups.len(),
        "aggregate"
    );
    Ok(finish(spec, groups))
}

fn finish(spec: &Spec, mut groups: Vec<Group>) -> Vec<Group> {
    groups.sort_by(|a, b| compare(spec, a, b));
    if let Some(first) = spec.first {
        groups.truncate(first);
    }
    groups
}

fn compare(spec: &Spec, a: &Group, b: &Group) -> Ordering {
    let by = |key: SortBy| match key {
        SortBy::Key(i) => a.key.get(i).cmp(&b.key.get(i)),
        SortBy::Bucket => a.bucket.cmp(&b.bucket),
        SortBy::Count => a.count.cmp(&b.count),
        SortBy::Distinct(i) => a.distinct.get(i).cmp(&b.distinct.get(i)),
        SortBy::Number(i) => compare_numbers(a.number(i), b.number(i)),
    };
    for (key, descending) in &spec.order {
        let ordering = by(*key);
        let ordering = if *descending {
            ordering.reverse()
        } else {
            ordering
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    // Ties and the default order: bucket, then the grouped fields.
    by(SortBy::Bucket).then_with(|| a.key.cmp(&b.key))
}

/// Nulls first, as `$orderby` sorts them.
fn compare_numbers(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
    }
}

pub fn too_many_groups(entity: &Entity, cap: u64) -> GatewayError {
    GatewayError::QueryTooComplex(format!(
        "the {} aggregate has more than {cap} groups (max_groups); group by fewer fields, use a coarser bucket or narrow `where`",
        entity.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::entity;

    fn group(key: i64, count: u64, avg: Option<f64>) -> Group {
        Group {
            key: vec![KeyPart::Int(key)],
            bucket: None,
            count,
            distinct: vec![],
            numbers: vec![avg],
        }
    }

    #[test]
    fn groups_sort_by_metric_then_key_and_are_cut() {
        let e = entity("ReportingEvent").expect("entity");
        let value = e.field("value").expect("value");
        let spec = Spec {
            entity: e,
            filter: Filter::True,
            group_by: vec![e.field("user_id").expect("user_id")],
            bucket: None,
            distinct: vec![],
            numbers: vec![(NumOp::Avg, value)],
            order: vec![(SortBy::Number(0), true)],
            first: Some(3),
        };
        let groups = vec![
            group(3, 1, Some(2.0)),
            group(1, 1, None),
            group(2, 5, Some(9.5)),
            group(4, 2, Some(2.0)),
        ];
        let keys: Vec<_> = finish(&spec, groups)
            .iter()
            .map(|g| g.key[0].clone())
            .collect();
        assert_eq!(
            keys,
            vec![KeyPart::Int(2), KeyPart::Int(3), KeyPart::Int(4)]
        );
    }
}
