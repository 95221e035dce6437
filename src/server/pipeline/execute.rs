//! Stage 4: execution against the schema, within `request_timeout_ms`.
//! Errors of nulled fields join the response and every error gets its
//! code; a response that is only request errors fails the request.
//! The answer's extensions say when it was served stale and, when the
//! client asked, explain its upstream requests.

use super::error::RequestError;
use super::introspection;
use crate::error::{ensure_codes, GatewayError};
use crate::report::Report;
use crate::schema::field_errors::FieldErrors;
use crate::schema::int_range;
use crate::schema::RequestContext;
use crate::upstream::Caller;
use async_graphql::dynamic::Schema;
use async_graphql::{Request, Response, Value};
use std::sync::Arc;
use std::time::Duration;

/// Runs `request` as `caller`; the response of an operation that ran,
/// with what `report` gathered in its extensions.
pub async fn run(
    schema: &Schema,
    limit: Duration,
    request: Request,
    caller: Result<Caller, GatewayError>,
    report: Arc<Report>,
) -> Result<Response, RequestError> {
    let field_errors = FieldErrors::default();
    let mut request = request;
    int_range(schema, &mut request)?;
    let introspects = introspection::may_ask(&request.query)
        .then(|| request.parsed_query().ok().cloned())
        .flatten()
        .map(|document| (document, request.operation_name.clone()));
    let request = request
        .data(RequestContext {
            caller,
            report: report.clone(),
        })
        .data(field_errors.clone());
    let mut response = tokio::time::timeout(limit, schema.execute(request))
        .await
        .map_err(|_| RequestError::TimedOut { limit })?;
    response.errors.extend(field_errors.take());
    if let Some((document, operation_name)) = introspects {
        let name = operation_name.as_deref();
        introspection::clear_schema_description(&document, name, &mut response.data);
    }
    ensure_codes(&mut response.errors);
    if is_request_error(&response) {
        return Err(RequestError::Invalid(response.errors));
    }
    if report.is_stale() {
        response
            .extensions
            .insert("stale".into(), Value::Boolean(true));
    }
    if let Some(synced_at) = report.synced_at() {
        let mut fields = async_graphql::indexmap::IndexMap::new();
        fields.insert(
            async_graphql::Name::new("syncedAt"),
            Value::String(synced_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        response
            .extensions
            .insert("replica".into(), Value::Object(fields));
    }
    if let Some(explain) = report.explain() {
        let rendered = Value::from_json(explain.to_json()).unwrap_or(Value::Null);
        response.extensions.insert("explain".into(), rendered);
    }
    Ok(response)
}

/// Refuses an `Int` input outside the 32-bit range before execution.
pub fn int_range(schema: &Schema, request: &mut Request) -> Result<(), RequestError> {
    let operation_name = request.operation_name.clone();
    let variables = std::mem::take(&mut request.variables);
    let checked = match request.parsed_query() {
        Ok(document) => {
            let registry = schema.registry();
            int_range::check(registry, document, operation_name.as_deref(), &variables)
        }
        // Execution reports the syntax error.
        Err(_) => Ok(()),
    };
    request.variables = variables;
    checked.map_err(|error| RequestError::Invalid(vec![error]))
}

/// A request error (validation, variables) never starts execution: no
/// data, and no error has a path.
fn is_request_error(response: &Response) -> bool {
    response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Credential;
    use async_graphql::dynamic::{Field, FieldFuture, Object, TypeRef};

    /// `slow` sleeps, `broken` fails, `stale` marks its answer stale.
    fn schema() -> Schema {
        let query = Object::new("Query")
            .field(Field::new("slow", TypeRef::named(TypeRef::INT), |_| {
                FieldFuture::new(async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok(Some(Value::from(1)))
                })
            }))
            .field(Field::new("broken", TypeRef::named(TypeRef::INT), |_| {
                FieldFuture::new(async {
                    Err::<Option<Value>, _>(GatewayError::Forbidden("no".into()).into_graphql())
                })
            }))
            .field(Field::new("stale", TypeRef::named(TypeRef::INT), |ctx| {
                FieldFuture::new(async move {
                    let context = ctx.data::<RequestContext>()?;
                    context.caller.clone().map_err(GatewayError::into_graphql)?;
                    context.report.served_stale();
                    Ok(Some(Value::from(2)))
                })
            }));
        Schema::build("Query", None, None)
            .extension(crate::schema::field_errors::NullOnError)
            .register(query)
            .finish()
            .expect("schema")
    }

    async fn run_query(
        query: &str,
        caller: Result<Caller, GatewayError>,
    ) -> Result<Response, RequestError> {
        run_reporting(query, caller, Report::default()).await
    }

    async fn run_reporting(
        query: &str,
        caller: Result<Caller, GatewayError>,
        report: Report,
    ) -> Result<Response, RequestError> {
        let limit = Duration::from_millis(50);
        run(
            &schema(),
            limit,
            Request::new(query),
            caller,
            Arc::new(report),
        )
        .await
    }

    fn caller() -> Result<Caller, GatewayError> {
        Ok(Caller::new(Credential::Bearer("t".into())))
    }

    #[tokio::test]
    async fn past_the_limit_the_request_times_out() {
        let outcome = run_query("{ slow }", caller()).await;
        assert!(
            matches!(outcome, Err(RequestError::TimedOut { .. })),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn validation_errors_fail_the_request_with_codes() {
        match run_query("{ nope }", caller()).await {
            Err(RequestError::Invalid(errors)) => {
                let code = errors[0]
                    .extensions
                    .as_ref()
                    .and_then(|e| e.get("code").cloned());
                assert_eq!(code, Some(Value::from("BAD_USER_INPUT")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn field_errors_stay_beside_the_data() {
        let response = run_query("{ broken stale }", caller()).await.expect("ran");
        assert_eq!(response.errors.len(), 1);
        assert_eq!(response.errors[0].path.len(), 1);
        assert_eq!(
            response.extensions.get("stale"),
            Some(&Value::Boolean(true))
        );
    }

    #[tokio::test]
    async fn a_refused_caller_fails_only_the_fields_that_need_it() {
        let refusal = Err(GatewayError::Unauthenticated("unknown API key".into()));
        let response = run_query("{ __typename stale }", refusal)
            .await
            .expect("ran");
        assert_eq!(response.errors[0].message, "unknown API key");
        assert!(!response.extensions.contains_key("stale"));
    }

    #[tokio::test]
    async fn explain_joins_the_other_extensions_when_asked() {
        let report = Report::new(true);
        if let Some(explain) = report.explain() {
            explain.residual("Label", "title eq 'a'".into(), 4, 1);
        }
        let response = run_reporting("{ stale }", caller(), report)
            .await
            .expect("ran");
        assert_eq!(
            response.extensions.get("stale"),
            Some(&Value::Boolean(true))
        );
        let rendered = response.extensions.get("explain").expect("explain");
        assert_eq!(
            rendered.clone().into_json().expect("json")["residuals"][0]["rowsMatched"],
            1
        );
        let plain = run_query("{ stale }", caller()).await.expect("ran");
        assert!(!plain.extensions.contains_key("explain"));
    }
}
