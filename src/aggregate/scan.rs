//! The gateway computes the groups from a scan: only the columns the groups
//! and metrics need, in id order, `scan_page_size` rows per request. The
//! first page brings `@odata.count`, so a scan over `max_scan_rows` stops
//! before reading more; the other pages run `scan_concurrency` at a time and
//! are folded into the groups as they arrive, so at most that many pages
//! are held at once.

use super::groups::{Accumulator, Group};
use super::{Source, Spec};
use crate::error::GatewayError;
use crate::model::KEY;
use crate::odata::eval::matches;
use crate::odata::{CollectionPage, CollectionQuery, OrderBy};
use crate::plan::add_columns;
use crate::plan::residual::{describe, Split};
use crate::upstream::Caller;
use futures::StreamExt;
use std::sync::Arc;

/// `split`: the spec's filter split for the upstream; the gateway keeps
/// the rows that match its residual.
pub(super) async fn run(
    source: &Source<'_>,
    spec: &Spec,
    split: &Split,
) -> Result<Vec<Group>, GatewayError> {
    let settings = source.settings;
    let page_size = settings.scan_page_size.min(source.upstream.page_cap());
    let base = query(spec, split, page_size);
    // Scan pages are read once: keep them out of the response cache, so the
    // scan's memory stays with its groups.
    let caller = Caller {
        bypass_cache: true,
        ..source.caller.clone()
    };
    let mut acc = Accumulator::new(spec, settings.max_groups);
    let (mut seen, mut kept) = (0u64, 0u64);
    let mut fold = |page: Arc<CollectionPage>| -> Result<(), GatewayError> {
        seen += page.rows.len() as u64;
        if seen > settings.max_scan_rows {
            return Err(limit_error(spec, seen, settings.max_scan_rows));
        }
        for row in page.rows.iter().filter(|r| matches(&split.residual, r)) {
            acc.add(row)?;
            kept += 1;
        }
        Ok(())
    };
    let explain = |seen: u64, kept: u64| {
        if let (Some(explain), true) = (&source.caller.explain, split.has_residual()) {
            explain.residual(spec.entity.name, describe(&split.residual), seen, kept);
        }
    };

    if !source.style.count {
        // Without a count, pages in order until a short one.
        let mut pages = std::pin::pin!(source.upstream.pages(
            &caller,
            base,
            page_size,
            settings.scan_concurrency,
            source.style,
        ));
        while let Some(page) = pages.next().await {
            fold(page?)?;
        }
        explain(seen, kept);
        return Ok(acc.finish());
    }
    // The first page brings the count: a scan over the limit stops there.
    let page = |n: u64| base.clone().skip(n * page_size).count(n == 0);
    let fetch = |query: CollectionQuery| {
        let caller = &caller;
        async move {
            source
                .upstream
                .fetch_collection(caller, &query, source.style)
                .await
        }
    };
    let first = fetch(page(0)).await?;
    let total = first.count;
    if let Some(total) = total {
        if total.max(0) as u64 > settings.max_scan_rows {
            return Err(limit_error(spec, total as u64, settings.max_scan_rows));
        }
    }
    let mut last_len = first.rows.len() as u64;
    fold(first)?;
    match total {
        Some(total) => {
            let pages = (total.max(0) as u64).div_ceil(page_size);
            let mut stream = futures::stream::iter(1..pages)
                .map(|n| fetch(page(n)))
                .buffer_unordered(settings.scan_concurrency);
            while let Some(next) = stream.next().await {
                fold(next?)?;
            }
        }
        // The upstream sent no count after all: page until a short page.
        None => {
            let mut n = 1;
            while last_len == page_size {
                let next = fetch(page(n)).await?;
                last_len = next.rows.len() as u64;
                fold(next)?;
                n += 1;
            }
        }
    }
    explain(seen, kept);
    Ok(acc.finish())
}

fn query(spec: &Spec, split: &Split, page_size: u64) -> CollectionQuery {
    let mut select: Vec<&'static str> = Vec::new();
    let columns = spec
        .group_by
        .iter()
        .chain(spec.bucket.iter().map(|(f, _)| f))
        .chain(&spec.distinct)
        .chain(spec.numbers.iter().map(|(_, f)| f))
        .map(|f| f.odata);
    add_columns(&mut select, columns);
    add_columns(&mut select, split.residual_columns());
    if select.is_empty() {
        select.push(KEY);
    }
    // A fixed order keeps `$skip` pages apart.
    CollectionQuery::new(spec.entity.name)
        .select(select)
        .filter(split.upstream.clone())
        .order_by(vec![OrderBy {
            property: KEY,
            descending: false,
        }])
        .top(page_size)
}

fn limit_error(spec: &Spec, rows: u64, limit: u64) -> GatewayError {
    GatewayError::ScanLimitExceeded(format!(
        "this aggregate would scan {rows} {} rows, above the scan limit of {limit} (max_scan_rows); narrow `where` (e.g. a shorter time range or fewer inboxes), or let the upstream aggregate (aggregate_pushdown)",
        spec.entity.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{Bucketing, NumOp, TimeUnit};
    use crate::model::entity;
    use crate::odata::{Dialect, Filter};

    #[test]
    fn the_scan_selects_only_needed_columns() {
        let e = entity("ReportingEvent").expect("entity");
        let field = |n| e.field(n).expect("field");
        let spec = Spec {
            entity: e,
            filter: Filter::True,
            group_by: vec![field("user_id")],
            bucket: Some((
                field("created_at"),
                Bucketing::new(TimeUnit::Week, "UTC").expect("utc"),
            )),
            distinct: vec![field("user_id")],
            numbers: vec![(NumOp::Avg, field("value")), (NumOp::Max, field("value"))],
            order: vec![],
            first: None,
        };
        assert_eq!(
            query(&spec, &Split::exact(Filter::True), 500).to_relative_url(Dialect::odata4()),
            "ReportingEvent?$select=user_id,created_at,value&$orderby=id%20asc&$top=500&$skip=0"
        );
    }
}
