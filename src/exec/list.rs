//! A root list's rows and total, exact on any dialect. Without a residual
//! the upstream filters, pages and (with `$count`) counts. With one, the
//! gateway reads upstream pages in the list's order and keeps the rows that
//! match until the page is full; a total without `$count` is counted by
//! reading the matching ids. Every such read is bounded by `max_scan_rows`.

use crate::error::GatewayError;
use crate::model::KEY;
use crate::odata::eval::matches;
use crate::odata::{CollectionQuery, Dialect, Expand, OrderBy, Row};
use crate::plan::add_columns;
use crate::plan::residual::{describe, Split};
use crate::upstream::{Caller, Upstream};
use futures::StreamExt;
use std::sync::Arc;

/// Pages of a count read in flight at once.
const COUNT_PAGES_IN_FLIGHT: usize = 4;
/// The smallest upstream page a residual read asks for.
const MIN_RESIDUAL_PAGE: u64 = 100;

pub struct ListRequest<'a> {
    pub collection: &'static str,
    pub select: Vec<&'static str>,
    pub expand: Vec<Expand>,
    pub filter: &'a Split,
    pub order_by: Vec<OrderBy>,
    pub start: u64,
    pub first: u64,
    pub wants_rows: bool,
    pub wants_total: bool,
}

/// Up to `first` + 1 rows from `start` (the extra one tells a next page
/// exists), and the total when asked.
pub struct ListRows {
    pub rows: Vec<Arc<Row>>,
    pub total: Option<i64>,
}

/// Reads lists for one caller.
pub struct ListReader<'a> {
    pub upstream: &'a Upstream,
    pub caller: &'a Caller,
    pub dialect: Dialect,
    pub max_scan_rows: u64,
}

impl ListReader<'_> {
    pub async fn read(&self, request: ListRequest<'_>) -> Result<ListRows, GatewayError> {
        if request.filter.has_residual() {
            return self.read_with_residual(request).await;
        }
        let mut rows = Vec::new();
        let mut total = None;
        if request.wants_rows {
            let query = CollectionQuery::new(request.collection)
                .select(request.select.clone())
                .expand(request.expand.clone())
                .filter(request.filter.upstream.clone())
                .order_by(request.order_by.clone())
                .skip(request.start)
                .top(request.first + 1)
                .count(request.wants_total);
            let page = self
                .upstream
                .fetch_collection(self.caller, &query, self.dialect)
                .await?;
            rows = page.rows.clone();
            total = page.count;
            // A short page that starts within the result ends it: the total
            // is known without counting.
            let short = (rows.len() as u64) <= request.first;
            if total.is_none() && short && (request.start == 0 || !rows.is_empty()) {
                total = Some((request.start + rows.len() as u64) as i64);
            }
        }
        if request.wants_total && total.is_none() {
            total = Some(self.count(&request).await?);
        }
        Ok(ListRows { rows, total })
    }

    /// The number of rows the upstream filter matches, counted by reading
    /// their ids (no `$count`, or none came back).
    async fn count(&self, request: &ListRequest<'_>) -> Result<i64, GatewayError> {
        if request.wants_total && !request.wants_rows && self.dialect.count {
            let query = CollectionQuery::new(request.collection)
                .select(vec![KEY])
                .filter(request.filter.upstream.clone())
                .top(0)
                .count(true);
            let page = self
                .upstream
                .fetch_collection(self.caller, &query, self.dialect)
                .await?;
            if let Some(count) = page.count {
                return Ok(count);
            }
        }
        let base = CollectionQuery::new(request.collection)
            .select(vec![KEY])
            .filter(request.filter.upstream.clone());
        let page_size = self.upstream.page_cap();
        let mut pages = std::pin::pin!(self.upstream.pages(
            self.caller,
            base,
            page_size,
            COUNT_PAGES_IN_FLIGHT,
            self.dialect
        ));
        let mut counted: u64 = 0;
        while let Some(page) = pages.next().await {
            counted += page?.rows.len() as u64;
            if counted > self.max_scan_rows {
                return Err(count_limit(request, self.max_scan_rows));
            }
        }
        Ok(counted as i64)
    }

    /// Reads upstream pages in the list's order, keeping matching rows.
    /// Without a total it stops as soon as the page is full, pages growing
    /// from a few times the rows asked up to the page cap; a total needs
    /// every row: whole pages, a few in flight.
    async fn read_with_residual(&self, request: ListRequest<'_>) -> Result<ListRows, GatewayError> {
        let mut select = if request.wants_rows {
            request.select.clone()
        } else {
            vec![KEY]
        };
        add_columns(&mut select, request.filter.residual_columns());
        let base = crate::upstream::with_key_order(
            CollectionQuery::new(request.collection)
                .select(select)
                .filter(request.filter.upstream.clone())
                .order_by(request.order_by.clone()),
        );
        let cap = self.upstream.page_cap();
        let mut kept = Kept::new(&request);
        if request.wants_total {
            let mut pages = std::pin::pin!(self.upstream.pages(
                self.caller,
                base,
                cap,
                COUNT_PAGES_IN_FLIGHT,
                self.dialect
            ));
            while let Some(page) = pages.next().await {
                kept.add(&page?.rows, self.max_scan_rows)?;
            }
        } else {
            let mut page_size = (kept.wanted * 2).clamp(MIN_RESIDUAL_PAGE, cap);
            loop {
                let query = base.clone().skip(kept.read).top(page_size);
                let page = self
                    .upstream
                    .fetch_collection(self.caller, &query, self.dialect)
                    .await?;
                kept.add(&page.rows, self.max_scan_rows)?;
                if (page.rows.len() as u64) < page_size || kept.matched >= kept.wanted {
                    break;
                }
                page_size = (page_size * 4).min(cap);
            }
        }
        if let Some(explain) = &self.caller.explain {
            let predicate = describe(&request.filter.residual);
            explain.residual(request.collection, predicate, kept.read, kept.matched);
        }
        Ok(ListRows {
            total: request.wants_total.then_some(kept.matched as i64),
            rows: kept.rows,
        })
    }
}

/// The rows a residual read keeps: the matching ones from `start`, up to
/// `first` + 1, and how many were read and matched.
struct Kept<'r> {
    request: &'r ListRequest<'r>,
    wanted: u64,
    read: u64,
    matched: u64,
    rows: Vec<Arc<Row>>,
}

impl<'r> Kept<'r> {
    fn new(request: &'r ListRequest<'r>) -> Self {
        Kept {
            request,
            wanted: request.start + request.first + 1,
            read: 0,
            matched: 0,
            rows: Vec::new(),
        }
    }

    fn add(&mut self, page: &[Arc<Row>], max_scan_rows: u64) -> Result<(), GatewayError> {
        self.read += page.len() as u64;
        if self.read > max_scan_rows {
            return Err(scan_limit(self.request, max_scan_rows));
        }
        let request = self.request;
        for row in page
            .iter()
            .filter(|row| matches(&request.filter.residual, row))
        {
            let in_page = self.matched >= request.start && self.matched < self.wanted;
            if request.wants_rows && in_page {
                self.rows.push(row.clone());
            }
            self.matched += 1;
        }
        Ok(())
    }
}

fn scan_limit(request: &ListRequest<'_>, limit: u64) -> GatewayError {
    GatewayError::ScanLimitExceeded(format!(
        "the {} list would read more than {limit} rows (max_scan_rows) to evaluate `{}` in the gateway, which this upstream cannot evaluate; narrow `where` with conditions the upstream evaluates (e.g. id or date ranges, eq/in on fields)",
        request.collection,
        describe(&request.filter.residual)
    ))
}

fn count_limit(request: &ListRequest<'_>, limit: u64) -> GatewayError {
    GatewayError::ScanLimitExceeded(format!(
        "counting the {} rows would read more than {limit} ids (max_scan_rows): this upstream has no `$count`; narrow `where` or leave out `totalCount`",
        request.collection
    ))
}
