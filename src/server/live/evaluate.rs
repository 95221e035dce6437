//! How a cohort evaluates its operation: the execution stage, as a query
//! within `request_timeout_ms`, noting whether the upstream refused the
//! credential.

use super::payload;
use crate::live::{Evaluate, Evaluation};
use crate::report::Report;
use crate::server::pipeline::execute;
use async_graphql::dynamic::Schema;
use std::sync::Arc;
use std::time::Duration;

pub fn evaluator(schema: Schema, limit: Duration) -> Evaluate {
    Arc::new(move |request, caller| {
        let schema = schema.clone();
        Box::pin(async move {
            let report = Arc::new(Report::default());
            let run = execute::run(&schema, limit, request, Ok(caller), report.clone()).await;
            let result = match run {
                Ok(response) => payload::of_response(&response),
                Err(error) => payload::of_errors(error.into_errors()),
            };
            let refused = report.was_refused();
            Evaluation { result, refused }
        })
    })
}
