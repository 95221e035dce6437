//! Reading a whole result page after page: for counting without `$count`,
//! for residual filters and for aggregate scans. Pages come in order, a
//! few in flight, and the stream ends after the first short page.

use super::{Caller, Upstream};
use crate::error::GatewayError;
use crate::model::KEY;
use crate::odata::{CollectionPage, CollectionQuery, Dialect, OrderBy};
use futures::{Stream, StreamExt};
use std::sync::Arc;

impl Upstream {
    /// `base` read from its `$skip` on, `page_size` rows a request (within
    /// the page cap), `in_flight` requests at once. A fixed order keeps the
    /// pages apart: `id` is added as the last sort key when missing.
    pub fn pages<'a>(
        &'a self,
        caller: &'a Caller,
        base: CollectionQuery,
        page_size: u64,
        in_flight: usize,
        dialect: Dialect,
    ) -> impl Stream<Item = Result<Arc<CollectionPage>, GatewayError>> + 'a {
        let page_size = page_size.clamp(1, self.page_cap());
        let base = with_key_order(base);
        let start = base.skip;
        let fetch = move |n: u64| {
            let query = base
                .clone()
                .skip(start + n * page_size)
                .top(page_size)
                .count(false);
            async move { self.fetch_collection(caller, &query, dialect).await }
        };
        // The first page alone: most results end there.
        futures::stream::once(fetch(0))
            .chain(
                futures::stream::iter(1u64..)
                    .map(fetch)
                    .buffered(in_flight.max(1)),
            )
            .scan(false, move |done, page| {
                if *done {
                    return futures::future::ready(None);
                }
                *done = page
                    .as_ref()
                    .map_or(true, |p| (p.rows.len() as u64) < page_size);
                futures::future::ready(Some(page))
            })
    }
}

pub fn with_key_order(query: CollectionQuery) -> CollectionQuery {
    if query.order_by.iter().any(|o| o.property == KEY) {
        return query;
    }
    let mut order_by = query.order_by.clone();
    order_by.push(OrderBy {
        property: KEY,
        descending: false,
    });
    query.order_by(order_by)
}
