//! Introspection as `schema.graphql` declares the schema: it has no schema
//! description there, so `__schema { description }` answers null (the
//! library answers a fixed text of its own, which a check comparing the
//! two would see as drift).

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::Value;

/// Fragments nest at most this deep here (cycles never pass validation).
const MAX_DEPTH: usize = 32;

/// Whether a document may ask for `__schema` at all (a cheap look before
/// walking it).
pub fn may_ask(query: &str) -> bool {
    query.contains("__schema")
}

/// Sets every `__schema.description` the operation selected to null in
/// `data`, under the response keys (aliases) the client gave.
pub fn clear_schema_description(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    data: &mut Value,
) {
    let Some(operation) = crate::schema::operation::selected(&document.operations, operation_name)
    else {
        return;
    };
    let mut schemas = Vec::new();
    fields_named(
        document,
        &operation.node.selection_set.node,
        "__schema",
        &mut schemas,
        0,
    );
    let Value::Object(root) = data else {
        return;
    };
    for (key, selection) in schemas {
        let Some(Value::Object(schema)) = root.get_mut(key.as_str()) else {
            continue;
        };
        let mut descriptions = Vec::new();
        fields_named(document, selection, "description", &mut descriptions, 0);
        for (key, _) in descriptions {
            if let Some(description) = schema.get_mut(key.as_str()) {
                *description = Value::Null;
            }
        }
    }
}

/// The response keys and selections of the fields called `name` in `set`,
/// through fragments.
fn fields_named<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    name: &str,
    out: &mut Vec<(String, &'a SelectionSet)>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                if field.node.name.node == name {
                    let key = field.node.response_key().node.to_string();
                    out.push((key, &field.node.selection_set.node));
                }
            }
            Selection::FragmentSpread(spread) => {
                let name_of = &spread.node.fragment_name.node;
                if let Some(fragment) = document.fragments.get(name_of) {
                    let inner = &fragment.node.selection_set.node;
                    fields_named(document, inner, name, out, depth + 1);
                }
            }
            Selection::InlineFragment(inline) => {
                let inner = &inline.node.selection_set.node;
                fields_named(document, inner, name, out, depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn cleared(query: &str, data: serde_json::Value) -> serde_json::Value {
        let document = parse_query(query).expect("document");
        let mut data = Value::from_json(data).expect("value");
        clear_schema_description(&document, None, &mut data);
        data.into_json().expect("json")
    }

    #[test]
    fn the_schema_description_is_null_under_any_alias_or_fragment() {
        let data = serde_json::json!({"__schema": {"description": "text", "x": 1}});
        assert_eq!(
            cleared("{ __schema { description x: queryType { name } } }", data),
            serde_json::json!({"__schema": {"description": null, "x": 1}})
        );
        let data = serde_json::json!({"s": {"d": "text"}});
        let query = "query { ...F } fragment F on Query { s: __schema { ... on __Schema { d: description } } }";
        assert_eq!(cleared(query, data), serde_json::json!({"s": {"d": null}}));
        let data = serde_json::json!({"inbox": {"description": "kept"}});
        assert_eq!(
            cleared("{ inbox(id: 1) { description } }", data.clone()),
            data
        );
    }
}
