//! Starting an operation on a live transport: the stages of a query
//! (parameters, document, identity), then, for a subscription, validation
//! against the Subscription root and its cohort. A query or a mutation
//! runs once. A key limited to trusted documents starts only those.

use super::payload;
use crate::error::GatewayError;
use crate::live::{LiveOperation, Subscription};
use crate::report::Report;
use crate::schema::operation::selected_type;
use crate::server::pipeline::error::RequestError;
use crate::server::pipeline::params::{self, RawParams};
use crate::server::pipeline::{document, execute};
use crate::server::state::AppState;
use crate::upstream::Caller;
use async_graphql::dynamic::Schema;
use async_graphql::parser::types::OperationType;
use async_graphql::Request;
use axum::http::Method;
use futures::StreamExt;
use std::sync::Arc;

pub enum Started {
    Live(Subscription),
    /// The one result of a query.
    Once(Arc<str>),
}

pub async fn start(
    state: &AppState,
    raw: RawParams,
    caller: Result<Caller, GatewayError>,
) -> Result<Started, RequestError> {
    let access = state.access.current();
    let params = params::resolve(raw, &state.persisted, &access.trusted).await?;
    // Before anything runs: a key limited to trusted documents sends no
    // upstream request for any other.
    if let Ok(caller) = &caller {
        access
            .check(caller, &params.query)
            .map_err(RequestError::Refused)?;
    }
    let mut request =
        document::prepare(params, &state.documents, &state.limits, &Method::POST).await?;
    let operation_name = request.operation_name.clone();
    let document = request
        .parsed_query()
        .map_err(|e| RequestError::Invalid(vec![e]))?
        .clone();
    let runs = selected_type(&document.operations, operation_name.as_deref());
    if runs != Some(OperationType::Subscription) {
        let report = Arc::new(Report::default());
        let limit = state.request_timeout;
        let response = execute::run(&state.schema, limit, request, caller, report).await?;
        return Ok(Started::Once(payload::of_response(&response)));
    }
    // Every Subscription field reads upstream: no credential, no start.
    let caller = caller.map_err(RequestError::Refused)?;
    execute::int_range(&state.schema, &mut request)?;
    let query = request.query.clone();
    let variables = request.variables.clone();
    validate(&state.schema, request).await?;
    let operation = LiveOperation::from_subscription(query, operation_name, variables, document)
        .map_err(RequestError::Refused)?;
    state
        .live
        .subscribe(caller, operation)
        .map(Started::Live)
        .map_err(|e| RequestError::Invalid(vec![e.into_server_error()]))
}

/// async-graphql's validation of a subscription, by running it on the
/// Subscription root: its fields yield nothing (`schema/subscription.rs`),
/// so the stream ends at once when the request is valid and answers its
/// request errors otherwise.
async fn validate(schema: &Schema, request: Request) -> Result<(), RequestError> {
    let responses: Vec<_> = schema.execute_stream(request).collect().await;
    let errors: Vec<_> = responses.into_iter().flat_map(|r| r.errors).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(RequestError::Invalid(errors))
    }
}
