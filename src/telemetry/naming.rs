//! A request's span named after its operation: `<type> <name>` (the type
//! alone when unnamed), with the operation's attributes and the SHA-256 of
//! the document. Dashboards send the same few documents all day, so what a
//! document gives is kept, by its text, and a repeated one costs a lookup.

use super::tracer::traces;
use crate::digest::sha256_hex;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::{Context, KeyValue, StringValue};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// What the span of one document's operation records.
struct Named {
    /// The `operationName` the request gave, which picked the operation.
    requested: Option<Box<str>>,
    span_name: Arc<str>,
    kind: &'static str,
    name: Option<StringValue>,
    hash: StringValue,
}

/// Documents' texts (their bytes counted) to what they give.
#[derive(Default)]
struct Known {
    by_text: HashMap<Box<str>, Arc<Named>>,
    bytes: usize,
}

/// The most document text kept; past it the table starts over.
const KNOWN_BYTES: usize = 4 * 1024 * 1024;

fn known() -> &'static Mutex<Known> {
    static KNOWN: OnceLock<Mutex<Known>> = OnceLock::new();
    KNOWN.get_or_init(Mutex::default)
}

fn lock(known: &Mutex<Known>) -> std::sync::MutexGuard<'_, Known> {
    known.lock().unwrap_or_else(|e| e.into_inner())
}

/// Names the current span after `document`'s operation when it was seen
/// before with the same `requested` name; `false` when it must be told
/// ([`operation`]).
pub fn known_operation(document: &str, requested: Option<&str>) -> bool {
    if traces().is_none() {
        return true;
    }
    let named = lock(known()).by_text.get(document).cloned();
    match named {
        Some(named) if named.requested.as_deref() == requested => {
            Context::map_current(|cx| apply(cx, &named));
            true
        }
        _ => false,
    }
}

/// Names the current span: the operation `requested` picked in `document`
/// is a `kind` (`query`, `mutation`, `subscription`) named `name`.
pub fn operation(document: &str, requested: Option<&str>, kind: &'static str, name: Option<&str>) {
    if traces().is_none() {
        return;
    }
    let named = Arc::new(named(document, requested, kind, name));
    Context::map_current(|cx| apply(cx, &named));
    let mut known = lock(known());
    if known.bytes + document.len() > KNOWN_BYTES {
        *known = Known::default();
    }
    known.bytes += document.len();
    known.by_text.insert(document.into(), named);
}

/// Names the span of `cx`, without keeping what the document gives (a
/// subscription's evaluation).
pub(super) fn name(cx: &Context, kind: &'static str, name: Option<&str>, document: &str) {
    apply(cx, &named(document, None, kind, name));
}

fn named(document: &str, requested: Option<&str>, kind: &'static str, name: Option<&str>) -> Named {
    let name = name.filter(|n| is_name(n));
    Named {
        requested: requested.map(Box::from),
        span_name: match name {
            Some(name) => format!("{kind} {name}").into(),
            None => kind.into(),
        },
        kind,
        name: name.map(|n| StringValue::from(Arc::<str>::from(n))),
        hash: StringValue::from(Arc::<str>::from(sha256_hex(document.as_bytes()))),
    }
}

fn apply(cx: &Context, named: &Named) {
    let span = cx.span();
    span.update_name(named.span_name.to_string());
    span.set_attribute(KeyValue::new("graphql.operation.type", named.kind));
    if let Some(name) = &named.name {
        span.set_attribute(KeyValue::new("graphql.operation.name", name.clone()));
    }
    span.set_attribute(KeyValue::new("graphql.document.hash", named.hash.clone()));
}

/// A GraphQL name: anything else is client text kept out of span names.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 100
        && chars
            .next()
            .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_graphql_names_name_a_span() {
        assert!(is_name("Dashboard_1"));
        assert!(!is_name("a b"));
        assert!(!is_name("1a"));
    }
}
