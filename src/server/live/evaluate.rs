//! How a cohort evaluates its operation: the execution stage, as a query
//! within `request_timeout_ms`, noting whether the upstream refused the
//! credential.

use super::payload;
use crate::live::{Evaluate, Evaluation};
use crate::report::Report;
use crate::server::pipeline::execute;
use crate::telemetry;
use async_graphql::dynamic::Schema;
use async_graphql::parser::types::DocumentOperations;
use async_graphql::Request;
use std::sync::Arc;
use std::time::Duration;

pub fn evaluator(schema: Schema, limit: Duration) -> Evaluate {
    Arc::new(move |mut request, caller| {
        let schema = schema.clone();
        Box::pin(async move {
            let report = Arc::new(Report::default());
            // Each evaluation is a trace of its own: a subscription lives
            // for hours, its evaluations come and go.
            let span = if telemetry::enabled() {
                let name = operation_name(&mut request);
                telemetry::evaluation_span(name.as_deref(), &request.query)
            } else {
                None
            };
            let run = execute::run(&schema, limit, request, Ok(caller), report.clone());
            let run = telemetry::within(span.as_ref(), run).await;
            if let Some(span) = span {
                telemetry::end(&span, run.is_err());
            }
            let result = match run {
                Ok(response) => payload::of_response(&response),
                Err(error) => payload::of_errors(error.into_errors()),
            };
            let refused = report.was_refused();
            Evaluation { result, refused }
        })
    })
}

/// The operation's name: the request's, else that of the document's only
/// named operation.
fn operation_name(request: &mut Request) -> Option<String> {
    if let Some(name) = &request.operation_name {
        return Some(name.clone());
    }
    match &request.parsed_query().ok()?.operations {
        DocumentOperations::Multiple(operations) if operations.len() == 1 => {
            operations.keys().next().map(|name| name.to_string())
        }
        _ => None,
    }
}
