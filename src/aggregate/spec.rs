//! What one aggregate asks for, whichever engine answers it: the rows (a
//! filter), the groups (fields and a time bucket), the metrics and the
//! order of the groups.

use super::bucket::Bucketing;
use crate::error::GatewayError;
use crate::model::{Entity, Field};
use crate::odata::Filter;

/// A number computed per group from a measure column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumOp {
    Sum,
    Avg,
    Min,
    Max,
    /// Needs every value of the group, not a running total.
    Median,
}

impl NumOp {
    /// The metrics every aggregate group offers per measure field.
    pub const FIELDS: [NumOp; 4] = [NumOp::Sum, NumOp::Avg, NumOp::Min, NumOp::Max];

    /// The metric's name: a group's field, an alias upstream, and (upper
    /// case) the SQL function of the four that have one.
    pub fn name(self) -> &'static str {
        match self {
            NumOp::Sum => "sum",
            NumOp::Avg => "avg",
            NumOp::Min => "min",
            NumOp::Max => "max",
            NumOp::Median => "median",
        }
    }

    /// One of [`NumOp::FIELDS`] by its name, in any case.
    pub fn field_named(name: &str) -> Option<NumOp> {
        NumOp::FIELDS
            .into_iter()
            .find(|op| op.name().eq_ignore_ascii_case(name))
    }

    /// Whether the metric needs every value (no engine folds it in one
    /// running total).
    pub fn needs_values(self) -> bool {
        self == NumOp::Median
    }
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

impl Spec {
    /// A plain count of `entity`'s rows matching `filter`, grouped by
    /// `group_by`; metrics and buckets are added by the caller.
    pub fn grouped(entity: &'static Entity, filter: Filter, group_by: Vec<&'static Field>) -> Spec {
        Spec {
            entity,
            filter: filter.simplify(),
            group_by,
            bucket: None,
            distinct: Vec::new(),
            numbers: Vec::new(),
            order: Vec::new(),
            first: None,
        }
    }

    /// Each measure column once, with whether a metric needs its values.
    pub fn measures(&self) -> Vec<(&'static Field, bool)> {
        let mut measures: Vec<(&'static Field, bool)> = Vec::new();
        for (op, field) in &self.numbers {
            match measures.iter_mut().find(|(f, _)| f.odata == field.odata) {
                Some(entry) => entry.1 |= op.needs_values(),
                None => measures.push((field, op.needs_values())),
            }
        }
        measures
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

    #[test]
    fn metric_names_are_read_back() {
        for op in NumOp::FIELDS {
            assert_eq!(NumOp::field_named(&op.name().to_uppercase()), Some(op));
        }
        assert_eq!(NumOp::field_named("median"), None);
        assert!(NumOp::Median.needs_values() && !NumOp::Avg.needs_values());
    }
}
