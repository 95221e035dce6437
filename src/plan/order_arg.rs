//! The `orderBy` argument read into OData sort keys.

use crate::error::GatewayError;
use crate::model::{Entity, Field, KEY};
use crate::odata::OrderBy;
use async_graphql::Value;

/// The sort keys of an `orderBy` value, always ending with `id` so that pages
/// are stable. Without keys the order is `id` ascending.
pub fn parse_order(
    entity: &Entity,
    fields: &[&'static Field],
    value: Option<&Value>,
    available: &dyn Fn(&Field) -> bool,
) -> Result<Vec<OrderBy>, GatewayError> {
    let items: &[Value] = match value {
        None | Some(Value::Null) => &[],
        Some(Value::List(items)) => items,
        Some(single) => std::slice::from_ref(single),
    };
    let mut keys: Vec<OrderBy> = Vec::with_capacity(items.len() + 1);
    for item in items {
        let Value::Object(map) = item else {
            return Err(GatewayError::bad_input(
                "each `orderBy` element must be an object",
            ));
        };
        let set: Vec<_> = map.iter().filter(|(_, v)| **v != Value::Null).collect();
        let [(name, direction)] = set.as_slice() else {
            return Err(GatewayError::bad_input(format!(
                "each `orderBy` element must set exactly one field, this one sets {}",
                set.len()
            )));
        };
        let field = fields
            .iter()
            .find(|f| f.ty.is_comparable() && f.graphql_name() == name.as_str())
            .ok_or_else(|| {
                GatewayError::bad_input(format!(
                    "`{name}` is not a sortable field of {}",
                    entity.name
                ))
            })?;
        if !available(field) {
            return Err(GatewayError::bad_input(format!(
                "`{name}` cannot be sorted on: this upstream does not serve it"
            )));
        }
        let descending = match direction {
            Value::Enum(d) if d.as_str() == "DESC" => true,
            Value::String(d) if d == "DESC" => true,
            Value::Enum(d) if d.as_str() == "ASC" => false,
            Value::String(d) if d == "ASC" => false,
            other => {
                return Err(GatewayError::bad_input(format!(
                    "`{name}`: {other} is not ASC or DESC"
                )))
            }
        };
        if keys.iter().any(|k| k.property == field.odata) {
            return Err(GatewayError::bad_input(format!(
                "`orderBy` names `{name}` twice"
            )));
        }
        keys.push(OrderBy {
            property: field.odata,
            descending,
        });
    }
    if !keys.iter().any(|k| k.property == KEY) {
        keys.push(OrderBy {
            property: KEY,
            descending: false,
        });
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{entity, ApiVersion};
    use serde_json::json;

    fn keys(v: serde_json::Value) -> Result<Vec<(String, bool)>, GatewayError> {
        let e = entity("Conversation").expect("entity");
        let fields: Vec<_> = e.fields_for(ApiVersion::V1_1, false).collect();
        let value = Value::from_json(v).expect("value");
        Ok(parse_order(e, &fields, Some(&value), &|_| true)?
            .into_iter()
            .map(|k| (k.property.to_string(), k.descending))
            .collect())
    }

    #[test]
    fn keys_apply_in_order_with_id_last() {
        assert_eq!(
            keys(json!([{"createdAt": "DESC"}, {"status": "ASC"}])).ok(),
            Some(vec![
                ("created_at".into(), true),
                ("status".into(), false),
                ("id".into(), false)
            ])
        );
        assert_eq!(
            keys(json!([{"id": "DESC"}])).ok(),
            Some(vec![("id".into(), true)])
        );
    }

    #[test]
    fn elements_must_set_exactly_one_field() {
        assert!(keys(json!([{}])).is_err());
        assert!(keys(json!([{"id": "ASC", "status": "DESC"}])).is_err());
    }
}
