//! What resolvers share: the gateway for the life of the process, and what
//! they know of the one HTTP request they serve.

use crate::error::GatewayError;
use crate::model::ApiVersion;
use crate::report::Report;
use crate::upstream::{Caller, Upstream};
use std::sync::Arc;

pub struct Gateway {
    pub upstream: Arc<Upstream>,
    pub version: ApiVersion,
    pub max_first: u64,
    pub expose_sensitive: bool,
    /// Most rows one relation may read for all its parents together.
    pub max_relation_rows: u64,
    /// Deepest `and`/`or`/`not` nesting of a `where`.
    pub max_filter_depth: usize,
    /// Most rows a read may go through to evaluate a filter in the gateway.
    pub max_scan_rows: u64,
    /// Aggregates: pushdown, scan limits, group cap.
    pub aggregates: crate::aggregate::Policy,
    /// The analytics replica, when configured.
    pub replica: Option<Arc<dyn crate::aggregate::Local>>,
}

/// One HTTP request: the upstream caller the server identified, or why the
/// request has none (every field that reads upstream reports it), and the
/// report every field fills.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub caller: Result<Caller, GatewayError>,
    pub report: Arc<Report>,
}
