//! Why a subscription does not start or ends early.

use crate::error::ErrorCode;
use async_graphql::ErrorExtensions;

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
    pub fn kind(&self) -> ErrorCode {
        match self {
            Self::TooMany { .. } | Self::TooManyForCredential { .. } => {
                ErrorCode::TooManySubscriptions
            }
            Self::TooSlow => ErrorCode::SubscriberTooSlow,
        }
    }

    /// The GraphQL error with its code.
    pub fn into_server_error(self) -> async_graphql::ServerError {
        let code = self.kind().as_str();
        async_graphql::Error::new(self.to_string())
            .extend_with(|_, ext| ext.set("code", code))
            .into_server_error(async_graphql::Pos::default())
    }

    /// An execution result holding only this error, as JSON text.
    pub fn payload(self) -> String {
        serde_json::json!({ "errors": [self.into_server_error()] }).to_string()
    }
}
