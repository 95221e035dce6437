//! Live queries: subscriptions evaluated by polling, shared by cohorts.
//!
//! Subscribers with the same audience (credential fingerprint, collections
//! of the API key, `no-cache`), the same document, operation name,
//! variables and interval form a cohort. One poller per cohort evaluates
//! the operation as a query once per interval and pushes the result to
//! every member when it differs from the last one pushed. `hub` keeps the
//! cohorts and the limits, `cohort` is the poller and its members,
//! `operation` turns a subscription into the query it polls.

mod cohort;
mod hub;
pub mod operation;

pub use hub::{Evaluate, Hub, LiveEvent, Subscription};
pub use operation::LiveOperation;

use async_graphql::ErrorExtensions;

/// Why a subscription does not start or ends early.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LiveError {
    #[error("too many live subscriptions: {limit} are open (max_subscriptions)")]
    TooMany { limit: usize },
    #[error(
        "too many live subscriptions for this credential: {limit} are open \
         (max_subscriptions_per_credential)"
    )]
    TooManyForCredential { limit: usize },
    #[error("the subscriber did not keep up with its results; subscribe again")]
    TooSlow,
}

impl LiveError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooMany { .. } | Self::TooManyForCredential { .. } => "TOO_MANY_SUBSCRIPTIONS",
            Self::TooSlow => "SUBSCRIBER_TOO_SLOW",
        }
    }

    /// The GraphQL error with its code.
    pub fn into_server_error(self) -> async_graphql::ServerError {
        let code = self.code();
        async_graphql::Error::new(self.to_string())
            .extend_with(|_, ext| ext.set("code", code))
            .into_server_error(async_graphql::Pos::default())
    }

    /// An execution result holding only this error, as JSON text.
    pub fn payload(self) -> String {
        serde_json::json!({ "errors": [self.into_server_error()] }).to_string()
    }
}
