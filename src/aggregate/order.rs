//! The order of the groups and the cut to `first`, the same whichever
//! engine computed them.

use super::group::Group;
use super::spec::{SortBy, Spec};
use std::cmp::Ordering;

/// The groups of `spec`, sorted and cut to `first`.
pub fn finish(spec: &Spec, mut groups: Vec<Group>) -> Vec<Group> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{KeyPart, NumOp};
    use crate::model::entity;
    use crate::odata::Filter;

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
        let mut spec = Spec::grouped(e, Filter::True, vec![e.field("user_id").expect("user_id")]);
        spec.numbers = vec![(NumOp::Avg, value)];
        spec.order = vec![(SortBy::Number(0), true)];
        spec.first = Some(3);
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
