//! Limits checked on the parsed document before execution, each refusal
//! QUERY_TOO_COMPLEX naming its setting: aliases in the document and root
//! fields of the operation that runs; then how deeply selection sets nest
//! (`max_nesting`), the complexity (`max_complexity`) and the depth
//! (`max_depth`), measured by async-graphql's rules (`measures.rs`) and in
//! its order, so that its own checks of the same limits, kept as a
//! backstop, never refuse first.

use super::error::RequestError;
use super::measures;
use crate::error::GatewayError;
use crate::schema::operation::selected;
use async_graphql::parser::types::ExecutableDocument;

#[derive(Debug, Clone, Copy)]
pub struct DocumentLimits {
    pub max_root_fields: usize,
    pub max_aliases: usize,
    pub max_nesting: usize,
    pub max_depth: usize,
    pub max_complexity: usize,
}

impl DocumentLimits {
    /// Aliases and root fields. An operation name that matches nothing
    /// passes: execution reports it.
    pub fn check_fields(
        &self,
        doc: &ExecutableDocument,
        operation_name: Option<&str>,
    ) -> Result<(), GatewayError> {
        let aliases = measures::aliases(doc);
        if aliases > self.max_aliases {
            return Err(GatewayError::QueryTooComplex(format!(
                "the document has {aliases} aliases; at most {} are allowed (max_aliases)",
                self.max_aliases
            )));
        }
        if let Some(op) = selected(&doc.operations, operation_name) {
            let roots = measures::root_fields(doc, &op.node);
            if roots > self.max_root_fields {
                return Err(GatewayError::QueryTooComplex(format!(
                    "the operation selects {roots} root fields; at most {} are allowed (max_root_fields): split it into several requests",
                    self.max_root_fields
                )));
            }
        }
        Ok(())
    }

    /// Nesting of selection sets (located where it passes the limit), then
    /// complexity, then depth, over every operation of the document.
    pub fn check_selections(&self, doc: &ExecutableDocument) -> Result<(), RequestError> {
        if let Some(at) = measures::nested_past(doc, self.max_nesting) {
            let error = GatewayError::QueryTooComplex(format!(
                "The recursion depth of the query cannot be greater than `{}` (the limit is the `max_nesting` setting)",
                self.max_nesting
            ));
            return Err(RequestError::Invalid(vec![error
                .into_graphql()
                .into_server_error(at)]));
        }
        let cost = measures::cost(doc);
        let passed = if cost.complexity > self.max_complexity {
            Some("Query is too complex. (the limit is the `max_complexity` setting)")
        } else if cost.depth > self.max_depth {
            Some("Query is nested too deep. (the limit is the `max_depth` setting)")
        } else {
            None
        };
        match passed {
            Some(message) => Err(RequestError::Refused(GatewayError::QueryTooComplex(
                message.into(),
            ))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: DocumentLimits = DocumentLimits {
        max_root_fields: 10,
        max_aliases: 10,
        max_nesting: 10,
        max_depth: 10,
        max_complexity: 100,
    };

    fn check(query: &str, name: Option<&str>, limits: DocumentLimits) -> Result<(), String> {
        let doc = async_graphql::parser::parse_query(query).expect("query");
        limits.check_fields(&doc, name).map_err(|e| e.to_string())?;
        limits.check_selections(&doc).map_err(|e| e.to_string())
    }

    #[test]
    fn root_fields_count_aliases_and_fragments() {
        let q = "{ a: labels { nodes { id } } b: labels { nodes { id } } ...F } fragment F on Query { inboxes { nodes { id } } }";
        let limits = |max_root_fields| DocumentLimits {
            max_root_fields,
            ..LIMITS
        };
        assert!(check(q, None, limits(3)).is_ok());
        let err = check(q, None, limits(2)).expect_err("3 roots");
        assert!(err.contains("max_root_fields"), "{err}");
    }

    #[test]
    fn only_the_operation_that_runs_counts_its_root_fields() {
        let q = "query A { labels { nodes { id } } } query B { a: labels { nodes { id } } b: inboxes { nodes { id } } }";
        let one = DocumentLimits {
            max_root_fields: 1,
            ..LIMITS
        };
        assert!(check(q, Some("A"), one).is_ok());
        assert!(check(q, Some("B"), one).is_err());
    }

    #[test]
    fn aliases_are_counted_everywhere() {
        let q = "{ labels { nodes { x: id y: id } } ...F } fragment F on Query { z: inboxes { nodes { id } } }";
        let limits = |max_aliases| DocumentLimits {
            max_aliases,
            ..LIMITS
        };
        assert!(check(q, None, limits(3)).is_ok());
        let err = check(q, None, limits(2)).expect_err("3 aliases");
        assert!(err.contains("max_aliases"), "{err}");
    }

    #[test]
    fn fragment_cycles_do_not_loop() {
        let q = "{ ...F } fragment F on Query { labels { nodes { id } } ...G } fragment G on Query { ...F }";
        let doc = async_graphql::parser::parse_query(q).expect("query");
        assert!(LIMITS.check_fields(&doc, None).is_ok());
        let err = check(q, None, LIMITS).expect_err("a cycle nests without end");
        assert!(err.contains("`max_nesting`"), "{err}");
    }

    #[test]
    fn nesting_then_complexity_then_depth_name_their_setting() {
        let deep = "{ a { b { c { d } } } }";
        let limits = |max_nesting, max_complexity, max_depth| DocumentLimits {
            max_nesting,
            max_complexity,
            max_depth,
            ..LIMITS
        };
        assert!(check(deep, None, limits(3, 4, 4)).is_ok());
        let refusal = |limits| check(deep, None, limits).expect_err("refused");
        assert_eq!(
            refusal(limits(2, 3, 3)),
            "The recursion depth of the query cannot be greater than `2` (the limit is the `max_nesting` setting)"
        );
        assert_eq!(
            refusal(limits(3, 3, 3)),
            "Query is too complex. (the limit is the `max_complexity` setting)"
        );
        assert_eq!(
            refusal(limits(3, 4, 3)),
            "Query is nested too deep. (the limit is the `max_depth` setting)"
        );
    }

    #[test]
    fn nesting_refusals_are_located_and_coded() {
        let doc = async_graphql::parser::parse_query("{ a {\n b { c } } }").expect("query");
        let limits = DocumentLimits {
            max_nesting: 1,
            ..LIMITS
        };
        let Err(RequestError::Invalid(errors)) = limits.check_selections(&doc) else {
            panic!("refused");
        };
        assert_eq!(
            errors[0].locations,
            [async_graphql::Pos { line: 2, column: 4 }]
        );
        let code = errors[0].extensions.as_ref().and_then(|e| e.get("code"));
        assert_eq!(code, Some(&async_graphql::Value::from("QUERY_TOO_COMPLEX")));
    }
}
