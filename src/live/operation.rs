//! A subscription made ready to poll: the same operation over Query, its
//! `everySeconds` taken out. Each evaluation runs it as a query, through
//! the normal execution (cache, in-flight sharing, limits included).

use crate::error::GatewayError;
use crate::schema::operation::selected_mut;
use crate::schema::subscription::EVERY_SECONDS;
use async_graphql::parser::types::{
    Directive, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::parser::Positioned;
use async_graphql::{Name, Request, Variables};
use async_graphql_value::Value;

/// One subscription, as a query to evaluate again and again.
#[derive(Debug, Clone)]
pub struct LiveOperation {
    /// The text the client sent: with the operation name and the
    /// variables, what subscribers of one cohort share.
    pub query: String,
    pub operation_name: Option<String>,
    pub variables: Variables,
    /// The document rewritten as a query.
    document: ExecutableDocument,
    /// `everySeconds`, when given (`None`: the default interval).
    pub every_seconds: Option<i64>,
}

impl LiveOperation {
    /// The subscription selected in `document`, rewritten as a query: it
    /// selects exactly one root field, directly. `document` is valid
    /// against the schema (the Subscription root checks `everySeconds`).
    pub fn from_subscription(
        query: String,
        operation_name: Option<String>,
        variables: Variables,
        mut document: ExecutableDocument,
    ) -> Result<LiveOperation, GatewayError> {
        let ExecutableDocument {
            operations,
            fragments,
        } = &mut document;
        let operation = selected_mut(operations, operation_name.as_deref())
            .ok_or_else(|| GatewayError::bad_input("no subscription to run"))?;
        operation.node.ty = OperationType::Query;
        let items = &mut operation.node.selection_set.node.items;
        let [only] = items.as_mut_slice() else {
            return Err(GatewayError::bad_input(
                "a subscription selects exactly one root field",
            ));
        };
        let Selection::Field(field) = &mut only.node else {
            return Err(GatewayError::bad_input(
                "a subscription selects its root field directly, not through a fragment",
            ));
        };
        if field.node.name.node.starts_with("__") {
            return Err(GatewayError::bad_input(
                "a subscription selects a Subscription field, not an introspection field",
            ));
        }
        let arguments = &mut field.node.arguments;
        let every = arguments
            .iter()
            .position(|(name, _)| name.node == EVERY_SECONDS)
            .map(|at| arguments.remove(at).1.node);
        let every_seconds = match &every {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::Variable(name)) => variables.get(name).and_then(|v| match v {
                async_graphql::Value::Number(n) => n.as_i64(),
                _ => None,
            }),
            Some(_) => None,
        };
        if let Some(Value::Variable(name)) = every {
            // A variable only `everySeconds` used would now be unused: a
            // validation error of the query.
            let still_used = selection_set_uses(&operation.node.selection_set.node, &name)
                || directives_use(&operation.node.directives, &name)
                || fragments
                    .values()
                    .any(|f| selection_set_uses(&f.node.selection_set.node, &name));
            if !still_used {
                operation
                    .node
                    .variable_definitions
                    .retain(|d| d.node.name.node != name);
            }
        }
        Ok(LiveOperation {
            query,
            operation_name,
            variables,
            document,
            every_seconds,
        })
    }

    /// A request evaluating the operation once, as a query.
    pub fn request(&self) -> Request {
        let mut request = Request::new(self.query.clone()).variables(self.variables.clone());
        if let Some(name) = &self.operation_name {
            request = request.operation_name(name.clone());
        }
        request.set_parsed_query(self.document.clone());
        request
    }

    /// What subscribers with the same credential share a poller by.
    pub fn cohort_text(&self) -> String {
        let variables = serde_json::to_string(&self.variables).unwrap_or_default();
        format!(
            "{}\0{}\0{variables}",
            self.query,
            self.operation_name.as_deref().unwrap_or("")
        )
    }
}

fn selection_set_uses(set: &SelectionSet, name: &Name) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(f) => {
            f.node
                .arguments
                .iter()
                .any(|(_, v)| value_uses(&v.node, name))
                || directives_use(&f.node.directives, name)
                || selection_set_uses(&f.node.selection_set.node, name)
        }
        Selection::FragmentSpread(f) => directives_use(&f.node.directives, name),
        Selection::InlineFragment(f) => {
            directives_use(&f.node.directives, name)
                || selection_set_uses(&f.node.selection_set.node, name)
        }
    })
}

fn directives_use(directives: &[Positioned<Directive>], name: &Name) -> bool {
    directives.iter().any(|d| {
        d.node
            .arguments
            .iter()
            .any(|(_, v)| value_uses(&v.node, name))
    })
}

fn value_uses(value: &Value, name: &Name) -> bool {
    match value {
        Value::Variable(v) => v == name,
        Value::List(items) => items.iter().any(|v| value_uses(v, name)),
        Value::Object(fields) => fields.values().any(|v| value_uses(v, name)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::types::{DocumentOperations, OperationDefinition};
    use serde_json::json;

    fn live(query: &str, variables: serde_json::Value) -> Result<LiveOperation, GatewayError> {
        let document = async_graphql::parser::parse_query(query).expect("document");
        LiveOperation::from_subscription(
            query.into(),
            None,
            Variables::from_json(variables),
            document,
        )
    }

    fn selected_query(op: &LiveOperation) -> Positioned<OperationDefinition> {
        match &op.document.operations {
            DocumentOperations::Single(op) => op.clone(),
            DocumentOperations::Multiple(_) => panic!("one operation"),
        }
    }

    #[test]
    fn every_seconds_is_read_and_taken_out() {
        let op = live(
            "subscription { inboxes(first: 2, everySeconds: 7) { totalCount } }",
            json!({}),
        )
        .expect("live");
        assert_eq!(op.every_seconds, Some(7));
        let query = selected_query(&op);
        assert_eq!(query.node.ty, OperationType::Query);
        let Selection::Field(field) = &query.node.selection_set.node.items[0].node else {
            panic!("field");
        };
        assert_eq!(field.node.arguments.len(), 1);
    }

    #[test]
    fn a_variable_only_every_seconds_used_is_dropped() {
        let op = live(
            "subscription($s: Int, $n: Int) { inboxes(first: $n, everySeconds: $s) { totalCount } }",
            json!({"s": 3, "n": 1}),
        )
        .expect("live");
        assert_eq!(op.every_seconds, Some(3));
        let names: Vec<String> = selected_query(&op)
            .node
            .variable_definitions
            .iter()
            .map(|d| d.node.name.node.to_string())
            .collect();
        assert_eq!(names, ["n"]);
        let op = live(
            "subscription($s: Int) { inboxes(first: $s, everySeconds: $s) { totalCount } }",
            json!({"s": 3}),
        )
        .expect("live");
        assert_eq!(selected_query(&op).node.variable_definitions.len(), 1);
    }

    #[test]
    fn one_direct_root_field_only() {
        for query in [
            "subscription { a { x } b { x } }",
            "subscription { ...F } fragment F on Subscription { a { x } }",
            "subscription { __typename }",
        ] {
            let error = live(query, json!({})).expect_err(query);
            assert_eq!(error.kind(), crate::error::ErrorCode::BadUserInput);
        }
        let op = live("subscription { a { x } }", json!({})).expect("live");
        assert_eq!(op.every_seconds, None);
    }

    #[test]
    fn cohorts_differ_by_variables() {
        let a = live(
            "subscription($n: Int) { a(first: $n) { x } }",
            json!({"n": 1}),
        )
        .expect("a");
        let b = live(
            "subscription($n: Int) { a(first: $n) { x } }",
            json!({"n": 2}),
        )
        .expect("b");
        assert_ne!(a.cohort_text(), b.cohort_text());
        assert_eq!(a.cohort_text(), a.clone().cohort_text());
    }
}
