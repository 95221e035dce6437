//! Live queries: subscriptions evaluated by polling, shared by cohorts.
//!
//! Subscribers with the same audience (credential fingerprint, collections
//! of the API key, `no-cache`), the same document, operation name,
//! variables and interval form a cohort. One poller per cohort evaluates
//! the operation as a query once per interval and pushes the result to
//! every member when it differs from the last one pushed. `hub` keeps the
//! cohorts and the limits, `cohort` is the poller and its members, `inbox`
//! a member's results not yet written, `operation` turns a subscription
//! into the query it polls, `error` is why a subscription does not start or
//! ends early.

mod cohort;
mod error;
mod hub;
mod inbox;
pub mod operation;

pub use cohort::{Evaluate, Evaluation};
pub use error::LiveError;
pub use hub::{Hub, LiveEvent, Subscription};
pub use operation::LiveOperation;
