//! The `$filter` expression tree and its rendering. Values are only ever
//! rendered as escaped literals, so no input can change the expression's shape.

use chrono::{DateTime, SecondsFormat, Utc};

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    String(String),
    DateTime(DateTime<Utc>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringFn {
    Contains,
    StartsWith,
    EndsWith,
}

/// How a set membership test is written: Live Agent documents OData 4.0, which
/// has no `in`, so `or` chains are the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InStyle {
    #[default]
    OrChain,
    In,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    True,
    False,
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Compare {
        property: &'static str,
        op: CompareOp,
        value: Literal,
    },
    Call {
        func: StringFn,
        property: &'static str,
        value: String,
    },
    In {
        property: &'static str,
        values: Vec<Literal>,
    },
}

impl Filter {
    /// Folds constants: an empty `in` is false, an empty `and` true, and so
    /// on, so that a filter known to match nothing sends no request at all.
    pub fn simplify(self) -> Filter {
        match self {
            Filter::And(parts) => {
                let mut kept = Vec::new();
                for p in parts.into_iter().map(Filter::simplify) {
                    match p {
                        Filter::True => {}
                        Filter::False => return Filter::False,
                        Filter::And(inner) => kept.extend(inner),
                        other => kept.push(other),
                    }
                }
                match kept.len() {
                    0 => Filter::True,
                    1 => kept.remove(0),
                    _ => Filter::And(kept),
                }
            }
            Filter::Or(parts) => {
                let mut kept = Vec::new();
                for p in parts.into_iter().map(Filter::simplify) {
                    match p {
                        Filter::False => {}
                        Filter::True => return Filter::True,
                        Filter::Or(inner) => kept.extend(inner),
                        other => kept.push(other),
                    }
                }
                match kept.len() {
                    0 => Filter::False,
                    1 => kept.remove(0),
                    _ => Filter::Or(kept),
                }
            }
            Filter::Not(inner) => match inner.simplify() {
                Filter::True => Filter::False,
                Filter::False => Filter::True,
                Filter::Not(x) => *x,
                other => Filter::Not(Box::new(other)),
            },
            Filter::In { values, .. } if values.is_empty() => Filter::False,
            other => other,
        }
    }

    /// Renders the expression. `True` and `False` render as OData boolean
    /// literals, but callers simplify first and skip both.
    pub fn render(&self, style: InStyle) -> String {
        let mut out = String::new();
        self.write(&mut out, style);
        out
    }

    fn write(&self, out: &mut String, style: InStyle) {
        match self {
            Filter::True => out.push_str("true"),
            Filter::False => out.push_str("false"),
            Filter::And(parts) => write_joined(out, parts, " and ", style),
            Filter::Or(parts) => write_joined(out, parts, " or ", style),
            Filter::Not(inner) => {
                out.push_str("not (");
                inner.write(out, style);
                out.push(')');
            }
            Filter::Compare {
                property,
                op,
                value,
            } => {
                out.push_str(property);
                out.push(' ');
                out.push_str(op.as_str());
                out.push(' ');
                write_literal(out, value);
            }
            Filter::Call {
                func,
                property,
                value,
            } => {
                out.push_str(func.as_str());
                out.push('(');
                out.push_str(property);
                out.push(',');
                write_literal(out, &Literal::String(value.clone()));
                out.push(')');
            }
            Filter::In { property, values } => match (style, values.as_slice()) {
                (_, [single]) => Filter::Compare {
                    property,
                    op: CompareOp::Eq,
                    value: single.clone(),
                }
                .write(out, style),
                (InStyle::In, _) => {
                    out.push_str(property);
                    out.push_str(" in (");
                    for (i, v) in values.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        write_literal(out, v);
                    }
                    out.push(')');
                }
                (InStyle::OrChain, _) => {
                    let chain: Vec<Filter> = values
                        .iter()
                        .map(|v| Filter::Compare {
                            property,
                            op: CompareOp::Eq,
                            value: v.clone(),
                        })
                        .collect();
                    Filter::Or(chain).write(out, style)
                }
            },
        }
    }
}

fn write_joined(out: &mut String, parts: &[Filter], sep: &str, style: InStyle) {
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        // Parenthesise compound children so precedence never depends on order.
        let compound = matches!(p, Filter::And(_) | Filter::Or(_))
            || matches!(p, Filter::In { values, .. } if values.len() > 1 && style == InStyle::OrChain);
        if compound {
            out.push('(');
            p.write(out, style);
            out.push(')');
        } else {
            p.write(out, style);
        }
    }
}

pub fn write_literal(out: &mut String, value: &Literal) {
    match value {
        Literal::Null => out.push_str("null"),
        Literal::Int(i) => out.push_str(&i.to_string()),
        Literal::Float(f) => {
            // OData needs a decimal point or exponent to read a Double.
            let s = f.to_string();
            out.push_str(&s);
            if !s.contains(['.', 'e', 'E']) {
                out.push_str(".0");
            }
        }
        Literal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Literal::String(s) => {
            out.push('\'');
            out.push_str(&s.replace('\'', "''"));
            out.push('\'');
        }
        Literal::DateTime(d) => out.push_str(&d.to_rfc3339_opts(SecondsFormat::Millis, true)),
    }
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

impl StringFn {
    pub fn as_str(self) -> &'static str {
        match self {
            StringFn::Contains => "contains",
            StringFn::StartsWith => "startswith",
            StringFn::EndsWith => "endswith",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(property: &'static str, op: CompareOp, value: Literal) -> Filter {
        Filter::Compare {
            property,
            op,
            value,
        }
    }

    #[test]
    fn string_literals_double_their_quotes() {
        let f = cmp("content", CompareOp::Eq, Literal::String("it's".into()));
        assert_eq!(f.render(InStyle::OrChain), "content eq 'it''s'");
    }

    #[test]
    fn a_quote_cannot_close_the_literal_early() {
        let f = cmp(
            "title",
            CompareOp::Eq,
            Literal::String("x' or 1 eq 1 or 'a".into()),
        );
        assert_eq!(
            f.render(InStyle::OrChain),
            "title eq 'x'' or 1 eq 1 or ''a'"
        );
    }

    #[test]
    fn in_sets_render_as_or_chains_or_in_lists() {
        let f = Filter::In {
            property: "id",
            values: vec![Literal::Int(1), Literal::Int(2)],
        };
        assert_eq!(f.render(InStyle::OrChain), "id eq 1 or id eq 2");
        assert_eq!(f.render(InStyle::In), "id in (1,2)");
        let and = Filter::And(vec![f, cmp("status", CompareOp::Eq, Literal::Int(0))]);
        assert_eq!(
            and.render(InStyle::OrChain),
            "(id eq 1 or id eq 2) and status eq 0"
        );
    }

    #[test]
    fn empty_sets_fold_to_false_and_send_nothing() {
        let f = Filter::And(vec![
            cmp("id", CompareOp::Gt, Literal::Int(1)),
            Filter::In {
                property: "id",
                values: vec![],
            },
        ]);
        assert_eq!(f.simplify(), Filter::False);
        let nin = Filter::Not(Box::new(Filter::In {
            property: "id",
            values: vec![],
        }));
        assert_eq!(nin.simplify(), Filter::True);
    }

    #[test]
    fn nested_boolean_logic_keeps_its_structure() {
        let f = Filter::Or(vec![
            Filter::And(vec![
                cmp("a", CompareOp::Eq, Literal::Int(1)),
                cmp("b", CompareOp::Eq, Literal::Null),
            ]),
            Filter::Not(Box::new(cmp("c", CompareOp::Le, Literal::Float(2.0)))),
        ]);
        assert_eq!(
            f.simplify().render(InStyle::OrChain),
            "(a eq 1 and b eq null) or not (c le 2.0)"
        );
    }

    #[test]
    fn dates_are_unquoted_utc_with_milliseconds() {
        let d = DateTime::parse_from_rfc3339("2021-11-23T01:00:00+01:00")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        let f = cmp("created_at", CompareOp::Le, Literal::DateTime(d));
        assert_eq!(
            f.render(InStyle::OrChain),
            "created_at le 2021-11-23T00:00:00.000Z"
        );
    }

    #[test]
    fn string_functions_use_lowercase_odata_names() {
        let f = Filter::Call {
            func: StringFn::StartsWith,
            property: "name",
            value: "O'Brien".into(),
        };
        assert_eq!(f.render(InStyle::OrChain), "startswith(name,'O''Brien')");
    }
}
