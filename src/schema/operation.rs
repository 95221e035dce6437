//! Which operation of a document a request runs: the one its
//! `operationName` names, else the document's only operation. A document
//! of one anonymous operation runs it whatever the name (execution then
//! reports a name that matches nothing).

use async_graphql::parser::types::{DocumentOperations, OperationDefinition, OperationType};
use async_graphql::parser::Positioned;

/// The operation that runs; `None` when the name matches nothing, or when
/// no name picks one of several operations.
pub fn selected<'a>(
    operations: &'a DocumentOperations,
    name: Option<&str>,
) -> Option<&'a Positioned<OperationDefinition>> {
    match (operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(ops), None) => only(ops.values()),
    }
}

/// [`selected`], to rewrite it.
pub fn selected_mut<'a>(
    operations: &'a mut DocumentOperations,
    name: Option<&str>,
) -> Option<&'a mut Positioned<OperationDefinition>> {
    match (operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get_mut(name),
        (DocumentOperations::Multiple(ops), None) => only(ops.values_mut()),
    }
}

/// The type of the operation that runs.
pub fn selected_type(operations: &DocumentOperations, name: Option<&str>) -> Option<OperationType> {
    selected(operations, name).map(|op| op.node.ty)
}

/// The one item, or `None` for none or several.
fn only<T>(mut items: impl ExactSizeIterator<Item = T>) -> Option<T> {
    (items.len() == 1).then(|| items.next()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(query: &str, name: Option<&str>) -> Option<OperationType> {
        let document = async_graphql::parser::parse_query(query).expect("query");
        selected_type(&document.operations, name)
    }

    #[test]
    fn the_named_or_the_only_operation_runs() {
        assert_eq!(ty("mutation { x }", None), Some(OperationType::Mutation));
        assert_eq!(ty("{ x }", Some("Any")), Some(OperationType::Query));
        assert_eq!(ty("query A { x }", None), Some(OperationType::Query));
        let two = "query a { x } subscription b { y }";
        assert_eq!(ty(two, Some("b")), Some(OperationType::Subscription));
        assert_eq!(ty(two, Some("a")), Some(OperationType::Query));
        assert_eq!(ty(two, Some("c")), None);
        assert_eq!(ty(two, None), None);
    }

    #[test]
    fn the_selected_operation_can_be_rewritten() {
        let mut document =
            async_graphql::parser::parse_query("query a { x } query b { y }").expect("query");
        let op = selected_mut(&mut document.operations, Some("b")).expect("b");
        op.node.ty = OperationType::Subscription;
        assert_eq!(
            selected_type(&document.operations, Some("b")),
            Some(OperationType::Subscription)
        );
    }
}
