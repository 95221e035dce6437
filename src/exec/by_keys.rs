//! Rows whose join column is one of many keys, in as few upstream requests
//! as the URL length limit allows: the key set is halved until each URL
//! fits, and the pieces run a few at a time.

use crate::error::GatewayError;
use crate::odata::{CollectionQuery, Dialect, Filter, Literal, Row};
use crate::report::Report;
use crate::upstream::{Caller, Upstream};
use futures::{StreamExt, TryStreamExt};
use std::sync::Arc;

/// Pieces of one split request in flight at once.
const PIECES_IN_FLIGHT: usize = 4;

/// One caller's reads from the upstream.
pub struct Reader<'a> {
    pub upstream: &'a Upstream,
    pub caller: &'a Caller,
    pub report: &'a Report,
    pub dialect: Dialect,
}

/// How many rows one piece may bring.
#[derive(Clone, Copy)]
pub enum PieceTop {
    /// A key names one row: `$top` is the piece's key count.
    OneRowPerKey,
    /// The base query's `$top`.
    Base,
}

impl Reader<'_> {
    /// Rows of `base` that pass `filter` and whose `property` is one of
    /// `keys`. Rows of split pieces come piece after piece.
    pub async fn rows_where_in(
        &self,
        base: &CollectionQuery,
        filter: &Filter,
        property: &'static str,
        keys: &[i64],
        top: PieceTop,
    ) -> Result<Vec<Arc<Row>>, GatewayError> {
        let query_for = |chunk: &[i64]| {
            let set = Filter::In {
                property,
                values: chunk.iter().map(|&k| Literal::Int(k)).collect(),
            };
            let top = match top {
                PieceTop::OneRowPerKey => chunk.len() as u64,
                PieceTop::Base => base.top,
            };
            base.clone()
                .filter(Filter::And(vec![filter.clone(), set]).simplify())
                .top(top)
        };
        let mut pieces = Vec::new();
        let mut pending = vec![keys];
        while let Some(chunk) = pending.pop() {
            if chunk.is_empty() {
                continue;
            }
            let query = query_for(chunk);
            if chunk.len() > 1 && !self.upstream.fits(&query.to_relative_url(self.dialect)) {
                let (left, right) = chunk.split_at(chunk.len() / 2);
                pending.push(right);
                pending.push(left);
            } else {
                // A single key that does not fit is refused by the upstream
                // layer with BAD_USER_INPUT naming the limit.
                pieces.push(query);
            }
        }
        let pages: Vec<_> = futures::stream::iter(pieces)
            .map(|query| async move { self.rows(&query).await })
            .buffered(PIECES_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// The rows of one query.
    pub async fn rows(&self, query: &CollectionQuery) -> Result<Vec<Arc<Row>>, GatewayError> {
        let page = self
            .upstream
            .fetch_collection(self.caller, self.report, query, self.dialect)
            .await?;
        Ok(page.rows.clone())
    }
}
