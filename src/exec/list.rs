//! A root list's rows and total, exact on any dialect. Without a residual
//! the upstream filters, pages and (with `$count`) counts. With one, the
//! gateway reads upstream pages in the list's order and keeps the rows that
//! match until the page is full; a total without `$count` is counted by
//! reading the matching ids. Every such read is bounded by `max_scan_rows`.

use crate::error::GatewayError;
use crate::model::KEY;
use crate::odata::{CollectionQuery, Dialect, Expand, Filter, OrderBy, Row};
use crate::plan::add_columns;
use crate::plan::residual::{describe, Split};
use crate::plan::residual_scan::ResidualScan;
use crate::report::Report;
use crate::upstream::{with_key_order, Caller, PagePlan, Upstream};
use futures::StreamExt;
use std::sync::Arc;

/// Pages of a count read in flight at once.
const COUNT_PAGES_IN_FLIGHT: usize = 4;
/// The smallest upstream page a residual read asks for.
const MIN_RESIDUAL_PAGE: u64 = 100;
/// Each page of a residual read that needs more rows is this many times
/// the one before (up to the page cap).
const RESIDUAL_PAGE_GROWTH: u64 = 4;

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
    pub report: &'a Report,
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
            let page = self.fetch(&query).await?;
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

    async fn fetch(
        &self,
        query: &CollectionQuery,
    ) -> Result<Arc<crate::odata::CollectionPage>, GatewayError> {
        self.upstream
            .fetch_collection(self.caller, self.report, query, self.dialect)
            .await
    }

    /// The number of rows the upstream filter matches, counted by reading
    /// their ids (no `$count`, or none came back).
    async fn count(&self, request: &ListRequest<'_>) -> Result<i64, GatewayError> {
        let ids = CollectionQuery::new(request.collection)
            .select(vec![KEY])
            .filter(request.filter.upstream.clone());
        if request.wants_total && !request.wants_rows && self.dialect.count {
            if let Some(count) = self.fetch(&ids.clone().top(0).count(true)).await?.count {
                return Ok(count);
            }
        }
        let plan = PagePlan::scan(ids, self.upstream.page_cap(), COUNT_PAGES_IN_FLIGHT);
        let mut pages = self
            .upstream
            .pages(self.caller, self.report, plan, self.dialect);
        let mut counted = ResidualScan::new(request.collection, &Filter::True, self.max_scan_rows);
        while let Some(page) = pages.next().await {
            counted
                .take(&page?.rows)
                .map_err(|_| count_limit(request, self.max_scan_rows))?;
        }
        Ok(counted.matched() as i64)
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
        let base = with_key_order(
            CollectionQuery::new(request.collection)
                .select(select)
                .filter(request.filter.upstream.clone())
                .order_by(request.order_by.clone()),
        );
        let cap = self.upstream.page_cap();
        let wanted = request.start + request.first + 1;
        let plan = if request.wants_total {
            PagePlan::scan(base, cap, COUNT_PAGES_IN_FLIGHT)
        } else {
            let first_page = (wanted * 2).clamp(MIN_RESIDUAL_PAGE, cap);
            PagePlan {
                grow: RESIDUAL_PAGE_GROWTH,
                ..PagePlan::scan(base, first_page, 1)
            }
        };
        let residual = &request.filter.residual;
        let mut scan = ResidualScan::new(request.collection, residual, self.max_scan_rows);
        let mut rows = Vec::new();
        let mut pages = self
            .upstream
            .pages(self.caller, self.report, plan, self.dialect);
        while let Some(page) = pages.next().await {
            let page = page?;
            let before = scan.matched();
            let matching = scan
                .take(&page.rows)
                .map_err(|_| scan_limit(&request, self.max_scan_rows))?;
            if request.wants_rows {
                let in_page = (before..).zip(matching);
                rows.extend(
                    in_page
                        .filter(|(n, _)| *n >= request.start && *n < wanted)
                        .map(|(_, row)| row.clone()),
                );
            }
            if !request.wants_total && scan.matched() >= wanted {
                break;
            }
        }
        drop(pages);
        scan.explain(self.report);
        Ok(ListRows {
            total: request.wants_total.then_some(scan.matched() as i64),
            rows,
        })
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
