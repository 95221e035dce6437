//! Root fields of a collection: the paged list (`conversations`) returning a
//! connection, and the key lookup (`conversation(id:)`).

use super::filter_input::filter_input_name;
use super::order::order_input_name;
use super::selection::{node_selections, selects};
use super::{Gateway, RequestContext};
use crate::error::GatewayError;
use crate::loaders::Batch;
use crate::model::{Entity, Shape};
use crate::odata::{CollectionQuery, EntityQuery, Filter, Row};
use crate::upstream::Caller;
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, TypeRef,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::sync::Arc;

pub const DEFAULT_FIRST: i64 = 50;
pub const PAGE_INFO: &str = "PageInfo";

/// One page of a collection, the parent value of a connection's fields.
pub(crate) struct Page {
    rows: Vec<Arc<Row>>,
    /// Position of the first row in the whole ordered result.
    start: u64,
    has_next: bool,
    total: Option<i64>,
}

impl Page {
    /// Keeps the first `first` rows; one more tells that a next page exists.
    pub(crate) fn cut(mut rows: Vec<Arc<Row>>, start: u64, first: u64, total: Option<i64>) -> Page {
        let has_next = rows.len() as u64 > first;
        rows.truncate(first as usize);
        Page {
            rows,
            start,
            has_next,
            total,
        }
    }
}

struct Edge {
    cursor: String,
    row: Arc<Row>,
}

struct PageInfo {
    has_next: bool,
    has_previous: bool,
    start_cursor: Option<String>,
    end_cursor: Option<String>,
}

fn encode_cursor(position: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("pos:{position}"))
}

pub(crate) fn decode_cursor(cursor: &str) -> Result<u64, GatewayError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("pos:")?.parse().ok())
        .ok_or_else(|| GatewayError::bad_input("`after` is not a cursor returned by this API"))
}

pub fn connection_name(entity: &Entity) -> String {
    format!("{}Connection", entity.name)
}

pub fn edge_name(entity: &Entity) -> String {
    format!("{}Edge", entity.name)
}

pub fn page_info_object() -> Object {
    let flag = |name: &'static str, get: fn(&PageInfo) -> bool| {
        Field::new(name, TypeRef::named_nn(TypeRef::BOOLEAN), move |ctx| {
            let value = ctx.parent_value.downcast_ref::<PageInfo>().map(get);
            FieldFuture::Value(value.map(FieldValue::value))
        })
    };
    let cursor = |name: &'static str, get: fn(&PageInfo) -> Option<String>| {
        Field::new(name, TypeRef::named(TypeRef::STRING), move |ctx| {
            let value = ctx.parent_value.downcast_ref::<PageInfo>().and_then(get);
            FieldFuture::Value(value.map(FieldValue::value))
        })
    };
    Object::new(PAGE_INFO)
        .description("Paging state of a connection.")
        .field(flag("hasNextPage", |p| p.has_next))
        .field(flag("hasPreviousPage", |p| p.has_previous))
        .field(cursor("startCursor", |p| p.start_cursor.clone()))
        .field(cursor("endCursor", |p| p.end_cursor.clone()))
}

pub fn connection_objects(entity: &'static Entity) -> [Object; 2] {
    let edge = Object::new(edge_name(entity))
        .description(format!("A {} with its cursor.", entity.name))
        .field(Field::new(
            "cursor",
            TypeRef::named_nn(TypeRef::STRING),
            |ctx| {
                let cursor = ctx
                    .parent_value
                    .downcast_ref::<Edge>()
                    .map(|e| e.cursor.clone());
                FieldFuture::Value(cursor.map(FieldValue::value))
            },
        ))
        .field(Field::new("node", TypeRef::named_nn(entity.name), |ctx| {
            let row = ctx.parent_value.downcast_ref::<Edge>().map(|e| &*e.row);
            FieldFuture::Value(row.map(|r| FieldValue::borrowed_any(r)))
        }));
    let connection = Object::new(connection_name(entity))
        .description(format!("A page of {}s.", entity.name))
        .field(Field::new("nodes", TypeRef::named_nn_list_nn(entity.name), |ctx| {
            let page = ctx.parent_value.downcast_ref::<Page>();
            FieldFuture::Value(page.map(|p| FieldValue::list(p.rows.iter().map(|r| FieldValue::borrowed_any(&**r)))))
        }))
        .field(Field::new("edges", TypeRef::named_nn_list_nn(edge_name(entity)), |ctx| {
            let page = ctx.parent_value.downcast_ref::<Page>();
            FieldFuture::Value(page.map(|p| {
                FieldValue::list(p.rows.iter().enumerate().map(|(i, row)| {
                    FieldValue::owned_any(Edge {
                        cursor: encode_cursor(p.start + i as u64),
                        row: row.clone(),
                    })
                }))
            }))
        }))
        .field(Field::new("pageInfo", TypeRef::named_nn(PAGE_INFO), |ctx| {
            let page = ctx.parent_value.downcast_ref::<Page>();
            FieldFuture::Value(page.map(|p| {
                let last = (p.start + p.rows.len() as u64).checked_sub(1);
                FieldValue::owned_any(PageInfo {
                    has_next: p.has_next,
                    has_previous: p.start > 0,
                    start_cursor: (!p.rows.is_empty()).then(|| encode_cursor(p.start)),
                    end_cursor: last.filter(|_| !p.rows.is_empty()).map(encode_cursor),
                })
            }))
        }))
        .field(
            Field::new("totalCount", TypeRef::named_nn(TypeRef::INT), |ctx| {
                let total = ctx.parent_value.downcast_ref::<Page>().and_then(|p| p.total);
                match total {
                    Some(n) => FieldFuture::Value(Some(FieldValue::value(n))),
                    None => FieldFuture::new(async {
                        Err::<Option<FieldValue>, _>(
                            GatewayError::UpstreamInvalidResponse("upstream sent no @odata.count".into())
                                .into_graphql(),
                        )
                    }),
                }
            })
            .description("Number of matching rows in the whole collection (asked upstream only when selected)."),
        );
    [edge, connection]
}

/// The list field, e.g. `conversations(where, orderBy, first, after, offset)`.
pub fn list_field(entity: &'static Entity) -> Field {
    Field::new(
        entity.plural,
        TypeRef::named_nn(connection_name(entity)),
        move |ctx| {
            FieldFuture::new(async move {
                let page = resolve_list(&ctx, entity)
                    .await
                    .map_err(GatewayError::into_graphql)?;
                Ok(Some(FieldValue::owned_any(page)))
            })
        },
    )
    .description(format!("{}s, filtered, ordered and paged.", entity.name))
    .argument(InputValue::new(
        "where",
        TypeRef::named(filter_input_name(entity)),
    ))
    .argument(
        InputValue::new("orderBy", TypeRef::named_nn_list(order_input_name(entity)))
            .description("Sort keys, applied in order; default id ascending."),
    )
    .argument(
        InputValue::new("first", TypeRef::named(TypeRef::INT))
            .default_value(DEFAULT_FIRST)
            .description("Page size, 0 up to the configured cap."),
    )
    .argument(
        InputValue::new("after", TypeRef::named(TypeRef::STRING))
            .description("Cursor of the row before the page."),
    )
    .argument(
        InputValue::new("offset", TypeRef::named(TypeRef::INT))
            .description("Rows to skip, for table pagers."),
    )
}

/// The key lookup, e.g. `conversation(id: 7)`; null when there is no such row.
pub fn lookup_field(entity: &'static Entity) -> Field {
    Field::new(entity.singular(), TypeRef::named(entity.name), move |ctx| {
        FieldFuture::new(async move {
            let row = resolve_lookup(&ctx, entity)
                .await
                .map_err(GatewayError::into_graphql)?;
            Ok(row.map(FieldValue::owned_any))
        })
    })
    .description(format!("One {} by id, or null.", entity.name))
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::INT)))
}

async fn resolve_lookup(
    ctx: &ResolverContext<'_>,
    entity: &'static Entity,
) -> Result<Option<Row>, GatewayError> {
    let (gateway, caller) = gateway_and_caller(ctx)?;
    let key = match ctx.args.get("id").map(|v| v.i64()) {
        Some(Ok(key)) => key,
        _ => return Err(GatewayError::bad_input("`id` must be an integer")),
    };
    let metadata = gateway.upstream.metadata(&caller).await;
    let plan = gateway
        .planner(metadata.as_deref(), &caller)
        .plan(entity, ctx.field().selection_set())?;
    let query = EntityQuery {
        entity_set: entity.name,
        key,
        select: plan.select.clone(),
        expand: plan.expands(gateway.max_relation_rows),
    };
    let style = gateway.upstream.in_style(metadata.as_deref());
    let mut row = gateway
        .upstream
        .fetch_entity(&caller, &query, style)
        .await?;
    if let Some(row) = row.as_mut() {
        let batch = Batch {
            gateway: &gateway,
            caller: &caller,
            style,
        };
        batch.attach(vec![row], &plan).await;
    }
    Ok(row)
}

pub(crate) fn gateway_and_caller(
    ctx: &ResolverContext<'_>,
) -> Result<(Arc<Gateway>, Caller), GatewayError> {
    let gateway = ctx
        .data::<Arc<Gateway>>()
        .map_err(|_| GatewayError::UpstreamUnavailable("no upstream is configured".into()))?
        .clone();
    let caller = ctx
        .data::<RequestContext>()
        .map_err(|_| GatewayError::Unauthenticated("the request has no caller".into()))?
        .caller
        .clone()?;
    Ok((gateway, caller))
}

async fn resolve_list(
    ctx: &ResolverContext<'_>,
    entity: &'static Entity,
) -> Result<Page, GatewayError> {
    let (gateway, caller) = gateway_and_caller(ctx)?;
    let metadata = gateway.upstream.metadata(&caller).await;
    let planner = gateway.planner(metadata.as_deref(), &caller);
    // Argument errors come before any upstream call.
    let args = planner.list_args(entity, ctx.args.as_index_map(), Shape::Connection)?;
    let first = args.first.unwrap_or(DEFAULT_FIRST as u64);
    let field = ctx.field();
    let wants_rows = ["nodes", "edges", "pageInfo"]
        .iter()
        .any(|n| selects(field, n));
    let wants_total = selects(field, "totalCount");
    if args.filter == Filter::False {
        return Ok(Page {
            rows: Vec::new(),
            start: args.start,
            has_next: false,
            total: Some(0),
        });
    }
    let plan = planner.plan(entity, node_selections(field))?;
    // One extra row tells whether a next page exists.
    let top = if wants_rows { first + 1 } else { 0 };
    let query = CollectionQuery {
        entity_set: entity.name,
        select: plan.select.clone(),
        expand: if top == 0 {
            Vec::new()
        } else {
            plan.expands(gateway.max_relation_rows)
        },
        filter: (args.filter != Filter::True).then_some(args.filter),
        // Order matters only when rows come back.
        order_by: if top == 0 { Vec::new() } else { args.order_by },
        top,
        skip: args.start,
        count: wants_total,
        apply: None,
    };
    let style = gateway.upstream.in_style(metadata.as_deref());
    let mut fetched = gateway
        .upstream
        .fetch_collection(&caller, &query, style)
        .await?;
    // The extra row is not shown: it needs no relations.
    let shown = fetched.rows.len().min(first as usize);
    let batch = Batch {
        gateway: &gateway,
        caller: &caller,
        style,
    };
    batch
        .attach(fetched.rows.iter_mut().take(shown).collect(), &plan)
        .await;
    Ok(Page::cut(
        fetched.rows.into_iter().map(Arc::new).collect(),
        args.start,
        first,
        fetched.count,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(41)), Ok(41));
        assert!(decode_cursor("bm9wZQ").is_err());
        assert!(decode_cursor("%%%").is_err());
    }
}
