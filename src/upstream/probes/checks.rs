//! One probe per capability, each a query whose right answer is known
//! from the sample: the verdict says whether the upstream evaluates the
//! construct the way the gateway needs, refuses it, or gets it wrong.

use super::ask::{compare, id_is, ids, spelled_out, Probe, PROBED};
use super::findings::Verdict;
use super::sample::{Sample, DATE, TEXT};
use crate::error::GatewayError;
use crate::model::{Join, KEY, RELATIONS};
use crate::odata::response::lenient_i64;
use crate::odata::{
    Apply, CollectionQuery, CompareOp, Dialect, Expand, Filter, Literal, OrderBy, StringFn,
};
use chrono::{TimeZone, Utc};
use std::collections::HashSet;

type Checked = Result<Verdict, GatewayError>;

const NO_ROW: &str = "no conversation to ask about";

fn ids_where(filter: Filter, top: u64) -> CollectionQuery {
    CollectionQuery::new(PROBED)
        .select(vec![KEY])
        .filter(filter)
        .order_by(vec![OrderBy {
            property: KEY,
            descending: false,
        }])
        .top(top)
}

/// `filter` must match exactly `want`; a refusal or any other rows say no.
async fn must_match(probe: &Probe<'_>, filter: Filter, want: &[i64]) -> Checked {
    let what = filter.render(spelled_out());
    let top = want.len() as u64 + 1;
    Ok(
        match ids(probe, ids_where(filter, top), spelled_out()).await? {
            None => Verdict::no(format!("`{what}` refused")),
            Some(got) => Verdict::right_if(got == want, format!("`{what}` gave {got:?}")),
        },
    )
}

/// `not` inside an expression, as the planner writes it (a server that
/// drops it, or fails on it there, says no).
pub async fn not(probe: &Probe<'_>, sample: &Sample) -> Checked {
    let [first, _, ..] = sample.ids[..] else {
        return Ok(Verdict::unknown(
            "fewer than two conversations to ask about",
        ));
    };
    let filter = Filter::And(vec![
        id_is(CompareOp::Ge, first),
        Filter::Not(Box::new(id_is(CompareOp::Ne, first))),
    ]);
    must_match(probe, filter, &[first]).await
}

/// `eq null` and `ne null` test for null.
pub async fn null_literal(probe: &Probe<'_>, sample: &Sample) -> Checked {
    let Some(&first) = sample.ids.first() else {
        return Ok(Verdict::unknown(NO_ROW));
    };
    let not_null = Filter::IsNull {
        property: KEY,
        null: false,
    };
    let mut parts = vec![Filter::And(vec![id_is(CompareOp::Eq, first), not_null])];
    let mut want = vec![first];
    if let Some((id, property)) = sample.null {
        let null = Filter::IsNull {
            property,
            null: true,
        };
        parts.push(Filter::And(vec![id_is(CompareOp::Eq, id), null]));
        want.push(id);
    }
    want.sort_unstable();
    want.dedup();
    must_match(probe, Filter::Or(parts), &want).await
}

/// The null rule: OData's (`null ne -1` is true) or SQL's (unknown).
pub async fn ne_matches_null(probe: &Probe<'_>, sample: &Sample) -> Checked {
    let Some((id, property)) = sample.null else {
        return Ok(Verdict::unknown(
            "no conversation with a null column in the sample",
        ));
    };
    let filter = Filter::And(vec![
        id_is(CompareOp::Eq, id),
        compare(property, CompareOp::Ne, Literal::Int(-1)),
    ]);
    let what = filter.render(spelled_out());
    Ok(
        match ids(probe, ids_where(filter, 2), spelled_out()).await? {
            None => Verdict::unknown(format!("`{what}` refused")),
            Some(got) if got == [id] => {
                Verdict::yes(format!("`{what}` gave the row: OData's rule"))
            }
            Some(got) if got.is_empty() => Verdict::no(format!("`{what}` gave no row: SQL's rule")),
            Some(got) => Verdict::unknown(format!("`{what}` gave {got:?}")),
        },
    )
}

pub async fn in_list(probe: &Probe<'_>, sample: &Sample) -> Checked {
    let Some(&first) = sample.ids.first() else {
        return Ok(Verdict::unknown(NO_ROW));
    };
    let filter = Filter::In {
        property: KEY,
        values: vec![Literal::Int(first), Literal::Int(-1)],
    };
    must_match(probe, filter, &[first]).await
}

pub async fn count(probe: &Probe<'_>, sample: &Sample) -> Checked {
    let Some(&first) = sample.ids.first() else {
        return Ok(Verdict::unknown(NO_ROW));
    };
    let query = ids_where(id_is(CompareOp::Eq, first), 0).count(true);
    Ok(match probe(query, spelled_out()).await? {
        None => Verdict::no("`$count=true` refused"),
        Some(page) => match page.count {
            Some(1) => Verdict::yes("`@odata.count` 1 for one row"),
            Some(n) => Verdict::no(format!("`@odata.count` {n} for one row")),
            None => Verdict::no("no `@odata.count`"),
        },
    })
}

pub async fn apply(probe: &Probe<'_>, sample: &Sample) -> Checked {
    let Some(&first) = sample.ids.first() else {
        return Ok(Verdict::unknown(NO_ROW));
    };
    let query = CollectionQuery::new(PROBED).top(1).apply(Apply {
        filter: Some(id_is(CompareOp::Eq, first)),
        group_by: Vec::new(),
        count_alias: Some("n".into()),
        aggregates: Vec::new(),
    });
    Ok(match probe(query, spelled_out()).await? {
        None => Verdict::no("`$apply` refused"),
        Some(page) => {
            let n = page
                .rows
                .first()
                .and_then(|r| r.get("n"))
                .and_then(lenient_i64);
            Verdict::right_if(n == Some(1), format!("`$apply` counted {n:?} for one row"))
        }
    })
}

/// `$expand` where `$metadata` declares a navigation property of the
/// probed collection (`navigation`: `None` without `$metadata`).
pub async fn expand(
    probe: &Probe<'_>,
    sample: &Sample,
    navigation: Option<&HashSet<String>>,
) -> Checked {
    let Some(declared) = navigation else {
        return Ok(Verdict::unknown("no $metadata"));
    };
    let Some(relation) = RELATIONS.iter().find(|r| {
        r.from == PROBED
            && matches!(r.join, Join::ToOne { .. } | Join::ToMany { .. })
            && declared.contains(r.navigation)
    }) else {
        return Ok(Verdict::no("$metadata declares no navigation property"));
    };
    let Some(&first) = sample.ids.first() else {
        return Ok(Verdict::unknown(NO_ROW));
    };
    let nested = Expand {
        navigation: relation.navigation,
        select: vec![KEY],
        filter: None,
        order_by: Vec::new(),
        top: None,
        expand: Vec::new(),
    };
    let query = ids_where(id_is(CompareOp::Eq, first), 1).expand(vec![nested]);
    let what = format!("`$expand={}`", relation.navigation);
    Ok(match probe(query, spelled_out()).await? {
        None => Verdict::no(format!("{what} refused")),
        Some(page) => {
            let expanded = page
                .rows
                .first()
                .is_some_and(|r| r.contains_key(relation.navigation));
            Verdict::right_if(expanded, format!("{what} expanded: {expanded}"))
        }
    })
}

/// Whether a read of `read` ids comes in server-driven pages.
pub async fn next_links(probe: &Probe<'_>, read: u64) -> Checked {
    Ok(
        match probe(ids_where(Filter::True, read), spelled_out()).await? {
            None => Verdict::unknown(format!("a read of {read} ids refused")),
            Some(page) => match page.next_link {
                Some(_) => Verdict::yes(format!("a read of {read} ids came with a next link")),
                None => Verdict::no(format!(
                    "a read of {read} ids came whole ({} rows)",
                    page.rows.len()
                )),
            },
        },
    )
}

/// Whether `%` and `_` in `contains` are `LIKE` wildcards.
pub async fn pattern_wildcards(probe: &Probe<'_>, sample: &Sample) -> Checked {
    let Some(id) = sample.text else {
        return Ok(Verdict::unknown("no plain text value in the sample"));
    };
    let call = |value: &str| Filter::Call {
        func: StringFn::Contains,
        property: TEXT,
        value: value.into(),
    };
    let filter = Filter::And(vec![
        id_is(CompareOp::Eq, id),
        Filter::Or(vec![call("%"), call("_")]),
    ]);
    let what = filter.render(spelled_out());
    Ok(
        match ids(probe, ids_where(filter, 2), spelled_out()).await? {
            None => Verdict::unknown(format!("`{what}` refused")),
            Some(got) if got == [id] => Verdict::yes(format!("`{what}` matched: wildcards")),
            Some(got) if got.is_empty() => {
                Verdict::no(format!("`{what}` matched nothing: literal"))
            }
            Some(got) => Verdict::unknown(format!("`{what}` gave {got:?}")),
        },
    )
}

/// Quoted date literals only where unquoted ones fail (the jaystack
/// parser refuses an unquoted literal whose hour is 20).
pub async fn quoted_dates(probe: &Probe<'_>, sample: &Sample) -> Checked {
    let Some((id, at)) = sample.created else {
        return Ok(Verdict::unknown("no creation time in the sample"));
    };
    let Some(evening) = Utc.with_ymd_and_hms(2000, 1, 1, 20, 0, 0).single() else {
        return Ok(Verdict::unknown("no probe date"));
    };
    let filter = Filter::And(vec![
        id_is(CompareOp::Eq, id),
        compare(DATE, CompareOp::Ge, Literal::DateTime(at)),
        compare(DATE, CompareOp::Gt, Literal::DateTime(evening)),
    ]);
    let unquoted = spelled_out();
    let quoted = Dialect {
        quoted_dates: true,
        ..unquoted
    };
    let query = ids_where(filter, 2);
    if ids(probe, query.clone(), unquoted).await? == Some(vec![id]) {
        return Ok(Verdict::no(
            "unquoted date literals right, hour 20 included",
        ));
    }
    Ok(match ids(probe, query, quoted).await? {
        Some(got) if got == [id] => Verdict::yes("unquoted date literals fail; quoted ones right"),
        _ => Verdict::unknown("neither quoted nor unquoted date literals right"),
    })
}
