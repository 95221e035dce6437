//! Relation fields (`conversation.inbox`, `conversation.messages`, ...): one
//! generic resolver for every row of `model::RELATIONS`. The related nodes
//! were loaded with their parents' level (see `exec`); the field only reads
//! its parent's result and cuts the page.

use super::connection::{connection_name, Page};
use super::filter_input::filter_input_name;
use super::order::order_input_name;
use crate::error::GatewayError;
use crate::exec::{Node, Related};
use crate::model::{Relation, Shape};
use crate::plan::args::DEFAULT_FIRST;
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputValue, ResolverContext, TypeRef,
};
use std::sync::Arc;

pub fn relation_field(relation: &'static Relation) -> Field {
    let target = relation.target();
    let ty = match relation.shape {
        Shape::One => TypeRef::named(target.name),
        Shape::List => TypeRef::named_nn_list(target.name),
        Shape::Connection => TypeRef::named(connection_name(target)),
    };
    let field = Field::new(relation.name, ty, move |ctx| {
        FieldFuture::new(async move { resolve(&ctx, relation).map_err(GatewayError::into_graphql) })
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

/// The node a field is resolved on: borrowed from a page or owned.
pub fn parent_node<'a>(parent: &'a FieldValue<'a>) -> Option<&'a Node> {
    parent
        .downcast_ref::<Node>()
        .or_else(|| parent.downcast_ref::<Arc<Node>>().map(|n| &**n))
}

fn resolve<'a>(
    ctx: &ResolverContext<'a>,
    relation: &'static Relation,
) -> Result<Option<FieldValue<'a>>, GatewayError> {
    let Some(node) = parent_node(ctx.parent_value) else {
        return Ok(None);
    };
    let key = ctx.field().alias().unwrap_or(relation.name);
    // Every level loads the relations it plans; nothing here means the
    // parent was read without this field in its plan.
    let related = node
        .related(key)
        .ok_or_else(|| GatewayError::Internal(format!("`{}` was not loaded", relation.name)))?;
    Ok(match related.clone()? {
        Related::One(one) => one.map(FieldValue::owned_any),
        Related::Many { nodes, first } => match relation.shape {
            Shape::Connection => {
                let total = Some(nodes.len() as i64);
                let first = first.unwrap_or(DEFAULT_FIRST as u64);
                Some(FieldValue::owned_any(Page::cut(nodes, 0, first, total)))
            }
            _ => {
                let kept = nodes
                    .into_iter()
                    .take(first.map_or(usize::MAX, |f| f as usize));
                Some(FieldValue::list(kept.map(FieldValue::owned_any)))
            }
        },
    })
}
