//! Reading the GraphQL selection of a connection.

use async_graphql::SelectionField;

/// The node selections of a connection: `nodes { ... }` and
/// `edges { node { ... } }` together.
pub fn node_selections<'a>(connection: SelectionField<'a>) -> Vec<SelectionField<'a>> {
    let mut out = Vec::new();
    for child in connection.selection_set() {
        match child.name() {
            "nodes" => out.extend(child.selection_set()),
            "edges" => {
                for edge_child in child.selection_set() {
                    if edge_child.name() == "node" {
                        out.extend(edge_child.selection_set());
                    }
                }
            }
            _ => {}
        }
    }
    out
}

pub fn selects(connection: SelectionField<'_>, name: &str) -> bool {
    connection.selection_set().any(|s| s.name() == name)
}
