//! The `Subscription` root: every Query root field again, with the same
//! arguments and type, plus `everySeconds`. Built from the same root
//! fields as the Query root (`root_field.rs`), so that a new Query field
//! is live at once.
//!
//! Its fields yield nothing: the live transports (`server/live`) run a
//! subscription on this root only to have async-graphql validate it (the
//! stream then ends at once), and evaluate it as the same operation over
//! Query, once per interval for every subscriber of the same cohort
//! (`live/`).

use super::root_field::RootField;
use async_graphql::dynamic::{InputValue, Subscription, SubscriptionFieldFuture, TypeRef};
use async_graphql::Value;

pub const ROOT: &str = "Subscription";

/// The argument that sets a subscription's interval, in seconds.
pub const EVERY_SECONDS: &str = "everySeconds";

/// The Subscription root with a field for each of the Query root's `fields`.
pub fn root(fields: &[RootField]) -> Subscription {
    let root = Subscription::new(ROOT).description(
        "Every Query field as a live query: the result now, then again whenever it changes \
         (evaluated every `everySeconds`).",
    );
    fields.iter().fold(root, |root, field| {
        let every_seconds = InputValue::new(EVERY_SECONDS, TypeRef::named(TypeRef::INT))
            .description(
                "Seconds between two evaluations; clamped to the gateway's bounds \
                 (default: live_default_interval_s).",
            );
        root.field(field.subscription_field(vec![every_seconds], |_| {
            SubscriptionFieldFuture::new(nothing())
        }))
    })
}

/// The resolver of every Subscription field: an empty stream.
async fn nothing() -> async_graphql::Result<futures::stream::Empty<async_graphql::Result<Value>>> {
    Ok(futures::stream::empty())
}
