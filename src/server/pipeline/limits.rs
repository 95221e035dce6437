//! Limits checked on the parsed document before execution: root fields of
//! the operation that runs, and aliases. Depth and complexity are checked
//! by async-graphql itself (`limit_depth`, `limit_complexity`); their
//! errors get their code in `error::ensure_codes`.

use crate::error::GatewayError;
use crate::schema::operation::selected;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use std::collections::HashSet;

#[derive(Debug, Clone, Copy)]
pub struct DocumentLimits {
    pub max_root_fields: usize,
    pub max_aliases: usize,
    pub max_nesting: usize,
}

impl DocumentLimits {
    /// `Err(QueryTooComplex)` naming the setting when the document passes a
    /// limit. An operation name that matches nothing passes: execution
    /// reports it.
    pub fn check(
        &self,
        doc: &ExecutableDocument,
        operation_name: Option<&str>,
    ) -> Result<(), GatewayError> {
        let aliases = count_aliases(doc);
        if aliases > self.max_aliases {
            return Err(GatewayError::QueryTooComplex(format!(
                "the document has {aliases} aliases; at most {} are allowed (max_aliases)",
                self.max_aliases
            )));
        }
        if let Some(op) = selected(&doc.operations, operation_name) {
            let mut seen = HashSet::new();
            let roots = count_fields(doc, &op.node.selection_set.node, &mut seen);
            if roots > self.max_root_fields {
                return Err(GatewayError::QueryTooComplex(format!(
                    "the operation selects {roots} root fields; at most {} are allowed (max_root_fields): split it into several requests",
                    self.max_root_fields
                )));
            }
        }
        Ok(())
    }
}

/// Fields of a selection set, fragments spread in place (each fragment
/// once per path: a cycle is a validation error reported later).
fn count_fields<'a>(
    doc: &'a ExecutableDocument,
    set: &'a SelectionSet,
    seen: &mut HashSet<&'a str>,
) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(f) => count_fields(doc, &f.node.selection_set.node, seen),
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match doc.fragments.get(name) {
                    Some(fragment) if seen.insert(name) => {
                        let n = count_fields(doc, &fragment.node.selection_set.node, seen);
                        seen.remove(name);
                        n
                    }
                    _ => 0,
                }
            }
        })
        .sum()
}

/// Aliased fields written in the document (operations and fragments).
fn count_aliases(doc: &ExecutableDocument) -> usize {
    fn walk(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(f) => {
                    usize::from(f.node.alias.is_some()) + walk(&f.node.selection_set.node)
                }
                Selection::InlineFragment(f) => walk(&f.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let operations: usize = doc
        .operations
        .iter()
        .map(|(_, op)| walk(&op.node.selection_set.node))
        .sum();
    let fragments: usize = doc
        .fragments
        .values()
        .map(|f| walk(&f.node.selection_set.node))
        .sum();
    operations + fragments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, name: Option<&str>, roots: usize, aliases: usize) -> Result<(), String> {
        let doc = async_graphql::parser::parse_query(query).expect("query");
        DocumentLimits {
            max_root_fields: roots,
            max_aliases: aliases,
            max_nesting: 64,
        }
        .check(&doc, name)
        .map_err(|e| e.to_string())
    }

    #[test]
    fn root_fields_count_aliases_and_fragments() {
        let q = "{ a: labels { nodes { id } } b: labels { nodes { id } } ...F } fragment F on Query { inboxes { nodes { id } } }";
        assert!(check(q, None, 3, 10).is_ok());
        let err = check(q, None, 2, 10).expect_err("3 roots");
        assert!(err.contains("max_root_fields"), "{err}");
    }

    #[test]
    fn only_the_operation_that_runs_counts() {
        let q = "query A { labels { nodes { id } } } query B { a: labels { nodes { id } } b: inboxes { nodes { id } } }";
        assert!(check(q, Some("A"), 1, 10).is_ok());
        assert!(check(q, Some("B"), 1, 10).is_err());
    }

    #[test]
    fn aliases_are_counted_everywhere() {
        let q = "{ labels { nodes { x: id y: id } } ...F } fragment F on Query { z: inboxes { nodes { id } } }";
        assert!(check(q, None, 10, 3).is_ok());
        let err = check(q, None, 10, 2).expect_err("3 aliases");
        assert!(err.contains("max_aliases"), "{err}");
    }

    #[test]
    fn fragment_cycles_do_not_loop() {
        let q = "{ ...F } fragment F on Query { labels { nodes { id } } ...G } fragment G on Query { ...F }";
        assert!(check(q, None, 10, 10).is_ok());
    }
}
