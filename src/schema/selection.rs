//! Which upstream columns an operation needs, read from its selection set,
//! so that `$select` lists only those.

use crate::model::{Field, KEY};
use async_graphql::SelectionField;

/// The columns selected directly on an entity (`{ id status }`), always with
/// the key, in model order; columns the upstream does not serve are left out.
pub fn columns_of<'a>(
    fields: &[&'static Field],
    selections: impl Iterator<Item = SelectionField<'a>>,
    available: &dyn Fn(&Field) -> bool,
) -> Vec<&'static str> {
    let names: Vec<&str> = selections.map(|s| s.name()).collect();
    fields
        .iter()
        .filter(|f| f.odata == KEY || (names.contains(&f.graphql_name().as_str()) && available(f)))
        .map(|f| f.odata)
        .collect()
}

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
