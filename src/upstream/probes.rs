//! Self-verifying probes: tiny queries whose right answer is known, sent
//! once per process with the first caller's credential. A wrong answer or
//! a refusal narrows the configured capability set; a probe never widens
//! it. A passing fault (timeout, 502-504, credentials) leaves the set as
//! configured and probes again on a later request.

use super::{Caller, Upstream};
use crate::error::GatewayError;
use crate::model::KEY;
use crate::odata::{CollectionQuery, CompareOp, Dialect, Filter, Literal};

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

/// Probes what `dialect` claims. Only capabilities it has are probed.
pub(super) async fn run(
    upstream: &Upstream,
    caller: &Caller,
    dialect: Dialect,
) -> Result<Findings, GatewayError> {
    let mut findings = Findings {
        not: true,
        null_literal: true,
        count: true,
        in_list: true,
    };
    if !(dialect.not || dialect.null_literal || dialect.in_list || dialect.count) {
        return Ok(findings);
    }
    // Probes read ids only and answer no client: no cache, no key limits,
    // not in the client's explain output.
    let caller = Caller {
        bypass_cache: true,
        collections: None,
        explain: None,
        ..caller.clone()
    };
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
        let caller = &caller;
        async move {
            let page = upstream.fetch_collection(caller, &query, dialect).await;
            refused_as_false(page.map(|p| Some(p.rows.len())))
        }
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
        let query = ids(Filter::True, 0).count(true);
        let page = upstream.fetch_collection(&caller, &query, dialect).await;
        findings.count = refused_as_false(page.map(|p| p.count.map(|_| 0)))?.is_some();
    }
    tracing::info!(removed = ?findings.removed(dialect), "upstream capabilities probed");
    Ok(findings)
}

/// A refusal of the construct (400, 404, 500, 501, or an answer that is
/// not OData) is an answer: `None`. Faults that pass are errors.
fn refused_as_false<T>(answer: Result<Option<T>, GatewayError>) -> Result<Option<T>, GatewayError> {
    match answer {
        Ok(value) => Ok(value),
        Err(e) if matches!(e.upstream_status(), Some(400 | 404 | 500 | 501)) => Ok(None),
        Err(e) if e.code() == "UPSTREAM_INVALID_RESPONSE" => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::DialectName;

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
