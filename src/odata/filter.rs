//! The `$filter` expression tree and its rendering. Values are only ever
//! rendered as escaped literals, so no input can change the expression's shape.

use super::dialect::Dialect;
use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
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

/// A filter under the contract's SQL null semantics: a comparison, set
/// test or string function on a null field is unknown, and a row matches
/// only when the whole expression is true. How a tree is written for a
/// given upstream (null guards, what stays in the gateway) is the
/// planner's business; this type only renders what it is given.
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
    /// `isNull: true` (`null` set) or `isNull: false`.
    IsNull {
        property: &'static str,
        null: bool,
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

    /// The expression as text, for logs, explain output and tests. `True`
    /// and `False` render as OData boolean literals, but callers simplify
    /// first and skip both.
    pub fn render(&self, dialect: Dialect) -> String {
        let mut out = String::new();
        self.write(&mut Writer::plain(&mut out, dialect));
        out
    }

    /// The expression percent-encoded for a query string: string literal
    /// contents keep only unreserved characters (the jaystack parser
    /// refuses a raw `/`, `<` or `"` inside a literal).
    pub fn to_url(&self, dialect: Dialect) -> String {
        let mut out = String::new();
        self.write(&mut Writer::url(&mut out, dialect));
        out
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) {
        match self {
            Filter::True => w.text("true"),
            Filter::False => w.text("false"),
            Filter::And(parts) => write_joined(w, parts, " and "),
            Filter::Or(parts) => write_joined(w, parts, " or "),
            Filter::Not(inner) => {
                w.text("not (");
                inner.write(w);
                w.text(")");
            }
            Filter::Compare {
                property,
                op,
                value,
            } => {
                w.text(property);
                w.text(" ");
                w.text(op.as_str());
                w.text(" ");
                w.literal(value);
            }
            Filter::IsNull { property, null } => {
                w.text(property);
                w.text(if *null { " eq null" } else { " ne null" });
            }
            Filter::Call {
                func,
                property,
                value,
            } => {
                w.text(func.as_str());
                w.text("(");
                w.text(property);
                w.text(",");
                w.string(value);
                w.text(")");
            }
            Filter::In { property, values } => match values.as_slice() {
                [single] => Filter::Compare {
                    property,
                    op: CompareOp::Eq,
                    value: single.clone(),
                }
                .write(w),
                _ if w.dialect.in_list => {
                    w.text(property);
                    w.text(" in (");
                    for (i, v) in values.iter().enumerate() {
                        if i > 0 {
                            w.text(",");
                        }
                        w.literal(v);
                    }
                    w.text(")");
                }
                _ => {
                    let chain: Vec<Filter> = values
                        .iter()
                        .map(|v| Filter::Compare {
                            property,
                            op: CompareOp::Eq,
                            value: v.clone(),
                        })
                        .collect();
                    Filter::Or(chain).write(w)
                }
            },
        }
    }
}

fn write_joined(w: &mut Writer<'_>, parts: &[Filter], sep: &str) {
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            w.text(sep);
        }
        // Parenthesise compound children so precedence never depends on order.
        let compound = matches!(p, Filter::And(_) | Filter::Or(_))
            || matches!(p, Filter::In { values, .. } if values.len() > 1 && !w.dialect.in_list);
        if compound {
            w.text("(");
            p.write(w);
            w.text(")");
        } else {
            p.write(w);
        }
    }
}

/// Characters a query value keeps as they are: unreserved ones plus the
/// OData punctuation servers read literally (`$expand=x($select=a;$top=1)`).
/// A value ends only at `&` or `#`; those, `+ % ? "` and every non-ASCII
/// byte are percent-encoded, and so is `'`, as HTTP clients do anyway.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b':')
    .remove(b'/')
    .remove(b'*')
    .remove(b'$')
    .remove(b';')
    .remove(b'=');

/// A query parameter value, percent-encoded (spaces as `%20`, `+` as `%2B`).
pub fn encode(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// Inside a string literal only the unreserved characters stay as they are.
const LITERAL_CONTENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Writes expression text either as it reads or percent-encoded for a URL.
pub(super) struct Writer<'a> {
    out: &'a mut String,
    url: bool,
    pub dialect: Dialect,
}

impl<'a> Writer<'a> {
    pub fn plain(out: &'a mut String, dialect: Dialect) -> Self {
        Writer {
            out,
            url: false,
            dialect,
        }
    }

    pub fn url(out: &'a mut String, dialect: Dialect) -> Self {
        Writer {
            out,
            url: true,
            dialect,
        }
    }

    /// Syntax: names, operators, punctuation, numbers.
    pub fn text(&mut self, text: &str) {
        if self.url {
            self.out.extend(utf8_percent_encode(text, QUERY_VALUE));
        } else {
            self.out.push_str(text);
        }
    }

    /// A quoted string literal, quotes doubled.
    fn string(&mut self, value: &str) {
        let doubled = value.replace('\'', "''");
        self.text("'");
        if self.url {
            self.out
                .extend(utf8_percent_encode(&doubled, LITERAL_CONTENT));
        } else {
            self.out.push_str(&doubled);
        }
        self.text("'");
    }

    fn literal(&mut self, value: &Literal) {
        match value {
            Literal::Int(i) => self.text(&i.to_string()),
            Literal::Float(f) => {
                // OData needs a decimal point or exponent to read a Double.
                let s = f.to_string();
                self.text(&s);
                if !s.contains(['.', 'e', 'E']) {
                    self.text(".0");
                }
            }
            Literal::Bool(b) => self.text(if *b { "true" } else { "false" }),
            Literal::String(s) => self.string(s),
            Literal::DateTime(d) => {
                let text = date_time_literal(d);
                if self.dialect.quoted_dates {
                    self.string(&text);
                } else {
                    self.text(&text);
                }
            }
        }
    }
}

/// UTC with milliseconds, or with every sub-millisecond digit the value
/// has: a bound is never rounded into matching a row it should not.
pub fn date_time_literal(d: &DateTime<Utc>) -> String {
    let nanos = d.nanosecond() % 1_000_000_000;
    let format = if nanos.is_multiple_of(1_000_000) {
        SecondsFormat::Millis
    } else if nanos.is_multiple_of(1_000) {
        SecondsFormat::Micros
    } else {
        SecondsFormat::Nanos
    };
    d.to_rfc3339_opts(format, true)
}

impl CompareOp {
    pub const ALL: [CompareOp; 6] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

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

    /// The comparison true exactly where this one is false, on non-null
    /// values (on a null both are unknown).
    pub fn complement(self) -> CompareOp {
        match self {
            CompareOp::Eq => CompareOp::Ne,
            CompareOp::Ne => CompareOp::Eq,
            CompareOp::Gt => CompareOp::Le,
            CompareOp::Ge => CompareOp::Lt,
            CompareOp::Lt => CompareOp::Ge,
            CompareOp::Le => CompareOp::Gt,
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
        assert_eq!(f.render(Dialect::odata4()), "content eq 'it''s'");
    }

    #[test]
    fn a_quote_cannot_close_the_literal_early() {
        let f = cmp(
            "title",
            CompareOp::Eq,
            Literal::String("x' or 1 eq 1 or 'a".into()),
        );
        assert_eq!(
            f.render(Dialect::odata4()),
            "title eq 'x'' or 1 eq 1 or ''a'"
        );
    }

    #[test]
    fn in_sets_render_as_or_chains_or_in_lists() {
        let f = Filter::In {
            property: "id",
            values: vec![Literal::Int(1), Literal::Int(2)],
        };
        assert_eq!(f.render(Dialect::odata4()), "id eq 1 or id eq 2");
        let in_list = Dialect {
            in_list: true,
            ..Dialect::odata4()
        };
        assert_eq!(f.render(in_list), "id in (1,2)");
        let and = Filter::And(vec![f, cmp("status", CompareOp::Eq, Literal::Int(0))]);
        assert_eq!(
            and.render(Dialect::odata4()),
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
                Filter::IsNull {
                    property: "b",
                    null: true,
                },
            ]),
            Filter::Not(Box::new(cmp("c", CompareOp::Le, Literal::Float(2.0)))),
        ]);
        assert_eq!(
            f.simplify().render(Dialect::odata4()),
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
            f.render(Dialect::odata4()),
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
        assert_eq!(f.render(Dialect::odata4()), "startswith(name,'O''Brien')");
    }

    #[test]
    fn url_form_encodes_every_reserved_character_inside_literals() {
        let f = cmp(
            "content",
            CompareOp::Eq,
            Literal::String("a/b<c\"d'e %_\\+&#é".into()),
        );
        assert_eq!(
            f.to_url(Dialect::odata4()),
            "content%20eq%20%27a%2Fb%3Cc%22d%27%27e%20%25_%5C%2B%26%23%C3%A9%27"
        );
    }

    #[test]
    fn dates_keep_sub_millisecond_digits_and_quote_where_the_dialect_needs() {
        let d = DateTime::parse_from_rfc3339("2024-03-01T20:00:00.000123Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        let f = cmp("created_at", CompareOp::Ge, Literal::DateTime(d));
        assert_eq!(
            f.render(Dialect::odata4()),
            "created_at ge 2024-03-01T20:00:00.000123Z"
        );
        let liveagent = crate::odata::DialectName::Liveagent.preset();
        assert_eq!(
            f.render(liveagent),
            "created_at ge '2024-03-01T20:00:00.000123Z'"
        );
        assert_eq!(
            f.to_url(liveagent),
            "created_at%20ge%20%272024-03-01T20%3A00%3A00.000123Z%27"
        );
    }
}
