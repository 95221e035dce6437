//! The gateway computes the groups from a scan: only the columns the groups
//! and metrics need, in id order, `scan_page_size` rows per request. The
//! first page brings `@odata.count` where the upstream counts, so a scan
//! over `max_scan_rows` stops before reading more; the other pages run up
//! to `scan_concurrency` at a time and are folded into the groups as they
//! arrive, so at most that many pages are held at once.

use super::fold::Accumulator;
use super::group::Group;
use super::source::Source;
use super::spec::Spec;
use crate::error::GatewayError;
use crate::model::KEY;
use crate::odata::{CollectionQuery, OrderBy};
use crate::plan::add_columns;
use crate::plan::residual::Split;
use crate::plan::residual_scan::ResidualScan;
use crate::upstream::PagePlan;
use futures::StreamExt;

/// `split`: the spec's filter split for the upstream; the gateway keeps
/// the rows that match its residual.
pub(super) async fn run(
    source: &Source<'_>,
    spec: &Spec,
    split: &Split,
) -> Result<Vec<Group>, GatewayError> {
    let policy = source.policy;
    let max_rows = policy.max_scan_rows;
    let page_size = policy.scan_page_size.min(source.upstream.page_cap());
    let plan = PagePlan {
        // The first page brings the count: a scan over the limit stops there.
        count_first: source.dialect.count,
        ..PagePlan::scan(
            query(spec, split, page_size),
            page_size,
            policy.scan_concurrency,
        )
    };
    // Scan pages are read once: keep them out of the response cache, so the
    // scan's memory stays with its groups.
    let caller = source.caller.uncached();
    let mut pages = source
        .upstream
        .pages(&caller, source.report, plan, source.dialect);
    let mut acc = Accumulator::new(spec, policy.max_groups);
    let mut scan = ResidualScan::new(spec.entity.name, &split.residual, max_rows);
    while let Some(page) = pages.next().await {
        let page = page?;
        if let Some(total) = page.count {
            let total = u64::try_from(total).unwrap_or(0);
            if total > max_rows {
                return Err(limit_error(spec, total, max_rows));
            }
        }
        let rows = scan
            .take(&page.rows)
            .map_err(|over| limit_error(spec, over.read, max_rows))?;
        for row in rows {
            acc.add(row)?;
        }
    }
    scan.explain(source.report);
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
