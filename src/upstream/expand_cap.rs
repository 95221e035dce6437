//! The upstream's page cap inside `$expand`: no nested `$top` goes above
//! it (Live Agent answers 400 past 10 000); whoever reads the expansion
//! tells a clamped list from a whole one. (Reads above the cap at the top
//! level are split into pages by `pages`.)

use crate::odata::{CollectionQuery, EntityQuery, Expand};
use std::borrow::Cow;

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
