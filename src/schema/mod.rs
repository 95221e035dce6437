//! The GraphQL schema, built from `model/` for one endpoint version: object
//! types, filters, ordering and connections are generic over the model.

mod aggregate;
mod aggregate_args;
mod analytics;
mod connection;
mod context;
mod entity;
pub mod field_errors;
mod filter_input;
pub mod int_range;
pub mod operation;
mod order;
pub mod relation;
mod root_field;
pub mod scalars;
mod scope;
pub mod subscription;

pub use context::{Gateway, RequestContext};

use crate::model::{relations_of, ApiVersion, ALL_ENUMS, ENTITIES};
use async_graphql::dynamic::{Enum, EnumItem, Object, Schema, SchemaBuilder};

#[derive(Debug, Clone, Copy)]
pub struct SchemaOptions {
    pub version: ApiVersion,
    pub expose_sensitive: bool,
}

/// The schema builder for one version; the caller adds `Arc<Gateway>` as
/// data (`print-schema` needs none).
pub fn builder(options: SchemaOptions) -> SchemaBuilder {
    let mut schema = Schema::build("Query", None, Some(subscription::ROOT))
        .extension(field_errors::NullOnError)
        .register(scalars::date_time_scalar())
        .register(scalars::json_scalar())
        .register(order::sort_direction_enum())
        .register(connection::page_info_object());
    for def in ALL_ENUMS {
        let items = def.values.iter().map(|(name, _)| EnumItem::new(*name));
        schema = schema.register(
            Enum::new(def.name)
                .description(def.description)
                .items(items),
        );
    }
    for input in filter_input::operator_inputs(ALL_ENUMS) {
        schema = schema.register(input);
    }
    for ty in aggregate::shared_types()
        .into_iter()
        .chain(analytics::types())
    {
        schema = schema.register(ty);
    }
    with_roots(schema, options)
}

/// Every entity's types, and the Query and Subscription roots, both from
/// one list of root fields.
fn with_roots(mut schema: SchemaBuilder, options: SchemaOptions) -> SchemaBuilder {
    let mut fields = Vec::new();
    for entity in ENTITIES {
        let columns: Vec<_> = entity
            .fields_for(options.version, options.expose_sensitive)
            .collect();
        let mut object = entity::entity_object(entity, &columns);
        for relation in relations_of(entity, options.version) {
            object = object.field(relation::relation_field(relation));
        }
        schema = schema
            .register(object)
            .register(filter_input::entity_filter_input(entity, &columns))
            .register(order::entity_order_input(entity, &columns));
        for object in connection::connection_objects(entity) {
            schema = schema.register(object);
        }
        for ty in aggregate::entity_types(entity, &columns) {
            schema = schema.register(ty);
        }
        fields.push(connection::list_field(entity));
        fields.push(connection::lookup_field(entity));
        fields.push(aggregate::aggregate_field(entity));
    }
    fields.push(analytics::conversation_counts_field());
    fields.push(analytics::agent_activity_field());
    let query = Object::new("Query")
        .description("Live Agent analytics data, read from the OData endpoint.");
    let query = fields
        .iter()
        .fold(query, |query, field| query.field(field.query_field()));
    schema.register(query).register(subscription::root(&fields))
}

/// The SDL served for a version, as in `schema.graphql`.
pub fn sdl(version: ApiVersion) -> Result<String, async_graphql::dynamic::SchemaError> {
    let schema = builder(SchemaOptions {
        version,
        expose_sensitive: false,
    })
    .finish()?;
    // `specifiedBy` declared, as introspection reports it.
    let options = async_graphql::SDLExportOptions::new().include_specified_by();
    Ok(schema.sdl_with_options(options))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SECRET_COLUMNS;

    #[test]
    fn versions_differ_as_documented() {
        let v10 = sdl(ApiVersion::V1_0).expect("1.0");
        let v11 = sdl(ApiVersion::V1_1).expect("1.1");
        assert!(v10.contains("conversationIds: [Int!]"));
        assert!(!v11.contains("conversationIds"));
        assert!(v10.contains("campaignId: Int"));
        assert!(!v11.contains("campaignId"));
        assert!(v11.contains("identifier: String"));
        assert!(v10.contains("lastSignOutAt"));
        assert!(!v11.contains("lastSignOutAt"));
    }

    #[test]
    fn secrets_and_sign_in_ips_are_not_in_the_schema() {
        for version in [ApiVersion::V1_0, ApiVersion::V1_1] {
            let text = sdl(version).expect("sdl");
            for secret in SECRET_COLUMNS {
                assert!(
                    !text.contains(&format!("\t{}:", crate::model::camel_case(secret))),
                    "{secret}"
                );
            }
            assert!(!text.contains("SignInIp"));
        }
    }
}
