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
use crate::odata::{CollectionPage, CollectionQuery, OrderBy};
use crate::upstream::Caller;
use futures::StreamExt;
use std::sync::Arc;

pub(super) async fn run(source: &Source<'_>, spec: &Spec) -> Result<Vec<Group>, GatewayError> {
    let settings = source.settings;
    let page_size = settings.scan_page_size;
    let base = query(spec, page_size);
    let page = |n: u64| base.clone().skip(n * page_size).count(n == 0);
    // Scan pages are read once: keep them out of the response cache, so the
    // scan's memory stays with its groups.
    let caller = Caller {
        bypass_cache: true,
        ..source.caller.clone()
    };
    let fetch = |query: CollectionQuery| {
        let caller = &caller;
        async move {
            source
                .upstream
                .fetch_collection(caller, &query, source.style)
                .await
        }
    };
    let mut acc = Accumulator::new(spec, settings.max_groups);
    let mut seen: u64 = 0;
    let mut fold = |page: Arc<CollectionPage>| -> Result<usize, GatewayError> {
        seen += page.rows.len() as u64;
        if seen > settings.max_scan_rows {
            return Err(limit_error(spec, seen, settings.max_scan_rows));
        }
        for row in &page.rows {
            acc.add(row)?;
        }
        Ok(page.rows.len())
    };

    let first = fetch(page(0)).await?;
    let total = first.count;
    if let Some(total) = total {
        if total.max(0) as u64 > settings.max_scan_rows {
            return Err(limit_error(spec, total as u64, settings.max_scan_rows));
        }
    }
    let mut last_len = fold(first)? as u64;
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
        // Without a count, page until a short page.
        None => {
            let mut n = 1;
            while last_len == page_size {
                last_len = fold(fetch(page(n)).await?)? as u64;
                n += 1;
            }
        }
    }
    Ok(acc.finish())
}

fn query(spec: &Spec, page_size: u64) -> CollectionQuery {
    let mut select: Vec<&'static str> = Vec::new();
    let columns = spec
        .group_by
        .iter()
        .chain(spec.bucket.iter().map(|(f, _)| f))
        .chain(&spec.distinct)
        .chain(spec.numbers.iter().map(|(_, f)| f));
    for field in columns {
        if !select.contains(&field.odata) {
            select.push(field.odata);
        }
    }
    if select.is_empty() {
        select.push(KEY);
    }
    // A fixed order keeps `$skip` pages apart.
    CollectionQuery::new(spec.entity.name)
        .select(select)
        .filter(spec.filter.clone())
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
    use crate::odata::{Filter, Dialect};

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
            query(&spec, 500).to_relative_url(Dialect::odata4()),
            "ReportingEvent?$select=user_id,created_at,value&$orderby=id%20asc&$top=500&$skip=0"
        );
    }
}
