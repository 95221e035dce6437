//! The Live Agent OData model as data. Schema, filters, ordering and paging are
//! generic code driven by these tables: adding a field is one line in
//! `entities.rs`.

mod entities;
mod enums;
mod relations;
mod types;

pub use entities::{entity, ENTITIES};
pub use enums::{
    EnumDef, ALL_ENUMS, CONVERSATION_STATUS, MESSAGE_CONTENT_TYPE, MESSAGE_STATUS, MESSAGE_TYPE,
};
pub use relations::{relations_of, Join, Relation, Shape, RELATIONS};
pub use types::{camel_case, ApiVersion, Doc, Entity, Field, FieldType, KEY, SECRET_COLUMNS};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_converts_snake_names() {
        assert_eq!(camel_case("created_at"), "createdAt");
        assert_eq!(camel_case("id"), "id");
        assert_eq!(camel_case("current_sign_in_ip"), "currentSignInIp");
    }

    #[test]
    fn version_is_read_from_the_url_path() {
        assert_eq!(
            ApiVersion::from_url_path("/v1.1/odata"),
            Some(ApiVersion::V1_1)
        );
        assert_eq!(
            ApiVersion::from_url_path("/x/v1.0/odata/"),
            Some(ApiVersion::V1_0)
        );
        assert_eq!(ApiVersion::from_url_path("/odata"), None);
    }

    #[test]
    fn no_secret_column_is_in_the_model() {
        for e in ENTITIES {
            for f in e.fields {
                assert!(!SECRET_COLUMNS.contains(&f.odata), "{}.{}", e.name, f.odata);
            }
        }
    }

    #[test]
    fn groups_and_measures_have_fitting_types() {
        for e in ENTITIES {
            for f in e.fields {
                if f.groupable {
                    assert!(
                        matches!(
                            f.ty,
                            FieldType::Int
                                | FieldType::String
                                | FieldType::Boolean
                                | FieldType::Enum(_)
                        ),
                        "{}.{}",
                        e.name,
                        f.odata
                    );
                }
                if f.measure {
                    assert!(
                        matches!(f.ty, FieldType::Int | FieldType::Float),
                        "{}.{}",
                        e.name,
                        f.odata
                    );
                }
            }
        }
    }

    #[test]
    fn every_entity_has_an_id_key() {
        for e in ENTITIES {
            let id = e.field(KEY).expect("id field");
            assert_eq!(id.ty, FieldType::Int);
        }
    }
}
