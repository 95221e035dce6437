//! Query planning for one entity: which columns to `$select` and which
//! relations to `$expand`, read from the GraphQL selection; and the list
//! arguments (`where`, `orderBy`, `first`, `after`, `offset`).

use super::filter_input::parse_where;
use super::order::parse_order;
use super::selection::node_selections;
use crate::error::GatewayError;
use crate::model::{relations_of, ApiVersion, Doc, Entity, Field, Join, Relation, Shape, KEY};
use crate::odata::{Expand, Filter, Metadata, OrderBy};
use async_graphql::{Name, SelectionField, Value};
use indexmap::IndexMap;

/// What the gateway knows when planning: the version, the upstream's
/// `$metadata` if it could be read, and the configured limits.
pub struct Planner<'a> {
    pub version: ApiVersion,
    pub metadata: Option<&'a Metadata>,
    /// Relations may ride on their parent's request as `$expand`.
    pub expand: bool,
    pub expose_sensitive: bool,
    pub max_first: u64,
    pub max_relation_rows: u64,
}

/// What to read for one entity: its columns, and for each selected relation
/// how its rows come (`$expand` in the same request, or one batched request
/// for all parents of this level).
#[derive(Debug, Default)]
pub struct Plan {
    pub select: Vec<&'static str>,
    pub relations: Vec<RelationPlan>,
}

#[derive(Debug)]
pub struct RelationPlan {
    pub relation: &'static Relation,
    /// Response key of the field (its alias or name): where the related rows
    /// are kept on each parent row.
    pub key: String,
    pub via_expand: bool,
    pub filter: Filter,
    pub order_by: Vec<OrderBy>,
    pub first: Option<u64>,
    pub child: Plan,
}

#[derive(Debug)]
pub struct ListArgs {
    pub filter: Filter,
    pub order_by: Vec<OrderBy>,
    /// `None`: every row (relation lists without `first`).
    pub first: Option<u64>,
    pub start: u64,
}

impl Plan {
    /// The `$expand` clauses of the relations planned as expansions.
    pub fn expands(&self, max_relation_rows: u64) -> Vec<Expand> {
        self.relations
            .iter()
            .filter(|r| r.via_expand)
            .map(|r| Expand {
                navigation: r.relation.navigation,
                select: r.child.select.clone(),
                filter: (r.filter != Filter::True).then(|| r.filter.clone()),
                order_by: r.order_by.clone(),
                // One more row than asked tells whether there is a next page,
                // or that an unbounded list went past the cap.
                top: match (r.relation.shape, r.first) {
                    (Shape::One, _) => None,
                    (Shape::Connection, Some(first)) => Some(first + 1),
                    (_, Some(first)) => Some(first),
                    (_, None) => Some(max_relation_rows + 1),
                },
                expand: r.child.expands(max_relation_rows),
            })
            .collect()
    }
}

impl Planner<'_> {
    pub fn columns(&self, entity: &Entity) -> Vec<&'static Field> {
        entity
            .fields_for(self.version, self.expose_sensitive)
            .collect()
    }

    /// Whether the upstream serves a column: as its `$metadata` says, or,
    /// when that is unknown, as the current documentation says.
    pub fn available(&self, entity: &Entity, column: &Field) -> bool {
        match self.metadata {
            Some(md) => md.has_property(entity.name, column.odata),
            None => column.doc(self.version) == Doc::Current,
        }
    }

    fn declares_navigation(&self, entity: &Entity, relation: &Relation) -> bool {
        self.metadata.is_some_and(|md| {
            md.entity_sets
                .get(entity.name)
                .is_some_and(|set| set.navigation.contains(relation.navigation))
        })
    }

    /// Columns and relations for a selection on `entity`.
    pub fn plan<'s>(
        &self,
        entity: &'static Entity,
        selections: impl IntoIterator<Item = SelectionField<'s>>,
    ) -> Result<Plan, GatewayError> {
        let selections: Vec<SelectionField<'s>> = selections.into_iter().collect();
        let mut wanted: Vec<&'static str> = vec![KEY];
        for column in self.columns(entity) {
            if selections.iter().any(|s| s.name() == column.graphql_name())
                && self.available(entity, column)
            {
                wanted.push(column.odata);
            }
        }
        let mut relations: Vec<RelationPlan> = Vec::new();
        for relation in relations_of(entity, self.version) {
            let uses: Vec<&SelectionField<'s>> = selections
                .iter()
                .filter(|s| s.name() == relation.name)
                .collect();
            for field in &uses {
                let key = field.alias().unwrap_or(relation.name).to_string();
                if relations.iter().any(|r| r.key == key) {
                    continue; // the same field twice through fragments
                }
                wanted.extend(relation.local_columns());
                // A navigation property carries one version of the relation:
                // aliases with other arguments are batched instead.
                let via_expand = uses.len() == 1 && self.expandable(entity, relation, field);
                relations.push(self.relation_plan(relation, field, key, via_expand)?);
            }
        }
        let select = self
            .columns(entity)
            .iter()
            .map(|c| c.odata)
            .filter(|c| wanted.contains(c))
            .collect();
        Ok(Plan { select, relations })
    }

    fn expandable(&self, entity: &Entity, relation: &Relation, field: &SelectionField<'_>) -> bool {
        let joins_by_key = matches!(relation.join, Join::ToOne { .. } | Join::ToMany { .. });
        // A per-parent total needs every row: the batched path counts them.
        let needs_total = relation.shape == Shape::Connection
            && field.selection_set().any(|s| s.name() == "totalCount");
        self.expand && joins_by_key && !needs_total && self.declares_navigation(entity, relation)
    }

    fn relation_plan(
        &self,
        relation: &'static Relation,
        field: &SelectionField<'_>,
        key: String,
        via_expand: bool,
    ) -> Result<RelationPlan, GatewayError> {
        let target = relation.target();
        let children: Vec<_> = match relation.shape {
            Shape::Connection => node_selections(*field),
            _ => field.selection_set().collect(),
        };
        let child = self.plan(target, children)?;
        let mut plan = RelationPlan {
            relation,
            key,
            via_expand,
            filter: Filter::True,
            order_by: Vec::new(),
            first: None,
            child,
        };
        if relation.shape != Shape::One {
            let args: IndexMap<Name, Value> = field
                .arguments()
                .map_err(|e| GatewayError::bad_input(e.message))?
                .into_iter()
                .collect();
            let list = self.list_args(target, &args, relation.shape)?;
            plan.filter = list.filter;
            plan.order_by = list.order_by;
            plan.first = list.first;
        }
        Ok(plan)
    }

    /// Reads list arguments. Root lists and relation connections default
    /// `first` in the schema; relation lists without `first` mean every row.
    pub fn list_args(
        &self,
        entity: &'static Entity,
        args: &IndexMap<Name, Value>,
        shape: Shape,
    ) -> Result<ListArgs, GatewayError> {
        let columns = self.columns(entity);
        let available = |c: &Field| self.available(entity, c);
        let filter = match args.get("where") {
            Some(v) if v != &Value::Null => {
                parse_where(entity, &columns, v, &available)?.simplify()
            }
            _ => Filter::True,
        };
        let order_by = parse_order(entity, &columns, args.get("orderBy"), &available)?;
        let cap = self.max_first;
        let first = match int(args, "first")? {
            None if shape == Shape::Connection => Some(super::connection::DEFAULT_FIRST as u64),
            None => None,
            Some(n) if n < 0 => {
                return Err(GatewayError::bad_input(format!(
                    "`first` must be between 0 and {cap}, got {n}"
                )))
            }
            Some(n) if n as u64 > cap => {
                return Err(GatewayError::bad_input(format!(
                    "`first` is {n}, above the cap of {cap} (max_first); page with `after`"
                )))
            }
            Some(n) => Some(n as u64),
        };
        let offset = int(args, "offset")?;
        let after = match args.get("after") {
            Some(Value::String(cursor)) => Some(super::connection::decode_cursor(cursor)?),
            Some(Value::Null) | None => None,
            Some(_) => return Err(GatewayError::bad_input("`after` must be a string")),
        };
        let start = match (after, offset) {
            (Some(_), Some(_)) => {
                return Err(GatewayError::bad_input(
                    "give either `after` or `offset`, not both",
                ))
            }
            (Some(position), None) => position.saturating_add(1),
            (None, Some(o)) if o < 0 => {
                return Err(GatewayError::bad_input(format!(
                    "`offset` must be 0 or more, got {o}"
                )))
            }
            (None, Some(o)) => o as u64,
            (None, None) => 0,
        };
        Ok(ListArgs {
            filter,
            order_by,
            first,
            start,
        })
    }
}

fn int(args: &IndexMap<Name, Value>, name: &str) -> Result<Option<i64>, GatewayError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| GatewayError::bad_input(format!("`{name}` must be an integer"))),
        Some(_) => Err(GatewayError::bad_input(format!(
            "`{name}` must be an integer"
        ))),
    }
}
