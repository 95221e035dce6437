//! The probe set: the sample read first, then every capability's probe
//! at once, each with the row it needs.

use super::ask::{spelled_out, Probe};
use super::checks;
use super::findings::Findings;
use super::sample;
use crate::error::GatewayError;
use crate::odata::Capability;
use std::collections::HashSet;

/// What the probes need beside the upstream.
pub struct Subject<'a> {
    /// The probed collection's navigation properties as `$metadata`
    /// declares them; `None` without `$metadata`.
    pub navigation: Option<&'a HashSet<String>>,
    /// The page cap in force: no probe asks for more rows.
    pub cap: u64,
}

/// Ids read at once by the next-link probe: one more than a common
/// server-driven page size (CAP's default 1 000).
const NEXT_LINK_READ: u64 = 1001;

/// Every capability probed. An error is a fault that may pass (timeout,
/// 502-504, a refused credential, the plain sample read refused): the
/// caller keeps what it has and probes again later.
pub async fn run(subject: &Subject<'_>, probe: &Probe<'_>) -> Result<Findings, GatewayError> {
    let Some(page) = probe(sample::query(subject.cap), spelled_out()).await? else {
        return Err(GatewayError::UpstreamUnavailable(
            "the capability probes' plain read was refused".into(),
        ));
    };
    let s = sample::read(&page);
    let s = &s;
    let (not, null_literal, ne_matches_null, in_list, count) = futures::try_join!(
        checks::not(probe, s),
        checks::null_literal(probe, s),
        checks::ne_matches_null(probe, s),
        checks::in_list(probe, s),
        checks::count(probe, s),
    )?;
    let (apply, expand, next_links, pattern_wildcards, quoted_dates) = futures::try_join!(
        checks::apply(probe, s),
        checks::expand(probe, s, subject.navigation),
        checks::next_links(probe, NEXT_LINK_READ.min(subject.cap)),
        checks::pattern_wildcards(probe, s),
        checks::quoted_dates(probe, s),
    )?;
    let mut findings = Findings::default();
    for (capability, verdict) in [
        (Capability::InList, in_list),
        (Capability::Not, not),
        (Capability::NullLiteral, null_literal),
        (Capability::NeMatchesNull, ne_matches_null),
        (Capability::PatternWildcards, pattern_wildcards),
        (Capability::Count, count),
        (Capability::Apply, apply),
        (Capability::Expand, expand),
        (Capability::NextLinks, next_links),
        (Capability::QuotedDates, quoted_dates),
    ] {
        findings.insert(capability, verdict);
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::eval::matches;
    use crate::odata::{CollectionPage, CollectionQuery, Dialect, DialectName, Filter, Row};
    use futures::FutureExt;
    use serde_json::json;
    use std::sync::Arc;

    fn table() -> Vec<Row> {
        (1..=5)
            .filter_map(|id| {
                let assignee = if id == 2 { json!(null) } else { json!(id) };
                json!({"id": id, "assignee_id": assignee, "team_id": 1, "uuid": format!("u-{id}"),
                       "created_at": format!("2026-03-0{id}T20:30:00.000Z")})
                .as_object()
                .cloned()
            })
            .collect()
    }

    fn page(rows: Vec<Row>, count: Option<i64>) -> Option<CollectionPage> {
        Some(CollectionPage {
            rows: rows.into_iter().map(Arc::new).collect(),
            count,
            next_link: None,
        })
    }

    fn rows_where(filter: &Filter, top: u64) -> Vec<Row> {
        let rows = table().into_iter().filter(|r| matches(filter, r));
        rows.take(top as usize).collect()
    }

    /// A complete OData server: OData's null rule, literal patterns,
    /// `in`, `$count`, `$apply`, `$expand`.
    fn complete(q: CollectionQuery, _: Dialect) -> Option<CollectionPage> {
        let filter = odata_rule(q.filter.clone().unwrap_or(Filter::True));
        if let Some(apply) = &q.apply {
            let f = apply.filter.clone().unwrap_or(Filter::True);
            let n = rows_where(&f, u64::MAX).len();
            return page(
                json!({"n": n}).as_object().cloned().into_iter().collect(),
                None,
            );
        }
        let mut rows = rows_where(&filter, q.top);
        for e in &q.expand {
            for r in &mut rows {
                r.insert(e.navigation.into(), json!(null));
            }
        }
        let count = q.count.then(|| rows_where(&filter, u64::MAX).len() as i64);
        page(rows, count)
    }

    fn odata_rule(filter: Filter) -> Filter {
        match filter {
            Filter::And(p) => Filter::And(p.into_iter().map(odata_rule).collect()),
            Filter::Or(p) => Filter::Or(p.into_iter().map(odata_rule).collect()),
            Filter::Not(f) => Filter::Not(Box::new(odata_rule(*f))),
            Filter::Compare {
                property,
                op: crate::odata::CompareOp::Ne,
                value,
            } => Filter::Or(vec![
                Filter::Compare {
                    property,
                    op: crate::odata::CompareOp::Ne,
                    value,
                },
                Filter::IsNull {
                    property,
                    null: true,
                },
            ]),
            other => other,
        }
    }

    /// The jaystack libraries: a leading `not` dropped, one inside an
    /// expression refused, `in` refused, null tests matching nothing,
    /// `%` and `_` wildcards, no `$count`, `$apply` refused, `$expand`
    /// ignored, unquoted dates refused at hour 20.
    fn minimal(q: CollectionQuery, d: Dialect) -> Option<CollectionPage> {
        if q.apply.is_some() {
            return None;
        }
        let rendered = q.filter.as_ref().map(|f| f.render(d)).unwrap_or_default();
        if rendered.contains(" in (") || rendered.contains("T20:") && !d.quoted_dates {
            return None;
        }
        let filter = match q.filter.clone().unwrap_or(Filter::True) {
            Filter::Not(_) => Filter::True,
            other => jaystack(other)?,
        };
        page(rows_where(&filter, q.top), None)
    }

    fn jaystack(filter: Filter) -> Option<Filter> {
        Some(match filter {
            Filter::Not(_) => return None,
            Filter::And(p) => Filter::And(p.into_iter().map(jaystack).collect::<Option<_>>()?),
            Filter::Or(p) => Filter::Or(p.into_iter().map(jaystack).collect::<Option<_>>()?),
            Filter::IsNull { .. } => Filter::False,
            Filter::Call {
                property, value, ..
            } if value.contains(['%', '_']) => Filter::IsNull {
                property,
                null: false,
            },
            other => other,
        })
    }

    /// What the probes find on `server`, whose `$metadata` declares the
    /// navigation properties `declared`.
    async fn findings(
        server: fn(CollectionQuery, Dialect) -> Option<CollectionPage>,
        declared: &[&str],
    ) -> Findings {
        let declared: HashSet<String> = declared.iter().map(|n| n.to_string()).collect();
        let subject = Subject {
            navigation: Some(&declared),
            cap: 10_000,
        };
        let probe = move |q, d| async move { Ok(server(q, d)) }.boxed();
        run(&subject, &probe).await.expect("probed")
    }

    fn as_dialect(found: &Findings, name: DialectName) -> Dialect {
        let mut d = name.preset();
        for c in Capability::ALL {
            d.set(
                c,
                found.value(c).unwrap_or_else(|| panic!("{c:?} undecided")),
            );
        }
        d
    }

    #[tokio::test]
    async fn the_jaystack_dialect_is_found_as_the_liveagent_preset() {
        let found = findings(minimal, &[]).await;
        let liveagent = DialectName::Liveagent;
        assert_eq!(
            as_dialect(&found, liveagent),
            liveagent.preset(),
            "{found:#?}"
        );
    }

    #[tokio::test]
    async fn a_complete_server_is_found_complete() {
        let found = findings(complete, &["inbox"]).await;
        let odata4 = DialectName::Odata4;
        let want = Dialect {
            in_list: true,
            next_links: false,
            ..odata4.preset()
        };
        assert_eq!(as_dialect(&found, odata4), want, "{found:#?}");
    }

    #[tokio::test]
    async fn a_fault_is_an_error_and_a_missing_row_undecided() {
        let subject = Subject {
            navigation: None,
            cap: 10,
        };
        let down = |_, _| async { Err(GatewayError::timeout(5)) }.boxed();
        assert!(run(&subject, &down).await.is_err());
        let empty = |_, _| async { Ok(Some(CollectionPage::default())) }.boxed();
        let found = run(&subject, &empty).await.expect("probed");
        for c in Capability::ALL {
            let decided = found.value(c).is_some();
            assert_eq!(decided, c == Capability::NextLinks, "{c:?}: {found:#?}");
        }
    }
}
