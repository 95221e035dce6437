//! Relation fields (`conversation.inbox`, `conversation.messages`, ...): one
//! generic resolver for every row of `model::RELATIONS`. The rows were loaded
//! with their parents' level (see `loaders`), by `$expand` or by one batched
//! request; the field cuts them per parent.

use super::connection::{connection_name, Page, DEFAULT_FIRST};
use super::filter_input::filter_input_name;
use super::order::order_input_name;
use super::plan::Planner;
use super::Gateway;
use crate::error::GatewayError;
use crate::loaders::read_slot;
use crate::model::{Relation, Shape};
use crate::odata::Row;
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
    let field = ctx.field();
    let key = field.alias().unwrap_or(relation.name);
    let Some(found) = read_slot(row, key) else {
        // Every level loads the relations it plans; nothing here means the
        // parent was read without this field in its plan.
        return Err(GatewayError::UpstreamInvalidResponse(format!(
            "`{}` was not loaded",
            relation.name
        )));
    };
    let rows = expanded_rows(found?)?;
    let gateway = ctx
        .data::<Arc<Gateway>>()
        .map_err(|_| GatewayError::UpstreamUnavailable("no upstream is configured".into()))?;
    let first = match ctx.args.get("first") {
        Some(v) if !v.is_null() => v.i64().ok().map(|n| n.max(0) as u64),
        _ => None,
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

impl Gateway {
    /// The planner for one caller. A caller limited to some collections
    /// never gets `$expand`: every relation is then its own request, which
    /// the upstream front door checks against those collections.
    pub fn planner<'a>(
        &self,
        metadata: Option<&'a crate::odata::Metadata>,
        caller: &crate::upstream::Caller,
    ) -> Planner<'a> {
        Planner {
            version: self.version,
            metadata,
            expand: caller.collections.is_none(),
            expose_sensitive: self.expose_sensitive,
            max_first: self.max_first,
            max_relation_rows: self.max_relation_rows,
        }
    }
}
