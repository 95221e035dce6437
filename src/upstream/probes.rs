//! Self-verifying probes: tiny queries whose right answer is known, sent
//! once per process with the first caller's credential, straight to the
//! upstream (no cache, nobody's explain). A wrong answer or a refusal
//! narrows the configured capability set; a probe never widens it. A
//! passing fault (timeout, 502-504, credentials) leaves the set as
//! configured and probes again on a later request.

use crate::error::GatewayError;
use crate::model::KEY;
use crate::odata::{CollectionPage, CollectionQuery, CompareOp, Dialect, Filter, Literal};
use std::future::Future;

/// Any collection does; Conversation is the one every account has.
const PROBED: &str = "Conversation";

/// What the probes found: `false` where the upstream failed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Findings {
    pub not: bool,
    pub null_literal: bool,
    pub count: bool,
    pub in_list: bool,
}

impl Findings {
    pub fn narrow(self, dialect: Dialect) -> Dialect {
        Dialect {
            not: dialect.not && self.not,
            null_literal: dialect.null_literal && self.null_literal,
            count: dialect.count && self.count,
            in_list: dialect.in_list && self.in_list,
            ..dialect
        }
    }

    /// The capabilities a probe removed, for the log.
    pub fn removed(self, dialect: Dialect) -> Vec<&'static str> {
        let narrowed = self.narrow(dialect);
        [
            ("not", dialect.not, narrowed.not),
            ("null_literal", dialect.null_literal, narrowed.null_literal),
            ("count", dialect.count, narrowed.count),
            ("in", dialect.in_list, narrowed.in_list),
        ]
        .iter()
        .filter(|(_, before, after)| before != after)
        .map(|(name, _, _)| *name)
        .collect()
    }
}

/// Probes what `dialect` claims, each probe sent by `probe` (a page, or
/// `None` when the upstream refused the construct). Only capabilities the
/// dialect has are probed.
pub async fn run<F, Fut>(dialect: Dialect, probe: F) -> Result<Findings, GatewayError>
where
    F: Fn(CollectionQuery) -> Fut,
    Fut: Future<Output = Result<Option<CollectionPage>, GatewayError>>,
{
    let mut findings = Findings {
        not: true,
        null_literal: true,
        count: true,
        in_list: true,
    };
    if !(dialect.not || dialect.null_literal || dialect.in_list || dialect.count) {
        return Ok(findings);
    }
    let ids = |filter: Filter, top: u64| {
        CollectionQuery::new(PROBED)
            .select(vec![KEY])
            .filter(filter)
            .top(top)
    };
    let id_is = |op, value| Filter::Compare {
        property: KEY,
        op,
        value: Literal::Int(value),
    };
    let rows = |query: CollectionQuery| {
        let answer = probe(query);
        async move { Ok::<_, GatewayError>(answer.await?.map(|p| p.rows.len())) }
    };
    if dialect.not {
        // Nothing has id -1, so `not (id ne -1)` matches no row.
        let probe = Filter::Not(Box::new(id_is(CompareOp::Ne, -1)));
        findings.not = rows(ids(probe, 1)).await? == Some(0);
    }
    if dialect.null_literal && rows(ids(Filter::True, 1)).await?.unwrap_or(0) > 0 {
        // Every row has an id, so `id ne null` matches rows.
        let probe = Filter::IsNull {
            property: KEY,
            null: false,
        };
        findings.null_literal = rows(ids(probe, 1)).await?.is_some_and(|n| n > 0);
    }
    if dialect.in_list {
        let probe = Filter::In {
            property: KEY,
            values: vec![Literal::Int(-1), Literal::Int(-2)],
        };
        findings.in_list = rows(ids(probe, 1)).await? == Some(0);
    }
    if dialect.count {
        let page = probe(ids(Filter::True, 0).count(true)).await?;
        findings.count = page.is_some_and(|p| p.count.is_some());
    }
    tracing::info!(removed = ?findings.removed(dialect), "upstream capabilities probed");
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::{DialectName, Row};
    use std::sync::Arc;

    fn page(rows: usize, count: Option<i64>) -> Option<CollectionPage> {
        Some(CollectionPage {
            rows: (0..rows).map(|_| Arc::new(Row::default())).collect(),
            count,
            next_link: None,
        })
    }

    /// The minimal dialect as the jaystack libraries answer: `not` dropped
    /// (every row), `ne null` matching nothing, `in` a parse error, `$count`
    /// ignored.
    fn minimal(q: CollectionQuery) -> Option<CollectionPage> {
        match &q.filter {
            Some(Filter::Not(_)) => page(1, None),
            Some(Filter::IsNull { .. }) => page(0, None),
            Some(Filter::In { .. }) => None,
            _ => page(q.top.min(1) as usize, None),
        }
    }

    /// A complete OData server.
    fn complete(q: CollectionQuery) -> Option<CollectionPage> {
        match &q.filter {
            Some(Filter::Not(_)) | Some(Filter::In { .. }) => page(0, None),
            _ => page(q.top.min(1) as usize, q.count.then_some(5)),
        }
    }

    #[tokio::test]
    async fn probes_find_what_each_server_does() {
        let full = DialectName::Odata4.preset();
        let claimed = Dialect {
            in_list: true,
            ..full
        };
        let wrong = run(claimed, |q| async move { Ok(minimal(q)) })
            .await
            .expect("probed");
        assert_eq!(
            wrong.removed(claimed),
            vec!["not", "null_literal", "count", "in"]
        );
        let right = run(claimed, |q| async move { Ok(complete(q)) })
            .await
            .expect("probed");
        assert!(right.removed(claimed).is_empty());
        let fault = run(claimed, |_| async {
            Err::<Option<CollectionPage>, _>(GatewayError::timeout(5))
        })
        .await;
        assert!(fault.is_err(), "a passing fault leaves the set for later");
    }

    #[test]
    fn findings_only_narrow() {
        let full = DialectName::Odata4.preset();
        let found = Findings {
            not: false,
            null_literal: true,
            count: false,
            in_list: true,
        };
        let narrowed = found.narrow(full);
        assert!(!narrowed.not && !narrowed.count && narrowed.null_literal && !narrowed.in_list);
        assert_eq!(found.removed(full), vec!["not", "count"]);
        let minimal = DialectName::Liveagent.preset();
        let all_good = Findings {
            not: true,
            null_literal: true,
            count: true,
            in_list: true,
        };
        assert_eq!(all_good.narrow(minimal), minimal);
    }
}
