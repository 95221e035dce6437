//! Query planning: a GraphQL selection and its arguments read into a typed
//! plan (which columns to `$select`, how each relation's rows come, each
//! list's filter, order and page), before any upstream request. Knows the
//! GraphQL request and the model; nothing of the schema or of execution.

pub mod args;
pub mod order_arg;
pub mod residual;
pub mod residual_scan;
pub mod selection;
pub mod where_arg;

use crate::error::GatewayError;
use crate::model::{relations_of, ApiVersion, Doc, Entity, Field, Join, Relation, Shape, KEY};
use crate::odata::{Dialect, Expand, Filter, Metadata, OrderBy};
use args::{read_first, read_start, Args, DEFAULT_FIRST};
use async_graphql::{SelectionField, Value};
use order_arg::parse_order;
use residual::{split, Split};
use selection::node_selections;
use std::collections::BTreeMap;
use where_arg::parse_where;

/// What the gateway knows when planning: the version, the upstream's
/// `$metadata` if it could be read, and the configured limits.
#[derive(Clone, Copy)]
pub struct Planner<'a> {
    pub version: ApiVersion,
    pub metadata: Option<&'a Metadata>,
    /// What the upstream evaluates: filters are split against it.
    pub dialect: Dialect,
    /// Relations may ride on their parent's request as `$expand`.
    pub expand: bool,
    pub expose_sensitive: bool,
    pub max_first: u64,
    pub max_relation_rows: u64,
    pub max_filter_depth: usize,
}

/// What to read for one entity: its columns, and for each selected relation
/// how its rows come (`$expand` in the same request, or one batched request
/// for all parents of this level).
#[derive(Debug, Default)]
pub struct Plan {
    /// The entity set the rows come from.
    pub collection: &'static str,
    pub select: Vec<&'static str>,
    pub relations: Vec<RelationPlan>,
}

#[derive(Debug)]
pub struct RelationPlan {
    pub relation: &'static Relation,
    /// Response key of the field (its alias or name): the related results
    /// of each parent are kept under it.
    pub key: String,
    pub via_expand: bool,
    /// Rows looked up by key through the request's loader (shared with
    /// every other lookup of the same rows), never with `$expand`.
    pub by_key: bool,
    pub filter: Split,
    pub order_by: Vec<OrderBy>,
    pub first: Option<u64>,
    pub child: Plan,
}

#[derive(Debug)]
pub struct ListArgs {
    pub filter: Split,
    pub order_by: Vec<OrderBy>,
    /// `None`: every row (relation lists without `first`).
    pub first: Option<u64>,
    pub start: u64,
}

/// Adds the columns `into` lacks, keeping its order.
pub fn add_columns(into: &mut Vec<&'static str>, columns: impl IntoIterator<Item = &'static str>) {
    for column in columns {
        if !into.contains(&column) {
            into.push(column);
        }
    }
}

impl RelationPlan {
    /// The per-parent `$top` of this relation as an `$expand` (the upstream
    /// front door clamps it to the page cap).
    pub fn expand_top(&self, max_relation_rows: u64) -> Option<u64> {
        // One more row than asked tells whether there is a next page, or
        // that an unbounded list went past the cap.
        match (self.relation.shape, self.first) {
            (Shape::One, _) => None,
            (Shape::Connection, Some(first)) => Some(first + 1),
            (_, Some(first)) => Some(first),
            (_, None) => Some(max_relation_rows + 1),
        }
    }

    /// The columns to read for the related rows: the child's selection plus
    /// the columns that join them to their parents and those the residual
    /// filter reads.
    pub fn columns(&self) -> Vec<&'static str> {
        let mut columns = self.child.select.clone();
        add_columns(&mut columns, self.relation.remote_columns());
        add_columns(&mut columns, self.filter.residual_columns());
        columns
    }
}

impl Plan {
    /// For every collection read by key anywhere in the plan, the union of
    /// the columns its uses need: one loader row serves them all.
    pub fn key_columns(&self) -> BTreeMap<&'static str, Vec<&'static str>> {
        let mut out = BTreeMap::new();
        self.collect_key_columns(&mut out);
        out
    }

    fn collect_key_columns(&self, out: &mut BTreeMap<&'static str, Vec<&'static str>>) {
        for relation in &self.relations {
            if relation.by_key {
                add_columns(
                    out.entry(relation.relation.to).or_default(),
                    relation.columns(),
                );
            }
            relation.child.collect_key_columns(out);
        }
    }

    /// The `$expand` clauses of the relations planned as expansions.
    pub fn expands(&self, max_relation_rows: u64) -> Vec<Expand> {
        self.relations
            .iter()
            .filter(|r| r.via_expand)
            .map(|r| Expand {
                navigation: r.relation.navigation,
                select: r.child.select.clone(),
                filter: (r.filter.upstream != Filter::True).then(|| r.filter.upstream.clone()),
                order_by: r.order_by.clone(),
                top: r.expand_top(max_relation_rows),
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
        Ok(Plan {
            collection: entity.name,
            select,
            relations,
        })
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
        let list = match relation.shape {
            Shape::One => None,
            _ => {
                let args: Args = field
                    .arguments()
                    .map_err(|e| GatewayError::bad_input(e.message))?
                    .into_iter()
                    .collect();
                Some(self.list_args(target, &args, relation.shape)?)
            }
        };
        let unfiltered = list.as_ref().is_none_or(|l| l.filter.is_true());
        // The gateway filters the rows of a residual: they come batched.
        let via_expand = via_expand && list.as_ref().is_none_or(|l| !l.filter.has_residual());
        let by_key = !via_expand
            && match relation.join {
                Join::ToOne { .. } => true,
                Join::KeysInList { .. } => unfiltered,
                Join::ToMany { .. } | Join::ListHoldsKey { .. } => false,
            };
        let children: Vec<_> = match relation.shape {
            Shape::Connection => node_selections(*field),
            _ => field.selection_set().collect(),
        };
        // Rows from the loader serve several places of the plan: their own
        // relations come in batches, never riding on them as `$expand`.
        let child_planner = Planner {
            expand: self.expand && !by_key,
            ..*self
        };
        let child = child_planner.plan(target, children)?;
        let (filter, order_by, first) = match list {
            Some(list) => (list.filter, list.order_by, list.first),
            None => (Split::exact(Filter::True), Vec::new(), None),
        };
        Ok(RelationPlan {
            relation,
            key,
            via_expand,
            by_key,
            filter,
            order_by,
            first,
            child,
        })
    }

    /// The `where` argument of a list on `entity`; `Filter::True` without one.
    pub fn filter(
        &self,
        entity: &'static Entity,
        value: Option<&Value>,
    ) -> Result<Filter, GatewayError> {
        match value {
            Some(v) if v != &Value::Null => {
                let columns = self.columns(entity);
                let available = |c: &Field| self.available(entity, c);
                let parsed = parse_where(entity, &columns, v, &available, self.max_filter_depth)?;
                Ok(parsed.simplify())
            }
            _ => Ok(Filter::True),
        }
    }

    /// A filter split for the upstream, against its dialect and the
    /// columns its `$metadata` declares as integers.
    pub fn split(&self, entity: &Entity, filter: &Filter) -> Split {
        let integers = self.metadata.and_then(|m| m.integers(entity.name));
        split(filter, self.dialect, integers)
    }

    /// Reads list arguments. Root lists and relation connections default
    /// `first` in the schema; relation lists without `first` mean every row.
    pub fn list_args(
        &self,
        entity: &'static Entity,
        args: &Args,
        shape: Shape,
    ) -> Result<ListArgs, GatewayError> {
        let filter = self.split(entity, &self.filter(entity, args.get("where"))?);
        let columns = self.columns(entity);
        let available = |c: &Field| self.available(entity, c);
        let order_by = parse_order(entity, &columns, args.get("orderBy"), &available)?;
        let first = match read_first(args, self.max_first, "max_first")? {
            None if shape == Shape::Connection => Some(DEFAULT_FIRST as u64),
            first => first,
        };
        Ok(ListArgs {
            filter,
            order_by,
            first,
            start: read_start(args)?,
        })
    }
}
