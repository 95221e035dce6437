//! Reading a whole result page after page: for counting without `$count`,
//! for residual filters and for aggregate scans. Pages come in order, a
//! few in flight, and the stream ends after the first short page.

use super::{Caller, Upstream};
use crate::error::GatewayError;
use crate::model::KEY;
use crate::odata::{CollectionPage, CollectionQuery, Dialect, OrderBy};
use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, Stream, StreamExt};
use std::sync::Arc;

type PageFuture<'a> = BoxFuture<'a, Result<Arc<CollectionPage>, GatewayError>>;

impl Upstream {
    /// `base` read from its `$skip` on, `page_size` rows a request (within
    /// the page cap): the first page alone (most results end there), then
    /// growing waves up to `in_flight` at once. A fixed order keeps the pages apart: `id` is
    /// added as the last sort key when missing. Nothing is requested after
    /// a short page has come back; pages already in flight are dropped.
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
        let fetch = move |n: u64| -> PageFuture<'a> {
            let query = base
                .clone()
                .skip(start + n * page_size)
                .top(page_size)
                .count(false);
            async move { self.fetch_collection(caller, &query, dialect).await }.boxed()
        };
        // Waves of 1, 2, 4... up to `in_flight` pages, the next one sent when
        // the last one is in and full: a result that ends early costs few
        // requests past its end, a long one gets the whole concurrency.
        let state = (0u64, 0usize, false, FuturesOrdered::<PageFuture<'a>>::new());
        futures::stream::unfold(state, move |(mut next, mut wave, done, mut queue)| {
            let fetch = fetch.clone();
            async move {
                if done {
                    return None;
                }
                if queue.is_empty() {
                    wave = (wave * 2).clamp(1, in_flight.max(1));
                    for _ in 0..wave {
                        queue.push_back(fetch(next));
                        next += 1;
                    }
                }
                let page = queue.next().await?;
                let short = page
                    .as_ref()
                    .map_or(true, |p| (p.rows.len() as u64) < page_size);
                Some((page, (next, wave, short, queue)))
            }
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
