//! How a probe asks: one query sent straight to the upstream (the
//! `Probe` closure the front door hands in, or a fake in tests), written
//! with every construct spelled out, and the ids that came back.

use crate::error::GatewayError;
use crate::model::KEY;
use crate::odata::response::lenient_i64;
use crate::odata::{CollectionPage, CollectionQuery, CompareOp, Dialect, Filter, Literal};
use futures::future::BoxFuture;

/// A page, or `None` when the upstream refused the query (400, 404, 500,
/// 501, or an answer that is not OData); an error for a fault that may
/// pass (timeout, 502-504, a refused credential).
pub type ProbeAnswer = Result<Option<CollectionPage>, GatewayError>;

/// Sends one probe query, written in the given dialect.
pub type Probe<'a> =
    dyn Fn(CollectionQuery, Dialect) -> BoxFuture<'a, ProbeAnswer> + Send + Sync + 'a;

/// The collection every probe reads: every account has conversations.
pub const PROBED: &str = "Conversation";

/// Probes write what they ask about: `in (...)`, `$count`, `$apply`,
/// unquoted date literals (the date probe also tries them quoted).
pub fn spelled_out() -> Dialect {
    Dialect {
        in_list: true,
        quoted_dates: false,
        ..Dialect::odata4()
    }
}

/// The ids of the rows of an answer, in order; `None` when refused.
pub async fn ids(
    probe: &Probe<'_>,
    query: CollectionQuery,
    dialect: Dialect,
) -> Result<Option<Vec<i64>>, GatewayError> {
    let page = probe(query, dialect).await?;
    Ok(page.map(|p| {
        p.rows
            .iter()
            .filter_map(|r| r.get(KEY).and_then(lenient_i64))
            .collect()
    }))
}

pub fn id_is(op: CompareOp, id: i64) -> Filter {
    compare(KEY, op, Literal::Int(id))
}

pub fn compare(property: &'static str, op: CompareOp, value: Literal) -> Filter {
    Filter::Compare {
        property,
        op,
        value,
    }
}
