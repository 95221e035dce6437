//! Where an aggregate reads from: a local copy of the account when it can
//! answer (the analytics replica, behind the `Local` trait so that imports
//! point one way), else the upstream, as one caller.

use super::group::Group;
use super::policy::Policy;
use super::spec::Spec;
use crate::error::GatewayError;
use crate::odata::{Dialect, Metadata};
use crate::report::Report;
use crate::upstream::{Caller, Upstream};

/// A local copy of the account that may answer an aggregate without the
/// upstream: the analytics replica.
#[async_trait::async_trait]
pub trait Local: Send + Sync {
    /// The groups of `spec` (in any order, at most `max_groups`), or `None`
    /// when it cannot answer this caller now (not in sync, another
    /// account, a column it does not keep).
    async fn groups(
        &self,
        caller: &Caller,
        report: &Report,
        spec: &Spec,
        max_groups: u64,
    ) -> Result<Option<Vec<Group>>, GatewayError>;

    /// The caller asked past the copy (`Cache-Control: no-cache`): when the
    /// copy could have answered, the answer built elsewhere is reusable
    /// only until the copy's next sync, so that a stored whole response
    /// does not hide the copy once it has caught up.
    async fn bypassed(
        &self,
        caller: &Caller,
        report: &Report,
        spec: &Spec,
    ) -> Result<(), GatewayError>;
}

pub struct Source<'a> {
    pub upstream: &'a Upstream,
    pub caller: &'a Caller,
    pub report: &'a Report,
    pub dialect: Dialect,
    /// The upstream's `$metadata`, when it could be read.
    pub metadata: Option<&'a Metadata>,
    pub policy: &'a Policy,
    pub local: Option<&'a dyn Local>,
}

/// Which engine computed a result, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Replica,
    Pushdown,
    Scan,
}
