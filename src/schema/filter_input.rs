//! `where` arguments: the typed filter inputs of every collection. Reading
//! them is `plan::where_arg`.

use crate::model::{Entity, EnumDef, Field, FieldType};
pub use crate::plan::where_arg::value_type_name;
use crate::plan::where_arg::{offers, Op, OPERATORS};
use async_graphql::dynamic::{InputObject, InputValue, TypeRef};

pub fn operator_input_name(ty: FieldType) -> String {
    format!("{}Filter", value_type_name(ty))
}

/// The shared operator inputs (`IntFilter`, `StringFilter`, ...), one per
/// comparable type; `enums` adds one per enum.
pub fn operator_inputs(enums: &[&'static EnumDef]) -> Vec<InputObject> {
    let mut types = vec![
        FieldType::Int,
        FieldType::Float,
        FieldType::String,
        FieldType::Boolean,
        FieldType::DateTime,
    ];
    types.extend(enums.iter().map(|def| FieldType::Enum(def)));
    types
        .into_iter()
        .map(|ty| {
            let value = value_type_name(ty);
            let mut input = InputObject::new(operator_input_name(ty)).description(format!(
                "Conditions on a {value} column; all given conditions must hold."
            ));
            for (name, op) in OPERATORS.iter().filter(|(_, op)| offers(ty, *op)) {
                let type_ref = match op {
                    Op::In | Op::NotIn => TypeRef::named_nn_list(value),
                    Op::IsNull => TypeRef::named(TypeRef::BOOLEAN),
                    Op::Call(_) => TypeRef::named(TypeRef::STRING),
                    Op::Compare(_) => TypeRef::named(value),
                };
                input = input.field(InputValue::new(*name, type_ref));
            }
            input
        })
        .collect()
}

pub fn filter_input_name(entity: &Entity) -> String {
    format!("{}Filter", entity.name)
}

/// `ConversationFilter`: and/or/not plus one operator input per column.
pub fn entity_filter_input(entity: &Entity, fields: &[&'static Field]) -> InputObject {
    let name = filter_input_name(entity);
    let mut input = InputObject::new(&name)
        .description(format!(
            "Conditions on {}s. Fields given together must all hold; `and`, `or` and `not` combine filters. A null operator value is ignored.",
            entity.name
        ))
        .field(InputValue::new("and", TypeRef::named_nn_list(&name)))
        .field(InputValue::new("or", TypeRef::named_nn_list(&name)))
        .field(InputValue::new("not", TypeRef::named(&name)));
    for field in fields.iter().filter(|f| f.ty.is_comparable()) {
        input = input.field(
            InputValue::new(
                field.graphql_name(),
                TypeRef::named(operator_input_name(field.ty)),
            )
            .description(field.description),
        );
    }
    input
}
