//! Property tests of `$filter` rendering with adversarial literals: an
//! independent parser of the emitted query value must give back the tree
//! that was rendered, so no literal can change the expression's shape.
//! `PROPTEST_CASES` sets the number of cases (`bench/fuzz.sh` runs many).

use super::dialect::{Dialect, DialectName};
use super::filter::{date_time_literal, CompareOp, Filter, Literal, StringFn};
use chrono::{DateTime, Utc};
use percent_encoding::percent_decode_str;
use proptest::prelude::*;

/// What the parser reads back.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Const(bool),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp(String, String, Lit),
    Null(String, bool),
    Call(String, String, String),
    In(String, Vec<Lit>),
}

#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Int(i64),
    Float(u64),
    Bool(bool),
    Str(String),
    Date(String),
}

/// The tree the rendering of `f` must parse back to.
fn expected(f: &Filter, d: Dialect) -> Expr {
    let lit = |l: &Literal| match l {
        Literal::Int(i) => Lit::Int(*i),
        Literal::Float(x) => Lit::Float(x.to_bits()),
        Literal::Bool(b) => Lit::Bool(*b),
        Literal::String(s) => Lit::Str(s.clone()),
        Literal::DateTime(t) if d.quoted_dates => Lit::Str(date_time_literal(t)),
        Literal::DateTime(t) => Lit::Date(date_time_literal(t)),
    };
    match f {
        Filter::True => Expr::Const(true),
        Filter::False => Expr::Const(false),
        Filter::And(parts) => Expr::And(parts.iter().map(|p| expected(p, d)).collect()),
        Filter::Or(parts) => Expr::Or(parts.iter().map(|p| expected(p, d)).collect()),
        Filter::Not(inner) => Expr::Not(Box::new(expected(inner, d))),
        Filter::Compare {
            property,
            op,
            value,
        } => Expr::Cmp(property.to_string(), op.as_str().into(), lit(value)),
        Filter::IsNull { property, null } => Expr::Null(property.to_string(), *null),
        Filter::Call {
            func,
            property,
            value,
        } => Expr::Call(func.as_str().into(), property.to_string(), value.clone()),
        Filter::In { property, values } => match values.as_slice() {
            [one] => Expr::Cmp(property.to_string(), "eq".into(), lit(one)),
            _ if d.in_list => Expr::In(property.to_string(), values.iter().map(lit).collect()),
            _ => Expr::Or(
                values
                    .iter()
                    .map(|v| Expr::Cmp(property.to_string(), "eq".into(), lit(v)))
                    .collect(),
            ),
        },
    }
}

/// A recursive-descent reader of the `$filter` grammar the gateway emits.
struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &str) -> Result<(), String> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(format!("expected {token:?} at {:?}", self.rest()))
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let first = self.and()?;
        let mut parts = vec![first];
        while self.eat(" or ") {
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let first = self.unary()?;
        let mut parts = vec![first];
        while self.eat(" and ") {
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("not (") {
            let inner = self.expr()?;
            self.expect(")")?;
            return Ok(Expr::Not(Box::new(inner)));
        }
        if self.eat("(") {
            let inner = self.expr()?;
            self.expect(")")?;
            return Ok(inner);
        }
        if self.eat("true") {
            return Ok(Expr::Const(true));
        }
        if self.eat("false") {
            return Ok(Expr::Const(false));
        }
        for func in ["contains", "startswith", "endswith"] {
            if self.eat(func) {
                self.expect("(")?;
                let property = self.ident()?;
                self.expect(",")?;
                let Lit::Str(value) = self.literal()? else {
                    return Err("a string function takes a string".into());
                };
                self.expect(")")?;
                return Ok(Expr::Call(func.into(), property, value));
            }
        }
        let property = self.ident()?;
        self.expect(" ")?;
        let op = self.ident()?;
        self.expect(" ")?;
        if op == "in" {
            self.expect("(")?;
            let mut values = vec![self.literal()?];
            while self.eat(",") {
                values.push(self.literal()?);
            }
            self.expect(")")?;
            return Ok(Expr::In(property, values));
        }
        if self.eat("null") {
            return match op.as_str() {
                "eq" => Ok(Expr::Null(property, true)),
                "ne" => Ok(Expr::Null(property, false)),
                _ => Err(format!("{op} null")),
            };
        }
        Ok(Expr::Cmp(property, op, self.literal()?))
    }

    fn ident(&mut self) -> Result<String, String> {
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(self.rest().len());
        if len == 0 {
            return Err(format!("expected a name at {:?}", self.rest()));
        }
        let name = self.rest()[..len].to_string();
        self.at += len;
        Ok(name)
    }

    fn literal(&mut self) -> Result<Lit, String> {
        if self.eat("'") {
            let mut value = String::new();
            loop {
                let c = self.rest().chars().next().ok_or("unterminated string")?;
                self.at += c.len_utf8();
                if c == '\'' {
                    if self.eat("'") {
                        value.push('\'');
                        continue;
                    }
                    return Ok(Lit::Str(value));
                }
                value.push(c);
            }
        }
        if self.eat("true") {
            return Ok(Lit::Bool(true));
        }
        if self.eat("false") {
            return Ok(Lit::Bool(false));
        }
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-+.:".contains(c)))
            .unwrap_or(self.rest().len());
        let token = self.rest()[..len].to_string();
        self.at += len;
        if token.contains('T') {
            Ok(Lit::Date(token.to_string()))
        } else if token.contains('.') {
            token
                .parse::<f64>()
                .map(|f| Lit::Float(f.to_bits()))
                .map_err(|e| format!("{token}: {e}"))
        } else {
            token
                .parse::<i64>()
                .map(Lit::Int)
                .map_err(|e| format!("{token}: {e}"))
        }
    }
}

fn parse(text: &str) -> Result<Expr, String> {
    let mut parser = Parser { text, at: 0 };
    let expr = parser.expr()?;
    if parser.at != text.len() {
        return Err(format!("left over: {:?}", parser.rest()));
    }
    Ok(expr)
}

fn adversarial_string() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "'",
        "''",
        "%",
        "%25",
        "+",
        "&",
        "#",
        "/",
        "\\",
        "<",
        "\"",
        " ",
        "(",
        ")",
        ",",
        ";",
        "=",
        "?",
        "$filter=",
        " or 1 eq 1",
        "\u{0}",
        "\n",
        "\t",
        "😀",
        "é",
        "a",
        "Z",
    ]);
    prop_oneof![
        prop::collection::vec(pieces, 0..12).prop_map(|p| p.concat()),
        any::<String>(),
        "[a-z]{0,4}".prop_map(|s| s.repeat(300)),
    ]
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        any::<i64>().prop_map(Literal::Int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Literal::Float),
        any::<bool>().prop_map(Literal::Bool),
        adversarial_string().prop_map(Literal::String),
        (0i64..4_102_444_800, 0u32..1_000_000_000).prop_map(|(s, n)| {
            Literal::DateTime(DateTime::<Utc>::from_timestamp(s, n).unwrap_or_default())
        }),
    ]
}

fn property() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["id", "content", "created_at", "sender_id"])
}

fn filter() -> impl Strategy<Value = Filter> {
    let ops = prop::sample::select(CompareOp::ALL.to_vec());
    let funcs = prop::sample::select(vec![
        StringFn::Contains,
        StringFn::StartsWith,
        StringFn::EndsWith,
    ]);
    let leaf = prop_oneof![
        (property(), ops, literal()).prop_map(|(property, op, value)| Filter::Compare {
            property,
            op,
            value
        }),
        (property(), any::<bool>()).prop_map(|(property, null)| Filter::IsNull { property, null }),
        (funcs, property(), adversarial_string()).prop_map(|(func, property, value)| {
            Filter::Call {
                func,
                property,
                value,
            }
        }),
        (property(), prop::collection::vec(literal(), 1..4))
            .prop_map(|(property, values)| Filter::In { property, values }),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Filter::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Filter::Or),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

/// Bytes a query value may hold as they are: unreserved characters, the
/// OData punctuation the gateway leaves readable, and `%` escapes.
fn raw_byte_allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~():,/*$;=%".contains(&b)
}

proptest! {
    #[test]
    fn rendered_filters_parse_back_to_the_same_tree(f in filter()) {
        let dialects = [
            Dialect::odata4(),
            DialectName::Liveagent.preset(),
            Dialect { in_list: true, ..Dialect::odata4() },
        ];
        for d in dialects {
            let url = f.to_url(d);
            prop_assert!(url.bytes().all(raw_byte_allowed), "raw byte in {url}");
            let decoded = percent_decode_str(&url).decode_utf8();
            prop_assert!(decoded.is_ok(), "not UTF-8 once decoded: {url}");
            let decoded = decoded.unwrap_or_default();
            let plain = f.render(d);
            prop_assert_eq!(decoded.as_ref(), plain.as_str());
            prop_assert_eq!(parse(&decoded), Ok(expected(&f, d)), "{}", decoded);
        }
    }

}
