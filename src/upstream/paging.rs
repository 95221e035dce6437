//! The upstream's page cap: no request carries a `$top` above it (Live
//! Agent answers 400 past 10 000). A larger read goes out as consecutive
//! pages, `$skip` advancing, and a nested `$expand` `$top` is clamped to the
//! cap (whoever reads the expansion tells a clamped list from a whole one).
//! Pure query arithmetic; `Upstream::fetch_collection` sends the pages.

use crate::model::KEY;
use crate::odata::{CollectionQuery, EntityQuery, Expand, OrderBy};
use std::borrow::Cow;

/// `$top` and `$skip` of one page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub top: u64,
    pub skip: u64,
}

/// The pages of a read of `top` rows from `skip`, in order, none above
/// `cap`: the read itself when it fits (even `$top=0`, which counts).
pub fn windows(top: u64, skip: u64, cap: u64) -> impl Iterator<Item = Window> {
    let cap = cap.max(1);
    let pages = top.div_ceil(cap).max(1);
    (0..pages).map(move |n| {
        // n * cap < top here, so neither side overflows.
        let offset = n * cap;
        Window {
            top: (top - offset).min(cap),
            skip: skip.saturating_add(offset),
        }
    })
}

/// The page queries of a collection read above the cap, in order, made as
/// they are asked for; `None` when the read fits in one request.
pub fn pages(
    query: &CollectionQuery,
    cap: u64,
) -> Option<impl Iterator<Item = CollectionQuery> + Send + 'static> {
    if query.top <= cap {
        return None;
    }
    let mut paged = query.clone();
    if paged.order_by.is_empty() {
        paged.order_by = stable_order(&paged);
    }
    let count = query.count;
    let pages = windows(query.top, query.skip, cap)
        .enumerate()
        .map(move |(n, w)| {
            paged
                .clone()
                .top(w.top)
                .skip(w.skip)
                // The count is the same on every page: ask it once.
                .count(count && n == 0)
        });
    Some(pages)
}

/// Without `$orderby` the server may return rows in a different order on
/// each request, so pages cut by `$skip` could overlap or miss rows: order
/// by the key, or for `$apply` by its groups (an ungrouped aggregate is a
/// single row).
fn stable_order(query: &CollectionQuery) -> Vec<OrderBy> {
    let properties = match &query.apply {
        Some(apply) => apply.group_by.clone(),
        None => vec![KEY],
    };
    properties
        .into_iter()
        .map(|property| OrderBy {
            property,
            descending: false,
        })
        .collect()
}

/// The collection query with every nested `$top` at most `cap`; borrowed
/// when nothing is clamped, so reads within the cap stay as they are.
pub fn clamp_collection(query: &CollectionQuery, cap: u64) -> Cow<'_, CollectionQuery> {
    if expands_fit(&query.expand, cap) {
        return Cow::Borrowed(query);
    }
    let mut clamped = query.clone();
    clamp_expands(&mut clamped.expand, cap);
    Cow::Owned(clamped)
}

/// The key lookup with every nested `$top` at most `cap`.
pub fn clamp_entity(query: &EntityQuery, cap: u64) -> Cow<'_, EntityQuery> {
    if expands_fit(&query.expand, cap) {
        return Cow::Borrowed(query);
    }
    let mut clamped = query.clone();
    clamp_expands(&mut clamped.expand, cap);
    Cow::Owned(clamped)
}

fn expands_fit(expands: &[Expand], cap: u64) -> bool {
    expands
        .iter()
        .all(|e| e.top.is_none_or(|top| top <= cap) && expands_fit(&e.expand, cap))
}

fn clamp_expands(expands: &mut [Expand], cap: u64) {
    for expand in expands {
        expand.top = expand.top.map(|top| top.min(cap));
        clamp_expands(&mut expand.expand, cap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::{Apply, Dialect};

    fn all_pages(query: &CollectionQuery, cap: u64) -> Vec<CollectionQuery> {
        pages(query, cap).map(Iterator::collect).unwrap_or_default()
    }

    fn pairs(top: u64, skip: u64, cap: u64) -> Vec<(u64, u64)> {
        windows(top, skip, cap).map(|w| (w.top, w.skip)).collect()
    }

    #[test]
    fn windows_cover_the_read_in_order_none_above_the_cap() {
        assert_eq!(pairs(50, 0, 10_000), [(50, 0)]);
        assert_eq!(pairs(10_000, 7, 10_000), [(10_000, 7)]);
        assert_eq!(pairs(0, 20, 10), [(0, 20)]);
        assert_eq!(pairs(10_001, 0, 10_000), [(10_000, 0), (1, 10_000)]);
        assert_eq!(pairs(1001, 500, 1000), [(1000, 500), (1, 1500)]);
        assert_eq!(
            pairs(3000, 0, 1000),
            [(1000, 0), (1000, 1000), (1000, 2000)]
        );
        assert_eq!(pairs(5, 0, 2), [(2, 0), (2, 2), (1, 4)]);
        assert_eq!(
            pairs(3, u64::MAX - 1, 2),
            [(2, u64::MAX - 1), (1, u64::MAX)]
        );
    }

    #[test]
    fn windows_of_a_huge_read_are_produced_lazily() {
        let mut w = windows(u64::MAX, 0, 10_000);
        assert_eq!(
            w.next(),
            Some(Window {
                top: 10_000,
                skip: 0
            })
        );
        let last = windows(u64::MAX, 0, 1 << 62).last();
        assert_eq!(last.map(|w| w.top + w.skip), Some(u64::MAX));
        let huge = CollectionQuery::new("Message").top(u64::MAX);
        let second = pages(&huge, 10_000).and_then(|mut p| p.nth(1));
        assert_eq!(second.map(|q| (q.top, q.skip)), Some((10_000, 10_000)));
    }

    #[test]
    fn reads_within_the_cap_are_not_split() {
        let q = CollectionQuery::new("Conversation").top(1000).count(true);
        assert!(pages(&q, 1000).is_none());
    }

    #[test]
    fn pages_keep_the_order_and_count_once() {
        let order = vec![OrderBy {
            property: "created_at",
            descending: true,
        }];
        let q = CollectionQuery::new("Message")
            .select(vec!["id"])
            .order_by(order.clone())
            .top(2500)
            .skip(10)
            .count(true);
        let urls: Vec<String> = all_pages(&q, 1000)
            .iter()
            .map(|p| p.to_relative_url(Dialect::odata4()))
            .collect();
        assert_eq!(
            urls,
            [
                "Message?$select=id&$orderby=created_at%20desc&$top=1000&$skip=10&$count=true",
                "Message?$select=id&$orderby=created_at%20desc&$top=1000&$skip=1010",
                "Message?$select=id&$orderby=created_at%20desc&$top=500&$skip=2010",
            ]
        );
    }

    #[test]
    fn unordered_reads_are_ordered_before_they_are_split() {
        let q = CollectionQuery::new("Message").top(3);
        let first = all_pages(&q, 2).remove(0);
        assert_eq!(
            first.to_relative_url(Dialect::odata4()),
            "Message?$orderby=id%20asc&$top=2&$skip=0"
        );
        let grouped = CollectionQuery::new("Conversation").top(3).apply(Apply {
            filter: None,
            group_by: vec!["inbox_id"],
            count_alias: Some("n".into()),
            aggregates: Vec::new(),
        });
        let first = all_pages(&grouped, 2).remove(0);
        assert_eq!(
            first.order_by,
            [OrderBy {
                property: "inbox_id",
                descending: false
            }]
        );
        let ungrouped = CollectionQuery::new("Conversation").top(3).apply(Apply {
            filter: None,
            group_by: Vec::new(),
            count_alias: Some("n".into()),
            aggregates: Vec::new(),
        });
        let first = all_pages(&ungrouped, 2).remove(0);
        assert!(first.order_by.is_empty(), "an aggregate row has no id");
    }

    #[test]
    fn nested_tops_are_clamped_at_every_depth() {
        let expand = |top, nested: Vec<Expand>| Expand {
            navigation: "messages",
            select: vec!["id"],
            filter: None,
            order_by: Vec::new(),
            top,
            expand: nested,
        };
        let within = CollectionQuery::new("Conversation")
            .expand(vec![expand(Some(1000), vec![expand(None, Vec::new())])])
            .top(10);
        assert!(matches!(clamp_collection(&within, 1000), Cow::Borrowed(_)));
        let deep = CollectionQuery::new("Inbox")
            .expand(vec![expand(
                Some(3),
                vec![expand(Some(10_001), Vec::new())],
            )])
            .top(10);
        let clamped = clamp_collection(&deep, 1000);
        assert_eq!(clamped.expand[0].top, Some(3));
        assert_eq!(clamped.expand[0].expand[0].top, Some(1000));
        let lookup = EntityQuery {
            entity_set: "Conversation",
            key: 1,
            select: vec!["id"],
            expand: vec![expand(Some(10_001), Vec::new())],
        };
        assert_eq!(clamp_entity(&lookup, 1000).expand[0].top, Some(1000));
    }
}
