//! The per-request scope every resolver opens first: the gateway, the
//! caller and its report, the upstream's `$metadata` and the dialect,
//! built once per field; the planner, the executor and the aggregate
//! source come from it.

use super::context::{Gateway, RequestContext};
use crate::aggregate::Source;
use crate::error::GatewayError;
use crate::exec::{Fetcher, KeyColumns, ListReader};
use crate::odata::{Dialect, Metadata};
use crate::plan::Planner;
use crate::report::Report;
use crate::upstream::Caller;
use async_graphql::dynamic::ResolverContext;
use std::sync::Arc;

pub(crate) struct Scope {
    pub gateway: Arc<Gateway>,
    pub caller: Caller,
    pub report: Arc<Report>,
    pub metadata: Option<Arc<Metadata>>,
    pub dialect: Dialect,
}

impl Scope {
    /// Refuses a request without a credential (UNAUTHENTICATED, or the
    /// reason service mode refused its API key) before any upstream call.
    pub async fn open(ctx: &ResolverContext<'_>) -> Result<Scope, GatewayError> {
        let gateway = ctx
            .data::<Arc<Gateway>>()
            .map_err(|_| GatewayError::Internal("the schema has no gateway".into()))?
            .clone();
        let request = ctx
            .data::<RequestContext>()
            .map_err(|_| GatewayError::Internal("the request has no caller".into()))?;
        let caller = request.caller.clone()?;
        let report = request.report.clone();
        let metadata = gateway.upstream.metadata(&caller).await;
        let dialect = gateway
            .upstream
            .dialect_for(&caller, metadata.as_deref())
            .await;
        if let Some(explain) = report.explain() {
            explain.page_cap(gateway.upstream.page_cap());
        }
        Ok(Scope {
            gateway,
            caller,
            report,
            metadata,
            dialect,
        })
    }

    /// A caller limited to some collections never gets `$expand`: every
    /// relation is then its own request, which the upstream front door
    /// checks against those collections.
    pub fn planner(&self) -> Planner<'_> {
        let gateway = &self.gateway;
        Planner {
            version: gateway.version,
            metadata: self.metadata.as_deref(),
            dialect: self.dialect,
            expand: self.caller.collections.is_none() && self.dialect.expand,
            expose_sensitive: gateway.expose_sensitive,
            max_first: gateway.max_first,
            max_relation_rows: gateway.max_relation_rows,
            max_filter_depth: gateway.max_filter_depth,
        }
    }

    /// The executor of one root field's plan; its key loader reads each
    /// collection's `key_columns`.
    pub fn fetcher(&self, key_columns: KeyColumns) -> Fetcher {
        Fetcher::new(
            self.gateway.upstream.clone(),
            self.caller.clone(),
            self.report.clone(),
            self.dialect,
            self.gateway.max_relation_rows,
            key_columns,
        )
    }

    /// Reads root lists, residual filters and counts included.
    pub fn list_reader(&self) -> ListReader<'_> {
        ListReader {
            upstream: &self.gateway.upstream,
            caller: &self.caller,
            report: &self.report,
            dialect: self.dialect,
            max_scan_rows: self.gateway.max_scan_rows,
        }
    }

    pub fn source(&self) -> Source<'_> {
        Source {
            upstream: &self.gateway.upstream,
            caller: &self.caller,
            report: &self.report,
            dialect: self.dialect,
            metadata: self.metadata.as_deref(),
            policy: &self.gateway.aggregates,
            local: self.gateway.replica.as_deref(),
        }
    }
}
