//! The one paging engine: a result read page after page, for reads above
//! the page cap, counts without `$count`, residual filters, aggregate
//! scans and the replica's sync. Pages go out in a fixed order: the first
//! alone (most results end there), then, while the end is unknown, waves
//! that double (1, 2, 4 … up to `in_flight`), each once the one before is
//! in: the read-ahead grows with what the result has shown. A `top` only
//! bounds the read (the result may end sooner); once a `$count` on the
//! first page tells the end, the rest go `in_flight` at a time. Nothing is
//! requested after a short page has come back, and pages still in flight
//! then are dropped. A keyset walk (`id gt <last>`) is one page at a time,
//! each after the one before.

use crate::error::GatewayError;
use crate::model::KEY;
use crate::odata::response::lenient_i64;
use crate::odata::{CollectionPage, CollectionQuery, CompareOp, Filter, Literal, OrderBy};
use futures::future::BoxFuture;
use futures::stream::{BoxStream, FuturesOrdered};
use futures::{FutureExt, StreamExt};
use std::sync::Arc;

pub type PageFuture<'a> = BoxFuture<'a, Result<Arc<CollectionPage>, GatewayError>>;
type PageResult = Result<Arc<CollectionPage>, GatewayError>;

/// How a read walks through a result.
#[derive(Debug, Clone)]
pub struct PagePlan {
    /// Every page's query: filter, columns and an order that keeps pages
    /// apart (see [`with_key_order`]); its `$top` and `$skip` are the
    /// engine's to set.
    pub base: CollectionQuery,
    pub walk: Walk,
    /// `$top` of the first page; never above the page cap.
    pub page_size: u64,
    /// Each later page is this many times the one before, up to the cap
    /// (1: all alike). A read that stops once it has enough grows.
    pub grow: u64,
    /// Most pages in flight at once.
    pub in_flight: usize,
    /// At most this many rows; `None`: until a short page.
    pub rows: Option<u64>,
    /// The first page asks `$count`: the caller may stop before reading on,
    /// and the end is known.
    pub count_first: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// `$skip` from here on.
    Offset { skip: u64 },
    /// Rows whose id is above `after` (all, without), in id order.
    Keyset { after: Option<i64> },
}

impl PagePlan {
    /// A whole result from `base.skip` on, `page_size` rows a request.
    pub fn scan(base: CollectionQuery, page_size: u64, in_flight: usize) -> PagePlan {
        let base = with_key_order(base);
        PagePlan {
            walk: Walk::Offset { skip: base.skip },
            base,
            page_size,
            grow: 1,
            in_flight,
            rows: None,
            count_first: false,
        }
    }

    /// A read of `query.top` rows above the page cap: consecutive pages,
    /// the count (when asked) on the first only.
    pub fn above_cap(query: &CollectionQuery, cap: u64) -> PagePlan {
        let mut base = query.clone();
        if base.order_by.is_empty() {
            base.order_by = stable_order(&base);
        }
        PagePlan {
            walk: Walk::Offset { skip: query.skip },
            base,
            page_size: cap,
            grow: 1,
            in_flight: ABOVE_CAP_IN_FLIGHT,
            rows: Some(query.top),
            count_first: query.count,
        }
    }

    /// Every row matching `base`'s filter with an id above `after`, in id
    /// order, one page after the other.
    pub fn keyset(base: CollectionQuery, after: Option<i64>, page_size: u64) -> PagePlan {
        let base = base.order_by(vec![OrderBy {
            property: KEY,
            descending: false,
        }]);
        PagePlan {
            base,
            walk: Walk::Keyset { after },
            page_size,
            grow: 1,
            in_flight: 1,
            rows: None,
            count_first: false,
        }
    }
}

/// The widest wave of one read above the page cap.
const ABOVE_CAP_IN_FLIGHT: usize = 4;

/// The pages of `plan`, each fetched by `fetch`, none above `cap`.
pub fn read<'a, F>(plan: PagePlan, cap: u64, fetch: F) -> BoxStream<'a, PageResult>
where
    F: Fn(CollectionQuery) -> PageFuture<'a> + Send + Sync + 'a,
{
    match plan.walk {
        Walk::Offset { skip } => offset(plan, skip, cap, fetch),
        Walk::Keyset { after } => keyset(plan, after, cap, fetch),
    }
}

/// The pages merged into one, in order; the count of the first.
pub async fn merge(mut pages: BoxStream<'_, PageResult>) -> PageResult {
    let Some(first) = pages.next().await else {
        return Err(GatewayError::Internal("a paged read without pages".into()));
    };
    let first = first?;
    let mut merged: Option<CollectionPage> = None;
    while let Some(page) = pages.next().await {
        let page = page?;
        merged
            .get_or_insert_with(|| CollectionPage {
                rows: first.rows.clone(),
                count: first.count,
                next_link: None,
            })
            .rows
            .extend(page.rows.iter().cloned());
    }
    Ok(merged.map(Arc::new).unwrap_or(first))
}

/// Where an offset walk stands: the next window and what is known of the end.
struct Cursor {
    skip: u64,
    size: u64,
    grow: u64,
    cap: u64,
    /// Rows still to ask for, in a read of a given size (the last page
    /// asks only for what is left).
    left: Option<u64>,
    /// Where the result ends, once a count told it: no page starts there.
    end: Option<u64>,
}

impl Cursor {
    /// The next page's `$top` and `$skip`; `None` past the known end.
    fn next(&mut self) -> Option<(u64, u64)> {
        if self.end.is_some_and(|end| self.skip >= end) {
            return None;
        }
        let top = match self.left {
            Some(0) => return None,
            Some(left) => self.size.min(left),
            None => self.size,
        };
        let skip = self.skip;
        self.skip = self.skip.saturating_add(top);
        self.left = self.left.map(|l| l - top);
        self.size = self.size.saturating_mul(self.grow).min(self.cap);
        Some((top, skip))
    }
}

struct Offset<'a, F> {
    fetch: F,
    base: CollectionQuery,
    cursor: Cursor,
    in_flight: usize,
    /// The widest wave sent so far, while the end is unknown.
    wave: usize,
    count_first: bool,
    first: bool,
    queue: FuturesOrdered<BoxFuture<'a, (u64, PageResult)>>,
}

impl<'a, F> Offset<'a, F>
where
    F: Fn(CollectionQuery) -> PageFuture<'a> + Send + Sync + 'a,
{
    fn send(&mut self) -> bool {
        let Some((top, skip)) = self.cursor.next() else {
            return false;
        };
        let count = self.count_first && self.first;
        let query = self.base.clone().top(top).skip(skip).count(count);
        let page = (self.fetch)(query);
        self.queue
            .push_back(async move { (top, page.await) }.boxed());
        true
    }

    /// Tops the queue up: the first page alone; with a known end, to
    /// `in_flight`; otherwise, once the last wave is in, a wider one.
    fn refill(&mut self) {
        if self.first {
            self.send();
            return;
        }
        if self.cursor.end.is_some() {
            while self.queue.len() < self.in_flight.max(1) && self.send() {}
        } else if self.queue.is_empty() {
            self.wave = (self.wave * 2).clamp(1, self.in_flight.max(1));
            for _ in 0..self.wave {
                self.send();
            }
        }
    }

    /// The next page, and whether the read goes on after it.
    async fn next_page(&mut self) -> Option<(PageResult, bool)> {
        self.refill();
        let (top, page) = self.queue.next().await?;
        let first = std::mem::replace(&mut self.first, false);
        let Ok(page) = page else {
            return Some((page, false));
        };
        let short = (page.rows.len() as u64) < top;
        if first && self.count_first {
            self.cursor.end = page.count.map(|total| u64::try_from(total).unwrap_or(0));
        }
        let ended = self.cursor.left == Some(0)
            || self.cursor.end.is_some_and(|end| self.cursor.skip >= end);
        let more = !short && (!ended || !self.queue.is_empty());
        Some((Ok(page), more))
    }
}

fn offset<'a, F>(plan: PagePlan, skip: u64, cap: u64, fetch: F) -> BoxStream<'a, PageResult>
where
    F: Fn(CollectionQuery) -> PageFuture<'a> + Send + Sync + 'a,
{
    let cap = cap.max(1);
    let walker = Offset {
        fetch,
        base: plan.base,
        cursor: Cursor {
            skip,
            size: plan.page_size.clamp(1, cap),
            grow: plan.grow.max(1),
            cap,
            left: plan.rows,
            end: None,
        },
        in_flight: plan.in_flight,
        // The first page is the first wave.
        wave: 1,
        count_first: plan.count_first,
        first: true,
        queue: FuturesOrdered::new(),
    };
    futures::stream::unfold(Some(walker), |walker| async move {
        let mut walker = walker?;
        let (page, more) = walker.next_page().await?;
        Some((page, more.then_some(walker)))
    })
    .boxed()
}

fn keyset<'a, F>(
    plan: PagePlan,
    after: Option<i64>,
    cap: u64,
    fetch: F,
) -> BoxStream<'a, PageResult>
where
    F: Fn(CollectionQuery) -> PageFuture<'a> + Send + Sync + 'a,
{
    let top = plan.page_size.clamp(1, cap.max(1));
    let base = plan.base;
    let filter = base.filter.clone().unwrap_or(Filter::True);
    let fetch = Arc::new(fetch);
    futures::stream::unfold(Some(after), move |state| {
        let fetch = fetch.clone();
        let filter = filter.clone();
        let base = base.clone();
        async move {
            let after = state?;
            let filter = match after {
                Some(id) => Filter::And(vec![filter, id_above(id)]).simplify(),
                None => filter,
            };
            let page = fetch(base.filter(filter).top(top).skip(0)).await;
            let Ok(page) = page else {
                return Some((page, None));
            };
            let last = page
                .rows
                .iter()
                .filter_map(|r| r.get(KEY).and_then(lenient_i64))
                .max();
            let short = (page.rows.len() as u64) < top;
            let next = match (short, last) {
                (false, Some(last)) => Some(Some(after.map_or(last, |a| a.max(last)))),
                _ => None,
            };
            Some((Ok(page), next))
        }
    })
    .boxed()
}

fn id_above(id: i64) -> Filter {
    Filter::Compare {
        property: KEY,
        op: CompareOp::Gt,
        value: Literal::Int(id),
    }
}

/// The order with `id` added as the last sort key: rows with equal sort
/// values still come in one order on every request, so `$skip` pages
/// never overlap or miss a row.
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

/// Without `$orderby` the server may return rows in a different order on
/// each request, so pages cut by `$skip` could overlap or miss rows: order
/// by the key, or for `$apply` by its groups (an ungrouped aggregate is a
/// single row).
fn stable_order(query: &CollectionQuery) -> Vec<OrderBy> {
    let properties = match &query.apply {
        Some(apply) => apply.group_by.clone(),
        None => vec![KEY],
    };
    properties
        .into_iter()
        .map(|property| OrderBy {
            property,
            descending: false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::{Apply, Dialect, Row};
    use serde_json::json;
    use std::sync::Mutex;

    /// A result of `n` rows with ids 1..=n, and the requests made of it
    /// (`$top`, `$skip`, `$count`, filter).
    struct Fake {
        n: u64,
        asked: Mutex<Vec<(u64, u64, bool, String)>>,
        fail_at_skip: Option<u64>,
    }

    impl Fake {
        fn new(n: u64) -> Fake {
            Fake {
                n,
                asked: Mutex::default(),
                fail_at_skip: None,
            }
        }

        fn fetch(&self, q: CollectionQuery) -> PageFuture<'_> {
            let filter = q.filter.as_ref().map(|f| f.render(Dialect::odata4()));
            self.asked.lock().expect("lock").push((
                q.top,
                q.skip,
                q.count,
                filter.clone().unwrap_or_default(),
            ));
            let after = match &q.filter {
                Some(Filter::Compare {
                    value: Literal::Int(id),
                    ..
                }) => u64::try_from(*id).unwrap_or(0),
                _ => 0,
            };
            let fail = self.fail_at_skip == Some(q.skip);
            let start = after + q.skip;
            let end = (start + q.top).min(self.n);
            let rows: Vec<Arc<Row>> = (start..end.max(start))
                .filter_map(|i| json!({ "id": i + 1 }).as_object().cloned().map(Arc::new))
                .collect();
            let count = q.count.then_some(self.n as i64);
            async move {
                if fail {
                    return Err(GatewayError::UpstreamUnavailable("down".into()));
                }
                Ok(Arc::new(CollectionPage {
                    rows,
                    count,
                    next_link: None,
                }))
            }
            .boxed()
        }

        fn windows(&self) -> Vec<(u64, u64)> {
            let asked = self.asked.lock().expect("lock");
            asked.iter().map(|(t, s, _, _)| (*t, *s)).collect()
        }
    }

    async fn rows_read(fake: &Fake, plan: PagePlan, cap: u64) -> Result<u64, GatewayError> {
        let mut pages = read(plan, cap, |q| fake.fetch(q));
        let mut n = 0;
        while let Some(page) = pages.next().await {
            n += page?.rows.len() as u64;
        }
        Ok(n)
    }

    fn base() -> CollectionQuery {
        CollectionQuery::new("Message").select(vec![KEY])
    }

    #[tokio::test]
    async fn a_scan_sends_the_first_page_alone_then_doubling_waves() {
        let fake = Fake::new(650);
        let read = rows_read(&fake, PagePlan::scan(base(), 100, 4), 1000).await;
        assert_eq!(read.ok(), Some(650));
        assert_eq!(
            fake.windows(),
            [
                (100, 0),
                (100, 100),
                (100, 200),
                (100, 300),
                (100, 400),
                (100, 500),
                (100, 600)
            ]
        );
    }

    #[tokio::test]
    async fn nothing_is_sent_after_a_short_page() {
        let fake = Fake::new(150);
        assert_eq!(
            rows_read(&fake, PagePlan::scan(base(), 100, 4), 1000)
                .await
                .ok(),
            Some(150)
        );
        assert_eq!(fake.windows(), [(100, 0), (100, 100), (100, 200)]);
        let short = Fake::new(30);
        assert_eq!(
            rows_read(&short, PagePlan::scan(base(), 100, 4), 1000)
                .await
                .ok(),
            Some(30)
        );
        assert_eq!(short.windows(), [(100, 0)]);
    }

    #[tokio::test]
    async fn a_read_above_the_cap_is_split_with_the_count_on_the_first_page() {
        let fake = Fake::new(10_000);
        let query = base().top(2500).skip(10).count(true);
        let plan = PagePlan::above_cap(&query, 1000);
        assert_eq!(
            plan.base.order_by[0].property, KEY,
            "ordered before it is split"
        );
        let page = merge(read(plan, 1000, |q| fake.fetch(q)))
            .await
            .expect("merged");
        assert_eq!(page.rows.len(), 2500);
        assert_eq!(page.count, Some(10_000));
        let asked = fake.asked.lock().expect("lock").clone();
        let counts: Vec<bool> = asked.iter().map(|a| a.2).collect();
        assert_eq!(counts, [true, false, false]);
        assert_eq!(fake.windows(), [(1000, 10), (1000, 1010), (500, 2010)]);
    }

    #[tokio::test]
    async fn a_read_above_the_cap_grows_its_waves_and_stops_at_a_short_page() {
        // A relation's batch: at most 10 001 rows asked, 2 521 there.
        let fake = Fake::new(2521);
        let plan = PagePlan::above_cap(&base().top(10_001), 1000);
        let page = merge(read(plan, 1000, |q| fake.fetch(q)))
            .await
            .expect("merged");
        assert_eq!(page.rows.len(), 2521);
        assert_eq!(fake.windows(), [(1000, 0), (1000, 1000), (1000, 2000)]);
        // Exactly at a page boundary the empty page after it ends the read.
        let fake = Fake::new(3000);
        let plan = PagePlan::above_cap(&base().top(10_001), 1000);
        assert_eq!(rows_read(&fake, plan, 1000).await.ok(), Some(3000));
        assert_eq!(
            fake.windows(),
            [
                (1000, 0),
                (1000, 1000),
                (1000, 2000),
                (1000, 3000),
                (1000, 4000),
                (1000, 5000),
                (1000, 6000)
            ]
        );
    }

    #[tokio::test]
    async fn grouped_reads_above_the_cap_are_ordered_by_their_groups() {
        let apply = Apply {
            filter: None,
            group_by: vec!["inbox_id"],
            count_alias: Some("n".into()),
            aggregates: Vec::new(),
        };
        let grouped = CollectionQuery::new("Conversation").top(3).apply(apply);
        let plan = PagePlan::above_cap(&grouped, 2);
        assert_eq!(plan.base.order_by[0].property, "inbox_id");
    }

    #[tokio::test]
    async fn a_count_on_the_first_page_tells_the_end() {
        let fake = Fake::new(350);
        let plan = PagePlan {
            count_first: true,
            ..PagePlan::scan(base(), 100, 4)
        };
        assert_eq!(rows_read(&fake, plan, 1000).await.ok(), Some(350));
        assert_eq!(
            fake.windows(),
            [(100, 0), (100, 100), (100, 200), (100, 300)]
        );
    }

    #[tokio::test]
    async fn a_growing_read_stops_when_the_caller_has_enough() {
        let fake = Fake::new(100_000);
        let plan = PagePlan {
            grow: 4,
            in_flight: 1,
            ..PagePlan::scan(base(), 100, 1)
        };
        let mut pages = read(plan, 1000, |q| fake.fetch(q));
        let mut n = 0;
        while let Some(page) = pages.next().await {
            n += page.map(|p| p.rows.len()).unwrap_or(0);
            if n >= 2000 {
                break;
            }
        }
        drop(pages);
        assert_eq!(
            fake.windows(),
            [(100, 0), (400, 100), (1000, 500), (1000, 1500)]
        );
    }

    #[tokio::test]
    async fn a_keyset_walk_asks_after_the_last_id() {
        let fake = Fake::new(25);
        let plan = PagePlan::keyset(base(), None, 10);
        assert_eq!(rows_read(&fake, plan, 1000).await.ok(), Some(25));
        let asked = fake.asked.lock().expect("lock").clone();
        let filters: Vec<&str> = asked.iter().map(|a| a.3.as_str()).collect();
        assert_eq!(filters, ["", "id gt 10", "id gt 20"]);
        let resumed = Fake::new(25);
        let plan = PagePlan::keyset(base(), Some(20), 10);
        assert_eq!(rows_read(&resumed, plan, 1000).await.ok(), Some(5));
    }

    #[tokio::test]
    async fn an_error_ends_the_read() {
        let fake = Fake {
            fail_at_skip: Some(100),
            ..Fake::new(1000)
        };
        let read = rows_read(&fake, PagePlan::scan(base(), 100, 4), 1000).await;
        assert!(read.is_err());
    }

    #[test]
    fn the_key_is_the_last_sort_key() {
        let q = with_key_order(base().order_by(vec![OrderBy {
            property: "created_at",
            descending: true,
        }]));
        let keys: Vec<&str> = q.order_by.iter().map(|o| o.property).collect();
        assert_eq!(keys, ["created_at", KEY]);
        assert_eq!(with_key_order(q.clone()), q);
    }
}
