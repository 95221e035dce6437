//! GraphQL's `Int` is a signed 32-bit integer; the library's validation
//! takes any 64-bit one. This check, run before execution, refuses an
//! `Int` input outside the range — an argument literal, a value inside an
//! input object or a list, or a variable — as BAD_USER_INPUT, as other
//! GraphQL servers and clients have it. It follows the schema's types, so
//! a large number where a `Float` or `JSON` is expected stays valid.

use crate::error::ErrorCode;
use async_graphql::parser::types::{
    BaseType, ExecutableDocument, OperationType, Selection, SelectionSet, Type,
};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{ErrorExtensions, Pos, ServerError, Value, Variables};

/// Fragments nest at most this deep here (cycles never pass validation).
const MAX_DEPTH: usize = 32;

/// The first `Int` input of the operation outside the 32-bit range.
pub fn check(
    registry: &Registry,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) -> Result<(), ServerError> {
    let Some(operation) = super::operation::selected(&document.operations, operation_name) else {
        return Ok(());
    };
    let operation = &operation.node;
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        let value = variables
            .get(&definition.name.node)
            .or(definition.default_value.as_ref().map(|d| &d.node));
        if let Some(value) = value {
            let ty = TypeName::Parsed(&definition.var_type.node);
            check_value(registry, ty, value, definition.name.pos)?;
        }
    }
    let root = match operation.ty {
        OperationType::Query => Some(registry.query_type.as_str()),
        OperationType::Mutation => registry.mutation_type.as_deref(),
        OperationType::Subscription => registry.subscription_type.as_deref(),
    };
    let Some(root) = root else {
        return Ok(());
    };
    let walk = Walk { registry, document };
    walk.selections(root, &operation.selection_set.node, 0)
}

struct Walk<'a> {
    registry: &'a Registry,
    document: &'a ExecutableDocument,
}

impl Walk<'_> {
    /// The argument literals of every field in `set`, on type `parent`.
    fn selections(
        &self,
        parent: &str,
        set: &SelectionSet,
        depth: usize,
    ) -> Result<(), ServerError> {
        if depth > MAX_DEPTH {
            return Ok(());
        }
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let Some(meta) = self
                        .registry
                        .types
                        .get(parent)
                        .and_then(|t| t.field_by_name(&field.name.node))
                    else {
                        continue;
                    };
                    for (name, value) in &field.arguments {
                        let Some(argument) = meta.args.get(name.node.as_str()) else {
                            continue;
                        };
                        // Variables are checked with their definitions.
                        let literal = value
                            .node
                            .clone()
                            .into_const_with(|_| Ok::<_, ()>(Value::Null));
                        if let Ok(literal) = literal {
                            let ty = TypeName::Meta(&argument.ty);
                            check_value(self.registry, ty, &literal, value.pos)?;
                        }
                    }
                    let inner = MetaTypeName::concrete_typename(&meta.ty);
                    self.selections(inner, &field.selection_set.node, depth + 1)?;
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    if let Some(fragment) = self.document.fragments.get(name) {
                        let on = fragment.node.type_condition.node.on.node.as_str();
                        self.selections(on, &fragment.node.selection_set.node, depth + 1)?;
                    }
                }
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    let on = inline
                        .type_condition
                        .as_ref()
                        .map_or(parent, |c| c.node.on.node.as_str());
                    self.selections(on, &inline.selection_set.node, depth + 1)?;
                }
            }
        }
        Ok(())
    }
}

/// A type as the document writes it (a variable's) or as the schema's
/// registry does (an argument's or an input field's).
#[derive(Clone, Copy)]
enum TypeName<'a> {
    Parsed(&'a Type),
    Meta(&'a str),
}

/// The named type, or the item type of a list.
enum Shape<'a> {
    Named(&'a str),
    List(TypeName<'a>),
}

impl<'a> TypeName<'a> {
    fn shape(self) -> Shape<'a> {
        match self {
            TypeName::Parsed(ty) => match &ty.base {
                BaseType::Named(name) => Shape::Named(name.as_str()),
                BaseType::List(item) => Shape::List(TypeName::Parsed(item)),
            },
            TypeName::Meta(text) => match MetaTypeName::create(text).unwrap_non_null() {
                MetaTypeName::List(item) => Shape::List(TypeName::Meta(item)),
                MetaTypeName::Named(name) | MetaTypeName::NonNull(name) => Shape::Named(name),
            },
        }
    }
}

/// Values nested deeper than this (a `where` tree far past any filter
/// depth limit) are left to the limits that refuse them.
const MAX_VALUE_DEPTH: usize = 256;

fn check_value(
    registry: &Registry,
    ty: TypeName<'_>,
    value: &Value,
    pos: Pos,
) -> Result<(), ServerError> {
    check_nested(registry, ty, value, pos, 0)
}

fn check_nested(
    registry: &Registry,
    ty: TypeName<'_>,
    value: &Value,
    pos: Pos,
    depth: usize,
) -> Result<(), ServerError> {
    if depth > MAX_VALUE_DEPTH {
        return Ok(());
    }
    let next = depth + 1;
    match (ty.shape(), value) {
        (Shape::List(item), Value::List(values)) => values
            .iter()
            .try_for_each(|v| check_nested(registry, item, v, pos, next)),
        // A single value where a list is expected is a list of one.
        (Shape::List(item), value) => check_nested(registry, item, value, pos, next),
        (Shape::Named("Int"), Value::Number(n)) => {
            let fits = n.as_i64().is_some_and(|i| i32::try_from(i).is_ok());
            if fits || !(n.is_i64() || n.is_u64()) {
                // Not an integer at all: the library's own validation says so.
                return Ok(());
            }
            Err(out_of_range(&n.to_string(), pos))
        }
        (Shape::Named(name), Value::Object(fields)) => {
            let Some(MetaType::InputObject { input_fields, .. }) = registry.types.get(name) else {
                return Ok(());
            };
            for (field, value) in fields {
                if let Some(meta) = input_fields.get(field.as_str()) {
                    check_nested(registry, TypeName::Meta(&meta.ty), value, pos, next)?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn out_of_range(number: &str, pos: Pos) -> ServerError {
    let message = format!("Int cannot represent non 32-bit signed integer value: {number}");
    async_graphql::Error::new(message)
        .extend_with(|_, ext| ext.set("code", ErrorCode::BadUserInput.as_str()))
        .into_server_error(pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::dynamic::{Field, FieldFuture, InputObject, InputValue, Object, Schema};
    use async_graphql::dynamic::{FieldValue, TypeRef};

    fn schema() -> Schema {
        let filter = InputObject::new("Filter")
            .field(InputValue::new("eq", TypeRef::named(TypeRef::INT)))
            .field(InputValue::new("in", TypeRef::named_nn_list(TypeRef::INT)))
            .field(InputValue::new("value", TypeRef::named(TypeRef::FLOAT)));
        let field = Field::new("item", TypeRef::named(TypeRef::INT), |_| {
            FieldFuture::new(async { Ok(Some(FieldValue::value(1))) })
        })
        .argument(InputValue::new("id", TypeRef::named(TypeRef::INT)))
        .argument(InputValue::new("where", TypeRef::named("Filter")));
        Schema::build("Query", None, None)
            .register(filter)
            .register(Object::new("Query").field(field))
            .finish()
            .expect("schema")
    }

    fn checked(query: &str, variables: serde_json::Value) -> Result<(), String> {
        let schema = schema();
        let document = async_graphql::parser::parse_query(query).expect("document");
        let variables = Variables::from_json(variables);
        check(schema.registry(), &document, None, &variables).map_err(|e| e.message)
    }

    #[test]
    fn ints_outside_32_bits_are_refused_wherever_they_are() {
        let none = serde_json::json!({});
        assert!(checked("{ item(id: 2147483647) }", none.clone()).is_ok());
        assert!(checked("{ item(id: -2147483648) }", none.clone()).is_ok());
        let refused = checked("{ item(id: 2147483648) }", none.clone()).expect_err("literal");
        assert!(refused.contains("2147483648"), "{refused}");
        assert!(checked("{ item(where: {in: [1, -2147483649]}) }", none.clone()).is_err());
        assert!(checked("{ item(where: {eq: 99999999999}) }", none.clone()).is_err());
        assert!(checked("{ item(where: {value: 99999999999}) }", none.clone()).is_ok());
        assert!(checked("{ ... on Query { item(id: 4294967296) } }", none).is_err());
        let big = serde_json::json!({"n": 4294967296i64, "f": {"eq": 4294967296i64}});
        assert!(checked("query($n: Int) { item(id: $n) }", big.clone()).is_err());
        assert!(checked("query($f: Filter) { item(where: $f) }", big).is_err());
        let fine = serde_json::json!({"n": 7});
        assert!(checked("query($n: Int = 4294967296) { item(id: $n) }", fine).is_ok());
        assert!(checked(
            "query($n: Int = 4294967296) { item(id: $n) }",
            serde_json::json!({})
        )
        .is_err());
    }
}
