//! Rows read to evaluate a residual filter in the gateway: the ones that
//! match are kept, every row read counts against `max_scan_rows`, and the
//! request's explain record shows the predicate with what it read and
//! matched. Lists, counts, relations and aggregate scans all read this way.

use super::residual::describe;
use crate::odata::eval::matches;
use crate::odata::{Filter, Row};
use crate::report::Report;
use std::sync::Arc;

pub struct ResidualScan<'f> {
    collection: &'static str,
    residual: &'f Filter,
    max_rows: u64,
    read: u64,
    matched: u64,
}

/// A scan past its bound: how many rows it had read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverLimit {
    pub read: u64,
}

impl<'f> ResidualScan<'f> {
    /// `max_rows`: the most rows it may read (`u64::MAX`: no bound).
    pub fn new(collection: &'static str, residual: &'f Filter, max_rows: u64) -> Self {
        ResidualScan {
            collection,
            residual,
            max_rows,
            read: 0,
            matched: 0,
        }
    }

    /// The rows of `page` that match, in order; past the bound, nothing.
    pub fn take<'r>(&mut self, page: &'r [Arc<Row>]) -> Result<Vec<&'r Arc<Row>>, OverLimit> {
        self.read += page.len() as u64;
        if self.read > self.max_rows {
            return Err(OverLimit { read: self.read });
        }
        let kept: Vec<&Arc<Row>> = page
            .iter()
            .filter(|row| *self.residual == Filter::True || matches(self.residual, row))
            .collect();
        self.matched += kept.len() as u64;
        Ok(kept)
    }

    pub fn read(&self) -> u64 {
        self.read
    }

    pub fn matched(&self) -> u64 {
        self.matched
    }

    /// Shows the predicate in the explain record, when the client asked
    /// and there was one.
    pub fn explain(&self, report: &Report) {
        if let (Some(explain), false) = (report.explain(), *self.residual == Filter::True) {
            let predicate = describe(self.residual);
            explain.residual(self.collection, predicate, self.read, self.matched);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::{CompareOp, Literal};
    use serde_json::json;

    fn rows(values: &[i64]) -> Vec<Arc<Row>> {
        values
            .iter()
            .filter_map(|v| json!({ "a": v }).as_object().cloned().map(Arc::new))
            .collect()
    }

    #[test]
    fn matching_rows_are_kept_and_counted_within_the_bound() {
        let over_one = Filter::Compare {
            property: "a",
            op: CompareOp::Gt,
            value: Literal::Int(1),
        };
        let mut scan = ResidualScan::new("Message", &over_one, 5);
        let page = rows(&[1, 2, 3]);
        assert_eq!(scan.take(&page).map(|k| k.len()), Ok(2));
        let report = Report::new(true);
        scan.explain(&report);
        let shown = report.explain().map(|e| e.to_json()).unwrap_or_default();
        assert_eq!(shown["residuals"][0]["predicate"], "a gt 1");
        assert_eq!(shown["residuals"][0]["rowsRead"], 3);
        assert_eq!(shown["residuals"][0]["rowsMatched"], 2);
        assert_eq!(scan.take(&page), Err(OverLimit { read: 6 }));
    }

    #[test]
    fn without_a_residual_every_row_counts_and_nothing_is_shown() {
        let mut scan = ResidualScan::new("Message", &Filter::True, u64::MAX);
        assert_eq!(scan.take(&rows(&[1, 2])).map(|k| k.len()), Ok(2));
        let report = Report::new(true);
        scan.explain(&report);
        let shown = report.explain().map(|e| e.to_json()).unwrap_or_default();
        assert_eq!(shown["residuals"], json!([]));
    }
}
