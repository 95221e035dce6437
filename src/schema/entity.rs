//! The object type of one collection: a field per column, each resolved from
//! the parent's upstream row by one generic resolver.

use super::filter_input::value_type_name;
use super::relation::parent_node;
use super::scalars::decode;
use crate::error::GatewayError;
use crate::model::{Entity, Field as Column, FieldType, KEY};
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, Object, TypeRef};

pub fn entity_object(entity: &'static Entity, columns: &[&'static Column]) -> Object {
    let mut object = Object::new(entity.name).description(entity.description);
    for column in columns {
        object = object.field(column_field(entity, column));
    }
    object
}

fn column_type(column: &Column) -> TypeRef {
    match column.ty {
        FieldType::IntList => TypeRef::named_nn_list(TypeRef::INT),
        _ if column.odata == KEY => TypeRef::named_nn(TypeRef::INT),
        ty => TypeRef::named(value_type_name(ty)),
    }
}

fn column_field(entity: &'static Entity, column: &'static Column) -> Field {
    Field::new(column.graphql_name(), column_type(column), move |ctx| {
        let raw = parent_node(ctx.parent_value).and_then(|node| node.row.get(column.odata));
        let Some(raw) = raw else {
            // Not sent upstream (or not served by it): null.
            return FieldFuture::Value(None);
        };
        decoded(entity, column, raw)
    })
    .description(column.description)
}

/// A column's upstream value as the field's answer; a value the column's
/// type cannot hold is an error on this field only.
pub fn decoded<'a>(entity: &Entity, column: &Column, raw: &serde_json::Value) -> FieldFuture<'a> {
    match decode(column.ty, raw) {
        Ok(async_graphql::Value::Null) => FieldFuture::Value(None),
        Ok(value) => FieldFuture::Value(Some(FieldValue::value(value))),
        Err(reason) => {
            let err = GatewayError::UpstreamInvalidResponse(format!(
                "{}.{}: {reason}",
                entity.name,
                column.graphql_name()
            ));
            FieldFuture::new(async move { Err::<Option<FieldValue>, _>(err.into_graphql()) })
        }
    }
}
