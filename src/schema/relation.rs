//! Relation fields (`conversation.inbox`, `conversation.messages`, ...): one
//! generic resolver for every row of `model::RELATIONS`. Rows come from the
//! parent's `$expand` when the planner used it, otherwise from the request's
//! batched loader: one upstream request per relation and level.

use super::connection::{connection_name, gateway_and_caller, Page, DEFAULT_FIRST};
use super::filter_input::filter_input_name;
use super::order::order_input_name;
use super::plan::Planner;
use super::selection::node_selections;
use super::Gateway;
use crate::error::GatewayError;
use crate::loaders::{LoadKey, RelationLoader, RelationSpec};
use crate::model::{Join, Relation, Shape, KEY};
use crate::odata::response::lenient_i64;
use crate::odata::Row;
use async_graphql::dataloader::DataLoader;
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputValue, ResolverContext, TypeRef,
};
use serde_json::Value as Json;
use std::sync::Arc;

pub fn relation_field(relation: &'static Relation) -> Field {
    let target = relation.target();
    let ty = match relation.shape {
        Shape::One => TypeRef::named(target.name),
        Shape::List => TypeRef::named_nn_list(target.name),
        Shape::Connection => TypeRef::named(connection_name(target)),
    };
    let field = Field::new(relation.name, ty, move |ctx| {
        FieldFuture::new(async move {
            resolve(&ctx, relation)
                .await
                .map_err(GatewayError::into_graphql)
        })
    })
    .description(relation.description);
    if relation.shape == Shape::One {
        return field;
    }
    let first = InputValue::new("first", TypeRef::named(TypeRef::INT));
    let first = match relation.shape {
        Shape::Connection => first
            .default_value(DEFAULT_FIRST)
            .description("Rows per parent."),
        _ => first.description("Rows per parent; all when omitted (up to max_relation_rows)."),
    };
    field
        .argument(InputValue::new(
            "where",
            TypeRef::named(filter_input_name(target)),
        ))
        .argument(InputValue::new(
            "orderBy",
            TypeRef::named_nn_list(order_input_name(target)),
        ))
        .argument(first)
}

/// The row a field is resolved on: borrowed from a page or owned.
pub fn parent_row<'a>(parent: &'a FieldValue<'a>) -> Option<&'a Row> {
    parent
        .downcast_ref::<Row>()
        .or_else(|| parent.downcast_ref::<Arc<Row>>().map(|r| &**r))
}

async fn resolve<'a>(
    ctx: &ResolverContext<'a>,
    relation: &'static Relation,
) -> Result<Option<FieldValue<'a>>, GatewayError> {
    let Some(row) = parent_row(ctx.parent_value) else {
        return Ok(None);
    };
    if let Some((column, value)) = relation.only_when {
        if row.get(column).and_then(Json::as_str) != Some(value) {
            return Ok(None);
        }
    }
    let (gateway, caller) = gateway_and_caller(ctx)?;
    let metadata = gateway.upstream.metadata(&caller).await;
    let planner = gateway.planner(metadata.as_deref());
    let target = relation.target();
    let args = match relation.shape {
        Shape::One => None,
        shape => Some(planner.list_args(target, ctx.args.as_index_map(), shape)?),
    };
    let first = args.as_ref().and_then(|a| a.first);

    let rows = match row.get(relation.navigation) {
        // The parent's request expanded this relation.
        Some(expanded) => expanded_rows(expanded)?,
        None => {
            let loader = ctx.data::<DataLoader<RelationLoader>>().map_err(|_| {
                GatewayError::UpstreamUnavailable("no relation loader for this request".into())
            })?;
            let selections = match relation.shape {
                Shape::Connection => node_selections(ctx.field()),
                _ => ctx.field().selection_set().collect(),
            };
            let plan = planner.plan(target, selections)?;
            let (filter, order_by) = args
                .map(|a| (a.filter, a.order_by))
                .unwrap_or((crate::odata::Filter::True, Vec::new()));
            let spec = Arc::new(RelationSpec::new(relation, plan, filter, order_by));
            load(loader, &spec, row).await?
        }
    };
    Ok(match relation.shape {
        Shape::One => rows.into_iter().next().map(FieldValue::owned_any),
        Shape::List => {
            if first.is_none() && rows.len() as u64 > gateway.max_relation_rows {
                return Err(too_many(relation, gateway.max_relation_rows));
            }
            let kept = rows
                .into_iter()
                .take(first.map_or(usize::MAX, |f| f as usize));
            Some(FieldValue::list(kept.map(FieldValue::owned_any)))
        }
        Shape::Connection => {
            let first = first.unwrap_or(DEFAULT_FIRST as u64);
            let total = Some(rows.len() as i64);
            Some(FieldValue::owned_any(Page::cut(rows, 0, first, total)))
        }
    })
}

pub fn too_many(relation: &Relation, cap: u64) -> GatewayError {
    GatewayError::QueryTooComplex(format!(
        "`{}` would read more than {cap} {} rows (max_relation_rows); narrow it with `where` or `first`, or select fewer parents",
        relation.name, relation.to
    ))
}

fn expanded_rows(value: &Json) -> Result<Vec<Arc<Row>>, GatewayError> {
    let invalid = || {
        GatewayError::UpstreamInvalidResponse(
            "an expanded relation is not an object or a list of objects".into(),
        )
    };
    match value {
        Json::Null => Ok(Vec::new()),
        Json::Object(row) => Ok(vec![Arc::new(row.clone())]),
        Json::Array(items) => items
            .iter()
            .map(|item| {
                item.as_object()
                    .map(|r| Arc::new(r.clone()))
                    .ok_or_else(invalid)
            })
            .collect(),
        _ => Err(invalid()),
    }
}

/// The keys of the parent row this relation joins on.
fn join_keys(relation: &Relation, row: &Row) -> Vec<i64> {
    let one = |column: &str| row.get(column).and_then(lenient_i64).into_iter().collect();
    match relation.join {
        Join::ToOne { local } => one(local),
        Join::ToMany { .. } | Join::ListHoldsKey { .. } => one(KEY),
        Join::KeysInList { local } => match row.get(local) {
            Some(Json::Array(items)) => items.iter().filter_map(lenient_i64).collect(),
            Some(Json::String(text)) => serde_json::from_str::<Vec<Json>>(text)
                .map(|items| items.iter().filter_map(lenient_i64).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        },
    }
}

async fn load(
    loader: &DataLoader<RelationLoader>,
    spec: &Arc<RelationSpec>,
    row: &Row,
) -> Result<Vec<Arc<Row>>, GatewayError> {
    let keys = join_keys(spec.relation, row);
    match spec.relation.join {
        Join::ToOne { .. } | Join::KeysInList { .. } => {
            let found = loader
                .load_many(keys.iter().map(|&key| LoadKey::new(spec, key)))
                .await?;
            let mut rows: Vec<Arc<Row>> = keys
                .iter()
                .filter_map(|&key| found.get(&LoadKey::new(spec, key)))
                .flat_map(|rows| rows.iter().cloned())
                .collect();
            // Targets of a key list come from several requests: order here.
            if matches!(spec.relation.join, Join::KeysInList { .. }) {
                rows.sort_by(|a, b| crate::loaders::compare_rows(a, b, &spec.order_by));
            }
            Ok(rows)
        }
        Join::ToMany { .. } | Join::ListHoldsKey { .. } => {
            let Some(&key) = keys.first() else {
                return Ok(Vec::new());
            };
            let rows = loader.load_one(LoadKey::new(spec, key)).await?;
            Ok(rows.map(|r| r.to_vec()).unwrap_or_default())
        }
    }
}

impl Gateway {
    pub fn planner<'a>(&self, metadata: Option<&'a crate::odata::Metadata>) -> Planner<'a> {
        Planner {
            version: self.version,
            metadata,
            expose_sensitive: self.expose_sensitive,
            max_first: self.max_first,
            max_relation_rows: self.max_relation_rows,
        }
    }
}
