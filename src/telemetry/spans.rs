//! The spans of the gateway's work. Each constructor returns `None` (or
//! an inert value) when traces are off, so that callers pay one branch.
//! Work outside any request (replica sync, capability probes) starts no
//! trace: client and database spans are made only below a current span.
//! No span holds a credential: URLs are redacted by the caller, SQL is
//! reduced to its statement kind, headers are never recorded.

use super::naming;
use super::tracer::traces;
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue, StringValue, TraceId};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use reqwest::header::HeaderMap;
use std::future::Future;

/// The server span of one GraphQL request over HTTP.
pub struct ServerSpan {
    cx: Option<Context>,
}

impl ServerSpan {
    /// Continues the trace of the client's `traceparent`, if any. Named
    /// `query` until the operation is known.
    pub fn start(headers: &HeaderMap) -> ServerSpan {
        let Some(traces) = traces() else {
            return ServerSpan { cx: None };
        };
        let parent = traces.propagator.extract(&HeaderExtractor(headers));
        let span = traces
            .tracer
            .span_builder("query")
            .with_kind(SpanKind::Server)
            .with_attributes([KeyValue::new("http.route", "/graphql")])
            .start_with_context(&traces.tracer, &parent);
        ServerSpan {
            cx: Some(parent.with_span(span)),
        }
    }

    /// The context the request's work runs in.
    pub fn context(&self) -> Option<&Context> {
        self.cx.as_ref()
    }

    /// Ends the span with the request's method and response status.
    pub fn finish(self, method: &str, status: u16) {
        let Some(cx) = self.cx else {
            return;
        };
        let span = cx.span();
        let method = match method {
            "GET" => StringValue::from("GET"),
            "POST" => StringValue::from("POST"),
            other => StringValue::from(other.to_string()),
        };
        span.set_attribute(KeyValue::new("http.request.method", method));
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= 500 {
            span.set_status(Status::error(""));
        }
        span.end();
    }

    /// The trace id (shown as 32 hex digits), for the request's log line.
    pub fn trace_id(&self) -> Option<TraceId> {
        self.cx.as_ref().and_then(context_trace_id)
    }
}

fn context_trace_id(cx: &Context) -> Option<TraceId> {
    let span = cx.span();
    let context = span.span_context();
    context.is_valid().then(|| context.trace_id())
}

/// The trace id of the current context, when traces are on.
pub fn trace_id() -> Option<TraceId> {
    traces()?;
    context_trace_id(&Context::current())
}

/// Runs `work` in `cx` when there is one (then the spans it makes are
/// children of `cx`'s span and its upstream requests carry its trace).
pub async fn within<F: Future>(cx: Option<&Context>, work: F) -> F::Output {
    match cx {
        Some(cx) => work.with_context(cx.clone()).await,
        None => work.await,
    }
}

/// `work` carrying the current context into a task of its own (a
/// `tokio::spawn`), when traces are on.
pub fn carried<F: Future + Send>(
    work: F,
) -> futures::future::Either<impl Future<Output = F::Output> + Send, F> {
    if traces().is_some() {
        futures::future::Either::Left(work.with_context(Context::current()))
    } else {
        futures::future::Either::Right(work)
    }
}

/// The current span's child, when traces are on and a request is being
/// served.
fn child(name: String, kind: SpanKind, attributes: Vec<KeyValue>) -> Option<Context> {
    let traces = traces()?;
    let parent = Context::current();
    if !parent.has_active_span() {
        return None;
    }
    let span = traces
        .tracer
        .span_builder(name)
        .with_kind(kind)
        .with_attributes(attributes)
        .start_with_context(&traces.tracer, &parent);
    Some(parent.with_span(span))
}

/// One upstream HTTP request.
pub struct ClientSpan {
    cx: Context,
}

/// The span of a GET to `url` (credential-free: `url` redacts it, and is
/// only called when traces are on) for `collection`.
pub fn client_span(collection: &'static str, url: impl FnOnce() -> String) -> Option<ClientSpan> {
    traces()?;
    let attributes = vec![
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("url.full", url()),
        KeyValue::new("odata.collection", collection),
    ];
    child("GET".into(), SpanKind::Client, attributes).map(|cx| ClientSpan { cx })
}

impl ClientSpan {
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Records the answer's status and, when it decoded, its rows.
    pub fn finish(self, status: Option<u16>, rows: Option<usize>, error: Option<&str>) {
        let span = self.cx.span();
        if let Some(status) = status {
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
        }
        if let Some(rows) = rows {
            span.set_attribute(KeyValue::new("odata.rows", count(rows)));
        }
        if let Some(error) = error {
            span.set_attribute(KeyValue::new("error.type", error.to_string()));
            span.set_status(Status::error(error.to_string()));
        }
        span.end();
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The current trace's `traceparent` on an upstream request.
pub fn inject(headers: &mut HeaderMap) {
    let Some(traces) = traces() else {
        return;
    };
    let cx = Context::current();
    if cx.has_active_span() {
        traces
            .propagator
            .inject_context(&cx, &mut HeaderInjector(headers));
    }
}

/// Marks an upstream answer served from a cache tier (`hit`, `l2`,
/// `shared`, `stale`) on the current span, as `X-Explain` lists it.
pub fn cache_marker(tier: &'static str, collection: &'static str, rows: usize) {
    if traces().is_none() {
        return;
    }
    let attributes = vec![
        KeyValue::new("cache.tier", tier),
        KeyValue::new("odata.collection", collection),
        KeyValue::new("odata.rows", count(rows)),
    ];
    Context::map_current(|cx| {
        if cx.has_active_span() {
            cx.span().add_event("upstream.cache", attributes);
        }
    });
}

/// Marks the current request as answered from the whole-response cache
/// (an attribute, not an event: it is the hottest path there is).
pub fn response_cache_hit() {
    if traces().is_none() {
        return;
    }
    Context::map_current(|cx| {
        cx.span()
            .set_attribute(KeyValue::new("graphql.response_cache", "hit"))
    });
}

/// One statement on the analytics replica.
pub struct DbSpan {
    cx: Context,
}

/// The span of `sql` on `system` (`sqlite`, `postgresql`): only its kind
/// (`SELECT`, ...) is recorded, never the statement or its values.
pub fn db_span(system: &'static str, sql: &str) -> Option<DbSpan> {
    traces()?;
    let kind = statement_kind(sql);
    let attributes = vec![
        KeyValue::new("db.system", system),
        KeyValue::new("db.system.name", system),
        KeyValue::new("db.operation.name", kind),
    ];
    child(format!("{kind} {system}"), SpanKind::Client, attributes).map(|cx| DbSpan { cx })
}

impl DbSpan {
    pub fn context(&self) -> &Context {
        &self.cx
    }

    pub fn finish(self, rows: Option<usize>, failed: bool) {
        let span = self.cx.span();
        if let Some(rows) = rows {
            span.set_attribute(KeyValue::new("db.response.returned_rows", count(rows)));
        }
        if failed {
            span.set_status(Status::error("the statement failed"));
        }
        span.end();
    }
}

/// The statement's first keyword, from a fixed list (anything else is
/// `OTHER`: the text itself never leaves).
fn statement_kind(sql: &str) -> &'static str {
    let first = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default();
    const KINDS: [&str; 8] = [
        "SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ANALYZE",
    ];
    KINDS
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(first))
        .unwrap_or("OTHER")
}

/// A new trace for one evaluation of a subscription, named like a
/// request's (`subscription <name>`).
pub fn evaluation_span(name: Option<&str>, document: &str) -> Option<Context> {
    let traces = traces()?;
    let span = traces
        .tracer
        .span_builder("subscription")
        .with_kind(SpanKind::Internal)
        .start_with_context(&traces.tracer, &Context::new());
    let cx = Context::new().with_span(span);
    naming::name(&cx, "subscription", name, document);
    Some(cx)
}

/// Ends the span of `cx` (an evaluation's), failed or not.
pub fn end(cx: &Context, failed: bool) {
    let span = cx.span();
    if failed {
        span.set_status(Status::error("the evaluation failed"));
    }
    span.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_reduced_to_their_kind() {
        assert_eq!(
            statement_kind("  select a from t where x = 'secret'"),
            "SELECT"
        );
        assert_eq!(
            statement_kind("WITH x AS (SELECT 1) SELECT * FROM x"),
            "WITH"
        );
        assert_eq!(statement_kind("PRAGMA key = 'secret'"), "OTHER");
    }

    #[test]
    fn off_nothing_is_made() {
        assert!(client_span("Label", || unreachable!("not asked when off")).is_none());
        assert!(db_span("sqlite", "SELECT 1").is_none());
        assert!(ServerSpan::start(&HeaderMap::new()).context().is_none());
        assert!(trace_id().is_none());
    }
}
