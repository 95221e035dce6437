//! Stage 2: the document, parsed once (and kept parsed for the next
//! request with the same text) and handed to execution, within the
//! gateway's limits (`limits.rs`), and no mutation over GET.

use super::error::RequestError;
use super::limits::DocumentLimits;
use super::nesting::{deeper_than, too_deep};
use super::params::Params;
use crate::schema::operation::selected_type;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::Request;
use axum::http::Method;
use moka::future::Cache;
use std::sync::Arc;

/// Parsed documents by the SHA-256 of their text: dashboards send the same
/// few documents all day. Bounded in bytes; only documents that parsed are
/// kept. (Validation runs at every execution: async-graphql keeps no
/// validated form.)
pub struct Documents {
    parsed: Cache<[u8; 32], Arc<Parsed>>,
}

struct Parsed {
    document: ExecutableDocument,
    text_bytes: usize,
}

/// Memory for parsed documents, in bytes.
const PARSED_DOCUMENTS_BYTES: u64 = 8 * 1024 * 1024;

/// A parsed tree weighs several times its text.
const TREE_BYTES_PER_TEXT_BYTE: usize = 8;

impl Default for Documents {
    fn default() -> Self {
        let parsed = Cache::builder()
            .max_capacity(PARSED_DOCUMENTS_BYTES)
            .weigher(|_: &[u8; 32], parsed: &Arc<Parsed>| {
                let bytes = parsed.text_bytes.saturating_mul(TREE_BYTES_PER_TEXT_BYTE);
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .build();
        Documents { parsed }
    }
}

impl Documents {
    /// The document of `query`, parsed now or earlier.
    async fn parse(&self, query: &str) -> Result<ExecutableDocument, RequestError> {
        Ok(self.parsed(query).await?.document.clone())
    }

    async fn parsed(&self, query: &str) -> Result<Arc<Parsed>, RequestError> {
        let digest = ring::digest::digest(&ring::digest::SHA256, query.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        if let Some(parsed) = self.parsed.get(&key).await {
            return Ok(parsed);
        }
        let document = async_graphql::parser::parse_query(query)
            .map_err(|syntax| RequestError::Invalid(vec![syntax.into()]))?;
        let parsed = Arc::new(Parsed {
            document,
            text_bytes: query.len(),
        });
        self.parsed.insert(key, parsed.clone()).await;
        Ok(parsed)
    }

    /// The type of the operation `query` runs; `None` when it does not
    /// parse or names no operation (the request's own stages say why).
    pub async fn operation_type(
        &self,
        query: &str,
        operation_name: Option<&str>,
    ) -> Option<OperationType> {
        let parsed = self.parsed(query).await.ok()?;
        selected_type(&parsed.document.operations, operation_name)
    }

    /// The type and name of the operation `query` runs, the name read from
    /// the document when the request gives none (for its trace's span).
    pub async fn operation(
        &self,
        query: &str,
        operation_name: Option<&str>,
    ) -> Option<(OperationType, Option<String>)> {
        let parsed = self.parsed(query).await.ok()?;
        match (&parsed.document.operations, operation_name) {
            (DocumentOperations::Single(op), _) => Some((op.node.ty, None)),
            (DocumentOperations::Multiple(ops), Some(name)) => {
                ops.get(name).map(|op| (op.node.ty, Some(name.to_string())))
            }
            (DocumentOperations::Multiple(ops), None) => {
                let mut named = ops.iter();
                match (named.next(), named.next()) {
                    (Some((name, op)), None) => Some((op.node.ty, Some(name.to_string()))),
                    _ => None,
                }
            }
        }
    }
}

/// The request to execute, carrying its parsed document. A syntax error
/// is `Invalid`, as any request error async-graphql reports.
pub async fn prepare(
    params: Params,
    documents: &Documents,
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
    let document = documents.parse(&params.query).await?;
    limits
        .check_fields(&document, operation_name)
        .map_err(RequestError::Refused)?;
    let runs = selected_type(&document.operations, operation_name);
    if method == Method::GET && runs == Some(OperationType::Mutation) {
        return Err(RequestError::MutationOverGet);
    }
    limits.check_selections(&document)?;
    let mut request = Request::new(params.query).variables(params.variables);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    request.set_parsed_query(document);
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::Variables;

    const LIMITS: DocumentLimits = DocumentLimits {
        max_root_fields: 2,
        max_aliases: 1,
        max_nesting: 64,
        max_depth: 15,
        max_complexity: 100,
    };

    async fn prepared(
        query: &str,
        name: Option<&str>,
        method: Method,
    ) -> Result<Request, RequestError> {
        let params = Params {
            query: query.into(),
            operation_name: name.map(str::to_owned),
            variables: Variables::default(),
        };
        prepare(params, &Documents::default(), &LIMITS, &method).await
    }

    #[tokio::test]
    async fn mutations_only_over_post() {
        assert!(matches!(
            prepared("mutation { x }", None, Method::GET).await,
            Err(RequestError::MutationOverGet)
        ));
        assert!(prepared("mutation { x }", None, Method::POST).await.is_ok());
        assert!(
            prepared("query a { x } mutation b { y }", Some("a"), Method::GET)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn the_document_is_parsed_once_and_handed_on() {
        let mut request = prepared("query Q { a }", Some("Q"), Method::GET)
            .await
            .expect("request");
        assert_eq!(request.operation_name.as_deref(), Some("Q"));
        // Without a parsed document, execution would parse `query`: an
        // empty text is a syntax error, so the kept document is used.
        request.query.clear();
        assert!(request.parsed_query().is_ok());
    }

    #[tokio::test]
    async fn limits_and_syntax_errors_fail_the_request() {
        match prepared("{ a b c }", None, Method::POST).await {
            Err(RequestError::Refused(e)) => {
                assert_eq!(e.kind(), crate::error::ErrorCode::QueryTooComplex)
            }
            other => panic!("{other:?}"),
        }
        match prepared("{ a", None, Method::POST).await {
            Err(RequestError::Invalid(errors)) => {
                assert_eq!(errors.len(), 1);
                assert!(!errors[0].locations.is_empty(), "{errors:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_document_parsed_once_is_kept_for_the_same_text() {
        let documents = Documents::default();
        let first = documents.parse("{ a b }").await.expect("parsed");
        let again = documents.parse("{ a b }").await.expect("kept");
        assert_eq!(format!("{first:?}"), format!("{again:?}"));
        documents.parsed.run_pending_tasks().await;
        assert_eq!(documents.parsed.entry_count(), 1);
        assert!(documents.parse("{ a").await.is_err());
        documents.parsed.run_pending_tasks().await;
        assert_eq!(
            documents.parsed.entry_count(),
            1,
            "syntax errors are not kept"
        );
    }
}
