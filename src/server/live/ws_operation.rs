//! One graphql-transport-ws operation as the stream of messages it sends:
//! its results as `next`, then `complete`; an operation that fails to
//! start or ends early (too slow, credential refused) sends `error`
//! instead. The connection's own task polls every operation's stream, so
//! an open subscription costs no task of its own.

use super::start::{start, Started};
use crate::live::{LiveError, LiveEvent, Subscription};
use crate::server::pipeline::params::RawParams;
use crate::server::state::AppState;
use crate::upstream::Caller;
use axum::extract::ws::Message;
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::Value;
use std::sync::Arc;

/// Where an operation is.
enum Step {
    /// Its start (parameters, document, validation, its cohort), boxed:
    /// large while it runs, freed once it is done.
    Starting(BoxFuture<'static, Outcome>),
    Live(Subscription),
    Done,
}

/// What starting gave: a subscription or one result, or the errors (as a
/// JSON array) of an operation that did not start.
type Outcome = Result<Started, String>;

/// The messages of the operation `id`.
pub fn messages(
    state: AppState,
    id: &str,
    raw: RawParams,
    caller: Caller,
) -> BoxStream<'static, Message> {
    let starting = Box::pin(async move {
        start(&state, raw, Ok(caller))
            .await
            .map_err(|error| serde_json::to_string(&error.into_errors()).unwrap_or_default())
    });
    let id: Arc<str> = Arc::from(Value::String(id.to_owned()).to_string());
    stream::unfold(Step::Starting(starting), move |step| {
        let id = id.clone();
        async move { advance(step, &id).await }
    })
    .flat_map(stream::iter)
    .boxed()
}

/// The next messages and where the operation is then; `None` when done.
async fn advance(step: Step, id: &str) -> Option<(Vec<Message>, Step)> {
    match step {
        Step::Done => None,
        Step::Starting(starting) => Some(match starting.await {
            Err(errors) => (vec![message(id, "error", &errors)], Step::Done),
            Ok(Started::Once(result)) => {
                (vec![message(id, "next", &result), complete(id)], Step::Done)
            }
            Ok(Started::Live(subscription)) => (Vec::new(), Step::Live(subscription)),
        }),
        Step::Live(mut subscription) => Some(match subscription.next().await {
            Some(LiveEvent::Result(result)) => {
                (vec![message(id, "next", &result)], Step::Live(subscription))
            }
            Some(LiveEvent::Ended(error)) => (vec![ended(id, error)], Step::Done),
            Some(LiveEvent::Refused(result)) => (vec![refused(id, &result)], Step::Done),
            None => (vec![complete(id)], Step::Done),
        }),
    }
}

fn message(id: &str, kind: &str, payload: &str) -> Message {
    Message::Text(format!(r#"{{"id":{id},"type":"{kind}","payload":{payload}}}"#).into())
}

fn complete(id: &str) -> Message {
    Message::Text(format!(r#"{{"id":{id},"type":"complete"}}"#).into())
}

fn ended(id: &str, error: LiveError) -> Message {
    let errors = Value::Array(vec![
        serde_json::to_value(error.into_server_error()).unwrap_or(Value::Null)
    ]);
    message(id, "error", &errors.to_string())
}

/// An `error` with the errors of the refused evaluation.
fn refused(id: &str, result: &str) -> Message {
    let errors = serde_json::from_str::<Value>(result)
        .ok()
        .and_then(|mut r| r.get_mut("errors").map(Value::take))
        .filter(|errors| errors.as_array().is_some_and(|e| !e.is_empty()))
        .unwrap_or_else(|| serde_json::json!([{"message": "the upstream refused the credential"}]));
    message(id, "error", &errors.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(message: Message) -> String {
        match message {
            Message::Text(text) => text.to_string(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_refusal_is_an_error_message_with_the_result_errors() {
        let result =
            r#"{"data":null,"errors":[{"message":"no","extensions":{"code":"UNAUTHENTICATED"}}]}"#;
        assert_eq!(
            text(refused(r#""7""#, result)),
            r#"{"id":"7","type":"error","payload":[{"message":"no","extensions":{"code":"UNAUTHENTICATED"}}]}"#
        );
        assert_eq!(text(complete(r#""7""#)), r#"{"id":"7","type":"complete"}"#);
    }
}
