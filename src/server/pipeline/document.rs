//! Stage 2: the document, parsed once and handed to execution, within the
//! gateway's limits (`limits.rs`), and no mutation over GET.

use super::error::RequestError;
use super::params::Params;
use crate::server::limits::DocumentLimits;
use crate::server::nesting::deeper_than;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::Request;
use axum::http::Method;

/// The request to execute, carrying its parsed document. A syntax error
/// is `Invalid`, as any request error async-graphql reports.
pub fn prepare(
    params: Params,
    limits: &DocumentLimits,
    method: &Method,
) -> Result<Request, RequestError> {
    let operation_name = params.operation_name.as_deref();
    if let Some(depth) = deeper_than(&params.query, limits.max_nesting) {
        return Err(RequestError::Refused(too_deep(
            "the document",
            depth,
            limits.max_nesting,
        )));
    }
    let document = async_graphql::parser::parse_query(&params.query)
        .map_err(|syntax| RequestError::Invalid(vec![syntax.into()]))?;
    limits
        .check(&document, operation_name)
        .map_err(RequestError::Refused)?;
    if method == Method::GET && is_mutation(&document, operation_name) {
        return Err(RequestError::MutationOverGet);
    }
    let mut request = Request::new(params.query).variables(params.variables);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    request.set_parsed_query(document);
    Ok(request)
}

/// A request nested past `max_nesting`, refused before any parser walks it.
pub fn too_deep(what: &str, depth: usize, limit: usize) -> crate::error::GatewayError {
    crate::error::GatewayError::QueryTooComplex(format!(
        "{what} nests `{{`, `[` or `(` {depth} levels deep or more, above the limit of {limit} (max_nesting)"
    ))
}

/// Whether the operation that would run is a mutation.
fn is_mutation(doc: &ExecutableDocument, operation_name: Option<&str>) -> bool {
    let ty = match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) => (ops.len() == 1)
            .then(|| ops.values().next().map(|op| op.node.ty))
            .flatten(),
    };
    ty == Some(OperationType::Mutation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::Variables;

    const LIMITS: DocumentLimits = DocumentLimits {
        max_root_fields: 2,
        max_aliases: 1,
        max_nesting: 64,
    };

    fn prepared(query: &str, name: Option<&str>, method: Method) -> Result<Request, RequestError> {
        let params = Params {
            query: query.into(),
            operation_name: name.map(str::to_owned),
            variables: Variables::default(),
        };
        prepare(params, &LIMITS, &method)
    }

    #[test]
    fn mutations_are_detected() {
        let m = |q: &str, name: Option<&str>| {
            is_mutation(&async_graphql::parser::parse_query(q).expect("query"), name)
        };
        assert!(m("mutation { x }", None));
        assert!(!m("{ x }", None));
        assert!(m("query a { x } mutation b { y }", Some("b")));
        assert!(!m("query a { x } mutation b { y }", Some("a")));
        assert!(!m("query a { x } mutation b { y }", None));
    }

    #[test]
    fn mutations_only_over_post() {
        assert!(matches!(
            prepared("mutation { x }", None, Method::GET),
            Err(RequestError::MutationOverGet)
        ));
        assert!(prepared("mutation { x }", None, Method::POST).is_ok());
        assert!(prepared("query a { x } mutation b { y }", Some("a"), Method::GET).is_ok());
    }

    #[test]
    fn the_document_is_parsed_once_and_handed_on() {
        let mut request = prepared("query Q { a }", Some("Q"), Method::GET).expect("request");
        assert_eq!(request.operation_name.as_deref(), Some("Q"));
        // Without a parsed document, execution would parse `query`: an
        // empty text is a syntax error, so the kept document is used.
        request.query.clear();
        assert!(request.parsed_query().is_ok());
    }

    #[test]
    fn limits_and_syntax_errors_fail_the_request() {
        match prepared("{ a b c }", None, Method::POST) {
            Err(RequestError::Refused(e)) => assert_eq!(e.code(), "QUERY_TOO_COMPLEX"),
            other => panic!("{other:?}"),
        }
        match prepared("{ a", None, Method::POST) {
            Err(RequestError::Invalid(errors)) => {
                assert_eq!(errors.len(), 1);
                assert!(!errors[0].locations.is_empty(), "{errors:?}");
            }
            other => panic!("{other:?}"),
        }
    }
}
