//! How big a parsed document is: its root fields and aliases (the
//! gateway's own limits), how deeply its selection sets nest
//! (`limit_recursive_depth`), and the depth and complexity of its fields
//! (`limit_depth`, `limit_complexity`), the last three counted by the rules
//! of async-graphql's validation so that the document stage refuses first.
//! Fragments count where they are spread; each fragment is measured once,
//! so spreading a fragment many times makes the measure no slower.

use async_graphql::parser::types::{
    ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::parser::Positioned;
use async_graphql::Pos;
use std::collections::{HashMap, HashSet};

/// Fields below a selection set: how deeply they nest, and how many there
/// are. `__typename` is not counted; a fragment counts wherever it is
/// spread.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cost {
    pub depth: usize,
    pub complexity: usize,
}

/// The cost of a document as async-graphql's validation counts it: every
/// operation is walked (the most deeply nested gives the depth, the
/// complexities add up), except mutations (the schema has no Mutation
/// root, so validation does not walk them).
pub fn cost(doc: &ExecutableDocument) -> Cost {
    let mut walk = CostWalk {
        doc,
        fragments: HashMap::new(),
        open: HashSet::new(),
    };
    let mut total = Cost::default();
    for (_, op) in doc.operations.iter() {
        if op.node.ty != OperationType::Mutation {
            total = total.beside(walk.selections(&op.node.selection_set.node));
        }
    }
    total
}

impl Cost {
    /// This cost and another of the same selection set.
    fn beside(self, other: Cost) -> Cost {
        Cost {
            depth: self.depth.max(other.depth),
            complexity: self.complexity.saturating_add(other.complexity),
        }
    }
}

struct CostWalk<'a> {
    doc: &'a ExecutableDocument,
    /// Each fragment's cost, once measured.
    fragments: HashMap<&'a str, Cost>,
    /// Fragments being measured: spread again inside, they are a cycle
    /// (refused by the nesting check before any cost is measured).
    open: HashSet<&'a str>,
}

impl<'a> CostWalk<'a> {
    fn selections(&mut self, set: &'a SelectionSet) -> Cost {
        let mut total = Cost::default();
        for item in &set.items {
            let part = match &item.node {
                Selection::Field(field) if field.node.name.node == "__typename" => continue,
                Selection::Field(field) => {
                    let below = self.selections(&field.node.selection_set.node);
                    Cost {
                        depth: below.depth.saturating_add(1),
                        complexity: below.complexity.saturating_add(1),
                    }
                }
                Selection::InlineFragment(inline) => {
                    self.selections(&inline.node.selection_set.node)
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str())
                }
            };
            total = total.beside(part);
        }
        total
    }

    fn fragment(&mut self, name: &'a str) -> Cost {
        if let Some(cost) = self.fragments.get(name) {
            return *cost;
        }
        let Some(fragment) = self.doc.fragments.get(name) else {
            return Cost::default();
        };
        if !self.open.insert(name) {
            return Cost::default();
        }
        let cost = self.selections(&fragment.node.selection_set.node);
        self.open.remove(name);
        self.fragments.insert(name, cost);
        cost
    }
}

/// The first selection set (depth first, in document order) nested more
/// than `limit` selection sets deep, as `limit_recursive_depth` finds it:
/// each field's selection set, inline fragment and spread fragment is one
/// level more. Every operation counts.
pub fn nested_past(doc: &ExecutableDocument, limit: usize) -> Option<Pos> {
    let mut walk = NestingWalk {
        doc,
        limit,
        passed: HashSet::new(),
    };
    doc.operations
        .iter()
        .find_map(|(_, op)| walk.set(&op.node.selection_set, 0))
}

struct NestingWalk<'a> {
    doc: &'a ExecutableDocument,
    limit: usize,
    /// Fragments known to stay within the limit when spread at a depth:
    /// each is walked at most once per depth.
    passed: HashSet<(&'a str, usize)>,
}

impl<'a> NestingWalk<'a> {
    /// Recursion stops `limit` levels down, as async-graphql's does.
    fn set(&mut self, set: &'a Positioned<SelectionSet>, depth: usize) -> Option<Pos> {
        if depth > self.limit {
            return Some(set.pos);
        }
        set.node.items.iter().find_map(|item| match &item.node {
            Selection::Field(field) if field.node.selection_set.node.items.is_empty() => None,
            Selection::Field(field) => self.set(&field.node.selection_set, depth + 1),
            Selection::InlineFragment(inline) => self.set(&inline.node.selection_set, depth + 1),
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                let fragment = self.doc.fragments.get(name)?;
                if self.passed.contains(&(name, depth)) {
                    return None;
                }
                let found = self.set(&fragment.node.selection_set, depth + 1);
                if found.is_none() {
                    self.passed.insert((name, depth));
                }
                found
            }
        })
    }
}

/// Root fields the operation selects, fragments spread in place (each
/// fragment once per path: a cycle is a validation error reported later).
pub fn root_fields(doc: &ExecutableDocument, op: &OperationDefinition) -> usize {
    count_fields(doc, &op.selection_set.node, &mut HashSet::new())
}

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
pub fn aliases(doc: &ExecutableDocument) -> usize {
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
    use async_graphql::dynamic::{
        Field, FieldFuture, FieldValue, Object, Schema, Subscription, SubscriptionField,
        SubscriptionFieldFuture, TypeRef,
    };
    use async_graphql::parser::types::DocumentOperations;

    /// `Query` and `Subscription` with `obj` and `value`; `Obj` with `a`,
    /// `b` and `c: Obj`. Every field resolves to null.
    fn schema(depth: usize, complexity: usize, nesting: usize) -> Schema {
        let null = |name: &str, ty: TypeRef| {
            Field::new(name, ty, |_| {
                FieldFuture::new(async { Ok(Some(FieldValue::NULL)) })
            })
        };
        let int = || TypeRef::named(TypeRef::INT);
        let obj = Object::new("Obj")
            .field(null("a", int()))
            .field(null("b", int()))
            .field(null("c", TypeRef::named("Obj")));
        let query = Object::new("Query")
            .field(null("obj", TypeRef::named("Obj")))
            .field(null("value", int()));
        let live = |name: &str, ty: TypeRef| {
            SubscriptionField::new(name, ty, |_| {
                SubscriptionFieldFuture::new(async {
                    Ok(futures::stream::empty::<async_graphql::Result<FieldValue>>())
                })
            })
        };
        let subscription = Subscription::new("Subscription")
            .field(live("obj", TypeRef::named("Obj")))
            .field(live("value", int()));
        Schema::build("Query", None, Some("Subscription"))
            .register(obj)
            .register(query)
            .register(subscription)
            .limit_depth(depth)
            .limit_complexity(complexity)
            .limit_recursive_depth(nesting)
            .finish()
            .expect("schema")
    }

    /// async-graphql's own messages for `query` under these limits.
    fn library(query: &str, depth: usize, complexity: usize, nesting: usize) -> Vec<String> {
        let request = async_graphql::Request::new(query).operation_name("Q");
        let response =
            futures::executor::block_on(schema(depth, complexity, nesting).execute(request));
        response.errors.into_iter().map(|e| e.message).collect()
    }

    const DOCUMENTS: [&str; 8] = [
        "query Q { value }",
        "query Q { __typename obj { __typename a } }",
        "query Q { obj { a b c { a c { b } } } value }",
        "query Q { obj { ...F c { ...F } } } fragment F on Obj { a c { b } }",
        "query Q { obj { ... on Obj { a ... { c { a } } } } }",
        "query Q { obj { a } } query R { obj { c { c { a } } } value }",
        "query Q { obj { a } } subscription S { obj { c { c { a b } } } }",
        "query Q { value } mutation M { obj { c { c { c { a } } } } }",
    ];

    #[test]
    fn depth_and_complexity_are_counted_as_async_graphql_counts_them() {
        for query in DOCUMENTS {
            let doc = async_graphql::parser::parse_query(query).expect("query");
            let Cost { depth, complexity } = cost(&doc);
            let refused =
                |d, c, message: &str| library(query, d, c, 64).iter().any(|m| m == message);
            let deep = "Query is nested too deep.";
            let complex = "Query is too complex.";
            assert!(!refused(depth, complexity, deep), "{query}: depth {depth}");
            assert!(
                !refused(depth, complexity, complex),
                "{query}: {complexity}"
            );
            if depth > 0 {
                assert!(
                    refused(depth - 1, complexity, deep),
                    "{query}: depth {depth}"
                );
            }
            if complexity > 0 {
                assert!(
                    refused(depth, complexity - 1, complex),
                    "{query}: {complexity}"
                );
            }
        }
        let doc = async_graphql::parser::parse_query(DOCUMENTS[3]).expect("query");
        assert_eq!(
            cost(&doc),
            Cost {
                depth: 4,
                complexity: 8
            }
        );
    }

    #[test]
    fn nesting_is_found_where_async_graphql_finds_it() {
        let chain = "query Q { obj { ...A } } fragment A on Obj { c { ...B } } \
                     fragment B on Obj { ... on Obj { c { a } } }";
        for query in DOCUMENTS.into_iter().chain([chain]) {
            let doc = async_graphql::parser::parse_query(query).expect("query");
            for limit in 0..8 {
                let ours = nested_past(&doc, limit);
                // The same parsed document: operations in the same order.
                let mut request = async_graphql::Request::new(query).operation_name("Q");
                request.set_parsed_query(doc.clone());
                let response =
                    futures::executor::block_on(schema(64, 1000, limit).execute(request));
                let theirs = response
                    .errors
                    .iter()
                    .find(|e| e.message.starts_with("The recursion depth"))
                    .map(|e| e.locations.clone());
                assert_eq!(ours.map(|at| vec![at]), theirs, "{query} at {limit}");
            }
        }
    }

    #[test]
    fn fragments_spread_many_times_are_measured_once() {
        let mut query = String::from("query Q { obj { ...F0 } }");
        for i in 0..40 {
            query.push_str(&format!(
                " fragment F{i} on Obj {{ a ...F{} ...F{} }}",
                i + 1,
                i + 1
            ));
        }
        query.push_str(" fragment F40 on Obj { b }");
        let doc = async_graphql::parser::parse_query(&query).expect("query");
        let Cost { depth, complexity } = cost(&doc);
        assert_eq!((depth, complexity), (2, 1 << 41));
        assert_eq!(nested_past(&doc, 42), None);
        assert!(nested_past(&doc, 41).is_some());
    }

    #[test]
    fn root_fields_and_aliases() {
        let doc = async_graphql::parser::parse_query(
            "{ a: obj { x: a } value ...F } fragment F on Query { y: value }",
        )
        .expect("query");
        let DocumentOperations::Single(op) = &doc.operations else {
            panic!("one operation");
        };
        assert_eq!(root_fields(&doc, &op.node), 3);
        assert_eq!(aliases(&doc), 3);
    }
}
