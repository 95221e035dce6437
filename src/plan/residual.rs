//! A filter split against the upstream's capabilities, in the manner of
//! DataFusion's filter push-down: the part the upstream evaluates exactly,
//! and a residual the gateway evaluates on the rows it reads. The upstream
//! part may be wider than the filter (it only cuts the rows read); the
//! upstream part and the residual together are exactly the filter, under
//! the contract's SQL null semantics.

use crate::odata::{CompareOp, Dialect, Filter, Literal, StringFn};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashSet;

/// What goes upstream and what stays in the gateway. `residual` is
/// `Filter::True` when the upstream answers exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub upstream: Filter,
    pub residual: Filter,
}

impl Split {
    /// A filter the upstream evaluates as it is (gateway-made filters on
    /// keys, or a dialect that needs nothing of the gateway).
    pub fn exact(filter: Filter) -> Split {
        Split {
            upstream: filter,
            residual: Filter::True,
        }
    }

    pub fn has_residual(&self) -> bool {
        self.residual != Filter::True
    }

    /// Matches no row at all: nothing needs to be read.
    pub fn is_false(&self) -> bool {
        self.upstream == Filter::False || self.residual == Filter::False
    }

    pub fn is_true(&self) -> bool {
        self.upstream == Filter::True && self.residual == Filter::True
    }

    /// The columns the residual reads, to add to `$select`.
    pub fn residual_columns(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        columns(&self.residual, &mut out);
        out
    }
}

/// Splits a simplified filter for `dialect`; `integers`: the properties
/// the upstream declares as integers (from `$metadata`), where a number
/// with a fraction is written as the integer bound it means. Within a
/// top-level `and`, only the inexact parts stay residual.
pub fn split(filter: &Filter, dialect: Dialect, integers: Option<&HashSet<String>>) -> Split {
    let normal = negation_normal_form(filter, false).simplify();
    let parts = match normal {
        Filter::And(parts) => parts,
        other => vec![other],
    };
    let mut upstream = Vec::new();
    let mut residual = Vec::new();
    let target = Target { dialect, integers };
    for part in parts {
        let (pushed, exact) = push(&part, target);
        upstream.push(pushed);
        if !exact {
            residual.push(part);
        }
    }
    Split {
        upstream: Filter::And(upstream).simplify(),
        residual: Filter::And(residual).simplify(),
    }
}

/// `not` pushed down to the leaves by De Morgan, which holds in SQL's
/// three-valued logic; a negated comparison becomes its complement (both
/// unknown on a null), a negated set test a chain of `ne`. Only a negated
/// string function stays under `not`.
fn negation_normal_form(filter: &Filter, negate: bool) -> Filter {
    match (filter, negate) {
        (Filter::True, false) | (Filter::False, true) => Filter::True,
        (Filter::True, true) | (Filter::False, false) => Filter::False,
        (Filter::And(parts), false) | (Filter::Or(parts), true) => Filter::And(
            parts
                .iter()
                .map(|p| negation_normal_form(p, negate))
                .collect(),
        ),
        (Filter::Or(parts), false) | (Filter::And(parts), true) => Filter::Or(
            parts
                .iter()
                .map(|p| negation_normal_form(p, negate))
                .collect(),
        ),
        (Filter::Not(inner), _) => negation_normal_form(inner, !negate),
        (
            Filter::Compare {
                property,
                op,
                value,
            },
            true,
        ) => Filter::Compare {
            property,
            op: op.complement(),
            value: value.clone(),
        },
        (Filter::IsNull { property, null }, true) => Filter::IsNull {
            property,
            null: !null,
        },
        (Filter::In { property, values }, true) => Filter::And(
            values
                .iter()
                .map(|v| Filter::Compare {
                    property,
                    op: CompareOp::Ne,
                    value: v.clone(),
                })
                .collect(),
        ),
        (call @ Filter::Call { .. }, true) => Filter::Not(Box::new(call.clone())),
        (leaf, false) => leaf.clone(),
    }
}

/// What the upstream evaluates: its dialect, and which properties it
/// declares as integers.
#[derive(Clone, Copy)]
struct Target<'a> {
    dialect: Dialect,
    integers: Option<&'a HashSet<String>>,
}

impl Target<'_> {
    fn integer(&self, property: &str) -> bool {
        self.integers.is_some_and(|i| i.contains(property))
    }
}

/// The upstream condition for a filter in negation normal form, and
/// whether it is exact (else it is wider and the filter stays residual).
fn push(filter: &Filter, target: Target<'_>) -> (Filter, bool) {
    let d = target.dialect;
    match filter {
        Filter::And(parts) => {
            let pushed: Vec<(Filter, bool)> = parts.iter().map(|p| push(p, target)).collect();
            let exact = pushed.iter().all(|(_, e)| *e);
            (
                Filter::And(pushed.into_iter().map(|(f, _)| f).collect()),
                exact,
            )
        }
        Filter::Or(parts) => {
            let pushed: Vec<(Filter, bool)> = parts.iter().map(|p| push(p, target)).collect();
            let exact = pushed.iter().all(|(_, e)| *e);
            (
                Filter::Or(pushed.into_iter().map(|(f, _)| f).collect()),
                exact,
            )
        }
        Filter::Compare {
            property,
            op,
            value: Literal::Float(f),
        } if target.integer(property) => match integer_bound(property, *op, *f) {
            Some(exact) => push(&exact, target),
            // `ne` a number no integer equals: every non-null row.
            None => push(
                &Filter::IsNull {
                    property,
                    null: false,
                },
                target,
            ),
        },
        Filter::In { property, values }
            if target.integer(property)
                && values.iter().any(|v| matches!(v, Literal::Float(_))) =>
        {
            (integer_set(property, values), true)
        }
        Filter::Compare {
            property,
            op: CompareOp::Ne,
            ..
        } if d.ne_matches_null => guarded(property, filter.clone(), d),
        Filter::IsNull { .. } if !d.null_literal => (Filter::True, false),
        Filter::Compare {
            property,
            op,
            value: Literal::DateTime(at),
        } if at.timestamp_subsec_nanos() % 1_000_000 != 0 => {
            (millisecond_bound(property, *op, *at), false)
        }
        Filter::Call {
            func,
            property,
            value,
        } if d.pattern_wildcards && has_pattern_chars(value) => {
            (wider_pattern(*func, property, value), false)
        }
        Filter::Not(inner) => match inner.as_ref() {
            Filter::Call { value, .. } if d.pattern_wildcards && has_pattern_chars(value) => {
                (Filter::True, false)
            }
            Filter::Call { property, .. } if d.not && d.ne_matches_null => {
                guarded(property, filter.clone(), d)
            }
            _ if d.not => (filter.clone(), true),
            _ => (Filter::True, false),
        },
        leaf => (leaf.clone(), true),
    }
}

/// A comparison of an integer column with a number, as the comparison
/// with an integer it means: `> 72.25` is `>= 73`, `<= 72.25` is `<= 72`,
/// `= 72.25` matches no row. A filter in negation normal form has no `not`
/// above its comparisons, so "no row" may stand for "unknown on a null".
/// `None` for `ne` a number with a fraction (every non-null row).
fn integer_bound(property: &'static str, op: CompareOp, f: f64) -> Option<Filter> {
    let int = |op, v: f64| Filter::Compare {
        property,
        op,
        // Saturates beyond the integers: the bound still holds.
        value: Literal::Int(v as i64),
    };
    if f.fract() == 0.0 {
        return Some(int(op, f));
    }
    Some(match op {
        CompareOp::Gt | CompareOp::Ge => int(CompareOp::Ge, f.ceil()),
        CompareOp::Lt | CompareOp::Le => int(CompareOp::Le, f.floor()),
        CompareOp::Eq => Filter::False,
        CompareOp::Ne => return None,
    })
}

/// A set of numbers tested on an integer column: the whole ones, as
/// integers; the others can equal no value there.
fn integer_set(property: &'static str, values: &[Literal]) -> Filter {
    let values = values
        .iter()
        .filter_map(|v| match v {
            Literal::Float(f) if f.fract() == 0.0 => Some(Literal::Int(*f as i64)),
            Literal::Float(_) => None,
            other => Some(other.clone()),
        })
        .collect();
    Filter::In { property, values }.simplify()
}

/// Servers keep milliseconds and cut a literal's further digits, which
/// would let a row 1 µs before a `ge` bound in: the upstream gets the
/// bound widened to whole milliseconds, the gateway checks the exact one.
fn millisecond_bound(property: &'static str, op: CompareOp, at: DateTime<Utc>) -> Filter {
    let floor = at - Duration::nanoseconds(i64::from(at.timestamp_subsec_nanos() % 1_000_000));
    let ceil = floor + Duration::milliseconds(1);
    let bound = |op, at| Filter::Compare {
        property,
        op,
        value: Literal::DateTime(at),
    };
    match op {
        CompareOp::Gt | CompareOp::Ge => bound(CompareOp::Ge, floor),
        CompareOp::Lt | CompareOp::Le => bound(CompareOp::Le, ceil),
        CompareOp::Eq => Filter::And(vec![
            bound(CompareOp::Ge, floor),
            bound(CompareOp::Le, ceil),
        ]),
        CompareOp::Ne => Filter::True,
    }
}

/// OData's rule lets `ne` and `not` match nulls; the contract's does not.
/// With a null literal the guard makes it exact; without, the condition
/// is wider and the gateway drops the nulls.
fn guarded(property: &'static str, filter: Filter, d: Dialect) -> (Filter, bool) {
    if d.null_literal {
        let guard = Filter::IsNull {
            property,
            null: false,
        };
        (Filter::And(vec![guard, filter]), true)
    } else {
        (filter, false)
    }
}

const PATTERN_CHARS: [char; 3] = ['%', '_', '\\'];

fn has_pattern_chars(value: &str) -> bool {
    value.contains(PATTERN_CHARS)
}

/// A condition the value's plain parts imply: the prefix for
/// `startsWith`, the suffix for `endsWith`, else the longest plain run.
fn wider_pattern(func: StringFn, property: &'static str, value: &str) -> Filter {
    let prefix = value.split(PATTERN_CHARS).next().unwrap_or("");
    let suffix = value.rsplit(PATTERN_CHARS).next().unwrap_or("");
    let longest = value
        .split(PATTERN_CHARS)
        .max_by_key(|s| s.len())
        .unwrap_or("");
    let (func, part) = match func {
        StringFn::StartsWith if !prefix.is_empty() => (StringFn::StartsWith, prefix),
        StringFn::EndsWith if !suffix.is_empty() => (StringFn::EndsWith, suffix),
        _ => (StringFn::Contains, longest),
    };
    if part.is_empty() {
        return Filter::True;
    }
    Filter::Call {
        func,
        property,
        value: part.to_string(),
    }
}

fn columns(filter: &Filter, out: &mut Vec<&'static str>) {
    let mut add = |p: &'static str| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    match filter {
        Filter::True | Filter::False => {}
        Filter::And(parts) | Filter::Or(parts) => {
            for p in parts {
                columns(p, out);
            }
        }
        Filter::Not(inner) => columns(inner, out),
        Filter::Compare { property, .. }
        | Filter::IsNull { property, .. }
        | Filter::Call { property, .. }
        | Filter::In { property, .. } => add(property),
    }
}

/// For messages: the predicate as a reader would write it.
pub fn describe(filter: &Filter) -> String {
    filter.render(Dialect::odata4())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::eval::matches;
    use crate::odata::random::Lcg;
    use crate::odata::{DialectName, Row};
    use serde_json::{json, Value as Json};

    fn liveagent() -> Dialect {
        DialectName::Liveagent.preset()
    }

    fn cmp(property: &'static str, op: CompareOp, v: i64) -> Filter {
        Filter::Compare {
            property,
            op,
            value: Literal::Int(v),
        }
    }

    fn call(func: StringFn, value: &str) -> Filter {
        Filter::Call {
            func,
            property: "s",
            value: value.into(),
        }
    }

    fn not(f: Filter) -> Filter {
        Filter::Not(Box::new(f))
    }

    fn text(split: &Split) -> (String, String) {
        (describe(&split.upstream), describe(&split.residual))
    }

    #[test]
    fn negations_become_complements_the_minimal_dialect_evaluates() {
        let nin = not(Filter::In {
            property: "a",
            values: vec![Literal::Int(1), Literal::Int(2)],
        });
        let f = Filter::And(vec![not(cmp("a", CompareOp::Ge, 3)), nin]);
        assert_eq!(
            text(&split(&f, liveagent(), None)),
            ("a lt 3 and a ne 1 and a ne 2".into(), "true".into())
        );
    }

    #[test]
    fn null_tests_and_wildcards_stay_in_the_gateway_with_a_wider_upstream_part() {
        let null = Filter::IsNull {
            property: "a",
            null: true,
        };
        let f = Filter::And(vec![
            null.clone(),
            call(StringFn::StartsWith, "ab_c"),
            cmp("b", CompareOp::Eq, 1),
        ]);
        assert_eq!(
            text(&split(&f, liveagent(), None)),
            (
                "startswith(s,'ab') and b eq 1".into(),
                "a eq null and startswith(s,'ab_c')".into()
            )
        );
        let either = Filter::Or(vec![null, cmp("b", CompareOp::Eq, 1)]);
        assert_eq!(
            text(&split(&either, liveagent(), None)),
            ("true".into(), "a eq null or b eq 1".into())
        );
        assert_eq!(
            split(&either, Dialect::odata4(), None).residual,
            Filter::True
        );
    }

    #[test]
    fn odata_null_rule_gets_guards() {
        let f = Filter::And(vec![
            cmp("a", CompareOp::Ne, 5),
            not(call(StringFn::Contains, "x")),
        ]);
        assert_eq!(
            text(&split(&f, Dialect::odata4(), None)),
            (
                "a ne null and a ne 5 and s ne null and not (contains(s,'x'))".into(),
                "true".into()
            )
        );
    }

    #[test]
    fn sub_millisecond_bounds_go_upstream_widened_and_stay_exact_here() {
        let at = crate::odata::dates::parse_date_time("2026-04-30T15:23:23.039001Z")
            .map(Literal::DateTime)
            .unwrap_or(Literal::Int(0));
        let bound = |op| Filter::Compare {
            property: "t",
            op,
            value: at.clone(),
        };
        let ge = split(&bound(CompareOp::Ge), Dialect::odata4(), None);
        assert_eq!(
            text(&ge),
            (
                "t ge 2026-04-30T15:23:23.039Z".into(),
                "t ge 2026-04-30T15:23:23.039001Z".into()
            )
        );
        let lt = split(&bound(CompareOp::Lt), Dialect::odata4(), None);
        assert_eq!(describe(&lt.upstream), "t le 2026-04-30T15:23:23.040Z");
        let whole = crate::odata::dates::parse_date_time("2026-04-30T15:23:23.039Z")
            .map(Literal::DateTime)
            .unwrap_or(Literal::Int(0));
        let exact = Filter::Compare {
            property: "t",
            op: CompareOp::Ge,
            value: whole,
        };
        assert_eq!(
            split(&exact, Dialect::odata4(), None).residual,
            Filter::True
        );
    }

    #[test]
    fn numbers_with_a_fraction_become_the_integer_bounds_they_mean() {
        let integers: HashSet<String> = ["a".to_string()].into();
        let float = |op, f| Filter::Compare {
            property: "a",
            op,
            value: Literal::Float(f),
        };
        let upstream = |f: Filter, d: Dialect| {
            let s = split(&f, d, Some(&integers));
            assert_eq!(s.residual, Filter::True, "{}", describe(&f));
            describe(&s.upstream)
        };
        let la = liveagent();
        assert_eq!(upstream(float(CompareOp::Gt, 72.25), la), "a ge 73");
        assert_eq!(upstream(float(CompareOp::Le, 72.25), la), "a le 72");
        assert_eq!(upstream(float(CompareOp::Ge, 72.0), la), "a ge 72");
        assert_eq!(upstream(float(CompareOp::Eq, 72.25), la), "false");
        assert_eq!(
            upstream(float(CompareOp::Ne, 72.25), Dialect::odata4()),
            "a ne null"
        );
        let set = Filter::In {
            property: "a",
            values: vec![Literal::Float(1.5), Literal::Float(2.0)],
        };
        assert_eq!(upstream(set, la), "a eq 2");
        // Without a null literal, `ne` a fraction drops the nulls here.
        let ne = split(&float(CompareOp::Ne, 1.5), la, Some(&integers));
        assert_eq!(describe(&ne.residual), "a ne 1.5");
        // A column the upstream does not declare an integer keeps its literal.
        let plain = split(&float(CompareOp::Gt, 72.25), la, None);
        assert_eq!(describe(&plain.upstream), "a gt 72.25");
    }

    #[test]
    fn integer_bounds_select_the_same_rows() {
        let integers: HashSet<String> = ["a".to_string()].into();
        let mut rng = Lcg(11);
        let rows = rows();
        let ops = CompareOp::ALL;
        for _ in 0..2000 {
            // Numbers with and without fractions on the integer column `a`.
            let leaf = |rng: &mut Lcg| Filter::Compare {
                property: "a",
                op: ops[rng.below(6) as usize],
                value: Literal::Float(rng.below(9) as f64 / 2.0 - 0.5),
            };
            let filter = match rng.below(3) {
                0 => leaf(&mut rng),
                1 => not(Filter::Or(vec![leaf(&mut rng), leaf(&mut rng)])),
                _ => Filter::And(vec![leaf(&mut rng), not(leaf(&mut rng))]),
            }
            .simplify();
            for d in [liveagent(), Dialect::odata4()] {
                let s = split(&filter, d, Some(&integers));
                assert!(
                    !describe(&s.upstream).contains(".5"),
                    "{}",
                    describe(&s.upstream)
                );
                for row in &rows {
                    let got = if d.ne_matches_null {
                        odata_matches(&s.upstream, row) && matches(&s.residual, row)
                    } else {
                        matches(&s.upstream, row) && matches(&s.residual, row)
                    };
                    assert_eq!(
                        matches(&filter, row),
                        got,
                        "{} on {row:?}",
                        describe(&filter)
                    );
                }
            }
        }
    }

    /// OData's rule, as a complete server evaluates an upstream filter:
    /// two-valued, `ne` true on null, everything else false on null.
    fn odata_matches(filter: &Filter, row: &Row) -> bool {
        let null = |p: &str| row.get(p).is_none_or(Json::is_null);
        match filter {
            Filter::True => true,
            Filter::False => false,
            Filter::And(parts) => parts.iter().all(|p| odata_matches(p, row)),
            Filter::Or(parts) => parts.iter().any(|p| odata_matches(p, row)),
            Filter::Not(inner) => !odata_matches(inner, row),
            Filter::IsNull { property, null: n } => null(property) == *n,
            Filter::Compare {
                property,
                op: CompareOp::Ne,
                ..
            } if null(property) => true,
            leaf => matches(leaf, row),
        }
    }

    fn random_filter(rng: &mut Lcg, depth: u32) -> Filter {
        let ops = CompareOp::ALL;
        let kind = if depth == 0 {
            4 + rng.below(5)
        } else {
            rng.below(9)
        };
        match kind {
            0 => Filter::And(
                (0..2 + rng.below(2))
                    .map(|_| random_filter(rng, depth - 1))
                    .collect(),
            ),
            1 => Filter::Or(
                (0..2 + rng.below(2))
                    .map(|_| random_filter(rng, depth - 1))
                    .collect(),
            ),
            2 | 3 => not(random_filter(rng, depth - 1)),
            4 => cmp("a", ops[rng.below(6) as usize], rng.below(4) as i64),
            5 => Filter::IsNull {
                property: if rng.below(2) == 0 { "a" } else { "s" },
                null: rng.below(2) == 0,
            },
            6 => Filter::In {
                property: "a",
                values: (0..rng.below(3) + 1)
                    .map(|_| Literal::Int(rng.below(4) as i64))
                    .collect(),
            },
            _ => {
                let funcs = [StringFn::Contains, StringFn::StartsWith, StringFn::EndsWith];
                let values = ["a", "%", "a_", "\\b", "ab", "b%a"];
                call(funcs[rng.below(3) as usize], values[rng.below(6) as usize])
            }
        }
    }

    fn rows() -> Vec<Row> {
        let mut out = Vec::new();
        for a in [json!(null), json!(0), json!(1), json!(2), json!(3)] {
            for s in [
                json!(null),
                json!("ab"),
                json!("a%b"),
                json!("xa_"),
                json!("\\b"),
                json!("ba"),
            ] {
                if let Json::Object(row) = json!({"a": a, "s": s}) {
                    out.push(row);
                }
            }
        }
        out
    }

    #[test]
    fn upstream_part_and_residual_together_are_exactly_the_filter() {
        let mut rng = Lcg(7);
        let rows = rows();
        for _ in 0..3000 {
            let filter = random_filter(&mut rng, 3).simplify();
            let pg = split(&filter, liveagent(), None);
            let full = split(&filter, Dialect::odata4(), None);
            assert_eq!(full.residual, Filter::True, "{}", describe(&filter));
            for row in &rows {
                let want = matches(&filter, row);
                // The minimal dialect evaluates what it is sent as SQL does.
                let got = matches(&pg.upstream, row) && matches(&pg.residual, row);
                assert_eq!(want, got, "liveagent: {} on {row:?}", describe(&filter));
                assert_eq!(
                    want,
                    odata_matches(&full.upstream, row),
                    "odata4: {} on {row:?}",
                    describe(&filter)
                );
            }
        }
    }
}
