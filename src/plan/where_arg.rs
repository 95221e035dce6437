//! The `where` argument read into an OData filter tree: one reader for
//! lists, relations and aggregates.

use crate::error::GatewayError;
use crate::model::{Entity, EnumDef, Field, FieldType};
use crate::odata::dates::parse_date_time;
use crate::odata::{CompareOp, Filter, Literal, StringFn};
use async_graphql::{Name, Value};
use indexmap::IndexMap;

#[derive(Clone, Copy)]
pub enum Op {
    Compare(CompareOp),
    In,
    NotIn,
    IsNull,
    Call(StringFn),
}

pub const OPERATORS: &[(&str, Op)] = &[
    ("eq", Op::Compare(CompareOp::Eq)),
    ("ne", Op::Compare(CompareOp::Ne)),
    ("gt", Op::Compare(CompareOp::Gt)),
    ("gte", Op::Compare(CompareOp::Ge)),
    ("lt", Op::Compare(CompareOp::Lt)),
    ("lte", Op::Compare(CompareOp::Le)),
    ("in", Op::In),
    ("nin", Op::NotIn),
    ("contains", Op::Call(StringFn::Contains)),
    ("startsWith", Op::Call(StringFn::StartsWith)),
    ("endsWith", Op::Call(StringFn::EndsWith)),
    ("isNull", Op::IsNull),
];

/// Which operators a column type offers.
pub fn offers(ty: FieldType, op: Op) -> bool {
    let ordered = matches!(ty, FieldType::Int | FieldType::Float | FieldType::DateTime);
    let sets = matches!(
        ty,
        FieldType::Int | FieldType::Float | FieldType::String | FieldType::Enum(_)
    );
    match op {
        Op::Compare(CompareOp::Eq | CompareOp::Ne) | Op::IsNull => ty.is_comparable(),
        Op::Compare(_) => ordered,
        Op::In | Op::NotIn => sets,
        Op::Call(_) => ty == FieldType::String,
    }
}

/// Scalar or enum type name of a column's values.
pub fn value_type_name(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Int => "Int",
        FieldType::Float => "Float",
        FieldType::String => "String",
        FieldType::Boolean => "Boolean",
        FieldType::DateTime => "DateTime",
        FieldType::Json => "JSON",
        FieldType::IntList => "Int",
        FieldType::Enum(def) => def.name,
    }
}

/// Translates a `where` value. `available` says whether the upstream serves a
/// column; filtering on one it does not is a client error.
pub fn parse_where(
    entity: &Entity,
    fields: &[&'static Field],
    value: &Value,
    available: &dyn Fn(&Field) -> bool,
    max_depth: usize,
) -> Result<Filter, GatewayError> {
    Parser {
        entity,
        fields,
        available,
        max_depth,
    }
    .filter(value, 0)
}

struct Parser<'a> {
    entity: &'a Entity,
    fields: &'a [&'static Field],
    available: &'a dyn Fn(&Field) -> bool,
    max_depth: usize,
}

impl Parser<'_> {
    fn filter(&self, value: &Value, depth: usize) -> Result<Filter, GatewayError> {
        if depth > self.max_depth {
            return Err(GatewayError::bad_input(format!(
                "`where` is nested more than {} levels deep (max_filter_depth)",
                self.max_depth
            )));
        }
        let object = as_object(value, "`where`")?;
        let mut parts = Vec::new();
        for (key, v) in object {
            if v == &Value::Null {
                continue;
            }
            let part = match key.as_str() {
                "and" => Filter::And(self.list(v, depth)?),
                "or" => Filter::Or(self.list(v, depth)?),
                "not" => Filter::Not(Box::new(self.filter(v, depth + 1)?)),
                name => self.column(name, v)?,
            };
            parts.push(part);
        }
        Ok(Filter::And(parts))
    }

    fn list(&self, value: &Value, depth: usize) -> Result<Vec<Filter>, GatewayError> {
        match value {
            Value::List(items) => items.iter().map(|v| self.filter(v, depth + 1)).collect(),
            single => Ok(vec![self.filter(single, depth + 1)?]),
        }
    }

    fn column(&self, graphql_name: &str, ops: &Value) -> Result<Filter, GatewayError> {
        let field = self
            .fields
            .iter()
            .find(|f| f.ty.is_comparable() && f.graphql_name() == graphql_name)
            .ok_or_else(|| {
                GatewayError::bad_input(format!(
                    "`{graphql_name}` is not a filterable field of {}",
                    self.entity.name
                ))
            })?;
        if !(self.available)(field) {
            return Err(GatewayError::bad_input(format!(
                "`{graphql_name}` cannot be filtered: this upstream does not serve it"
            )));
        }
        let property = field.odata;
        let mut parts = Vec::new();
        for (op_name, v) in as_object(ops, graphql_name)? {
            if v == &Value::Null {
                continue;
            }
            let op = OPERATORS
                .iter()
                .find(|(n, op)| *n == op_name.as_str() && offers(field.ty, *op))
                .map(|(_, op)| *op)
                .ok_or_else(|| {
                    GatewayError::bad_input(format!(
                        "`{op_name}` is not an operator of `{graphql_name}`"
                    ))
                })?;
            let literal = |v: &Value| literal(field, v);
            parts.push(match op {
                Op::Compare(op) => Filter::Compare {
                    property,
                    op,
                    value: literal(v)?,
                },
                Op::In | Op::NotIn => {
                    let values = match v {
                        Value::List(items) => {
                            items.iter().map(literal).collect::<Result<_, _>>()?
                        }
                        single => vec![literal(single)?],
                    };
                    let set = Filter::In { property, values };
                    if matches!(op, Op::In) {
                        set
                    } else {
                        Filter::Not(Box::new(set))
                    }
                }
                Op::IsNull => Filter::IsNull {
                    property,
                    null: v == &Value::Boolean(true),
                },
                Op::Call(func) => match v {
                    Value::String(s) => Filter::Call {
                        func,
                        property,
                        value: s.clone(),
                    },
                    other => return Err(expected("a string", graphql_name, other)),
                },
            });
        }
        Ok(Filter::And(parts))
    }
}

fn as_object<'v>(value: &'v Value, what: &str) -> Result<&'v IndexMap<Name, Value>, GatewayError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(GatewayError::bad_input(format!(
            "{what} must be an object, got {other}"
        ))),
    }
}

fn expected(what: &str, field: &str, got: &Value) -> GatewayError {
    GatewayError::bad_input(format!("`{field}` expects {what}, got {got}"))
}

/// A filter value as an OData literal of the column's type.
fn literal(field: &Field, value: &Value) -> Result<Literal, GatewayError> {
    let name = field.graphql_name();
    match (field.ty, value) {
        (FieldType::Int, Value::Number(n)) => n
            .as_i64()
            .map(Literal::Int)
            .ok_or_else(|| expected("an integer", &name, value)),
        (FieldType::Float, Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Literal::Float)
            .ok_or_else(|| expected("a finite number", &name, value)),
        (FieldType::String, Value::String(s)) => Ok(Literal::String(s.clone())),
        (FieldType::Boolean, Value::Boolean(b)) => Ok(Literal::Bool(*b)),
        (FieldType::DateTime, Value::String(s)) => parse_date_time(s)
            .map(Literal::DateTime)
            .ok_or_else(|| expected("an RFC 3339 date-time", &name, value)),
        (FieldType::Enum(def), Value::Enum(item)) => enum_number(def, item.as_str(), &name),
        (FieldType::Enum(def), Value::String(item)) => enum_number(def, item, &name),
        _ => Err(expected(value_type_name(field.ty), &name, value)),
    }
}

fn enum_number(def: &EnumDef, item: &str, field: &str) -> Result<Literal, GatewayError> {
    def.number_of(item).map(Literal::Int).ok_or_else(|| {
        GatewayError::bad_input(format!(
            "`{item}` is not a {} value (field `{field}`)",
            def.name
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{entity, ApiVersion};
    use crate::odata::Dialect;
    use serde_json::json;

    fn render(entity_name: &str, where_: serde_json::Value) -> Result<String, GatewayError> {
        let e = entity(entity_name).expect("entity");
        let fields: Vec<_> = e.fields_for(ApiVersion::V1_1, false).collect();
        let value = Value::from_json(where_).expect("value");
        let f = parse_where(e, &fields, &value, &|_| true, 32)?;
        Ok(f.simplify().render(Dialect::odata4()))
    }

    #[test]
    fn operators_translate_to_odata() {
        assert_eq!(
            render(
                "Conversation",
                json!({"status": {"in": ["OPEN", "PENDING"]}, "assigneeId": {"isNull": true}})
            )
            .ok(),
            Some("(status eq 0 or status eq 2) and assignee_id eq null".into())
        );
        assert_eq!(
            render(
                "Message",
                json!({"content": {"contains": "a'b"}, "id": {"gte": 3, "lt": 9}})
            )
            .ok(),
            Some("contains(content,'a''b') and id ge 3 and id lt 9".into())
        );
        assert_eq!(
            render(
                "Conversation",
                json!({"or": [{"id": {"eq": 1}}, {"not": {"inboxId": {"nin": [2]}}}]})
            )
            .ok(),
            Some("id eq 1 or inbox_id eq 2".into())
        );
    }

    #[test]
    fn empty_in_matches_nothing_and_null_operators_are_ignored() {
        assert_eq!(
            render("Conversation", json!({"id": {"in": []}})).ok(),
            Some("false".into())
        );
        assert_eq!(
            render("Conversation", json!({"id": {"eq": null}})).ok(),
            Some("true".into())
        );
    }

    #[test]
    fn bad_values_are_user_errors() {
        let err =
            render("Conversation", json!({"createdAt": {"gt": "last week"}})).expect_err("date");
        assert_eq!(err.code(), "BAD_USER_INPUT");
        let err = render("Conversation", json!({"nope": {"eq": 1}})).expect_err("field");
        assert!(err.to_string().contains("nope"));
    }
}
