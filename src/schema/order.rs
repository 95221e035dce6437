//! `orderBy` arguments: one `@oneOf` input per collection; each element sets
//! exactly one field to ASC or DESC, applied in order. Reading them is
//! `plan::order_arg`.

use crate::model::{Entity, Field};
use async_graphql::dynamic::{Enum, EnumItem, InputObject, InputValue, TypeRef};

pub const SORT_DIRECTION: &str = "SortDirection";

pub fn sort_direction_enum() -> Enum {
    Enum::new(SORT_DIRECTION)
        .description("Sort direction.")
        .item(EnumItem::new("ASC").description("Ascending."))
        .item(EnumItem::new("DESC").description("Descending."))
}

pub fn order_input_name(entity: &Entity) -> String {
    format!("{}OrderBy", entity.name)
}

pub fn entity_order_input(entity: &Entity, fields: &[&'static Field]) -> InputObject {
    let mut input = InputObject::new(order_input_name(entity))
        .description(format!(
            "One sort key of {}s: set exactly one field to ASC or DESC.",
            entity.name
        ))
        .oneof();
    for field in fields.iter().filter(|f| f.ty.is_comparable()) {
        input = input.field(InputValue::new(
            field.graphql_name(),
            TypeRef::named(SORT_DIRECTION),
        ));
    }
    input
}
