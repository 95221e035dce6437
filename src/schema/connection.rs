//! Root fields of a collection: the paged list (`conversations`) returning a
//! connection, and the key lookup (`conversation(id:)`).

use super::filter_input::{filter_input_name, parse_where};
use super::order::{order_input_name, parse_order};
use super::selection::{columns_of, node_selections, selects};
use super::{Gateway, RequestContext};
use crate::error::GatewayError;
use crate::model::{Doc, Entity, Field as Column};
use crate::odata::{CollectionQuery, EntityQuery, Filter, Metadata, Row};
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, TypeRef,
};
use async_graphql::Value;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::sync::Arc;

pub const DEFAULT_FIRST: i64 = 50;
pub const PAGE_INFO: &str = "PageInfo";

/// One page of a collection, the parent value of a connection's fields.
struct Page {
    rows: Vec<Arc<Row>>,
    /// Position of the first row in the whole ordered result.
    start: u64,
    has_next: bool,
    total: Option<i64>,
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

fn decode_cursor(cursor: &str) -> Result<u64, GatewayError> {
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
pub fn list_field(entity: &'static Entity, columns: Arc<Vec<&'static Column>>) -> Field {
    Field::new(
        entity.plural,
        TypeRef::named_nn(connection_name(entity)),
        move |ctx| {
            let columns = columns.clone();
            FieldFuture::new(async move {
                let page = resolve_list(&ctx, entity, &columns)
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
pub fn lookup_field(entity: &'static Entity, columns: Arc<Vec<&'static Column>>) -> Field {
    Field::new(entity.singular(), TypeRef::named(entity.name), move |ctx| {
        let columns = columns.clone();
        FieldFuture::new(async move {
            let row = resolve_lookup(&ctx, entity, &columns)
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
    columns: &[&'static Column],
) -> Result<Option<Row>, GatewayError> {
    let (gateway, caller) = gateway_and_caller(ctx)?;
    let key = int_arg(ctx, "id")?.ok_or_else(|| GatewayError::bad_input("`id` is required"))?;
    let metadata = gateway.upstream.metadata(&caller).await;
    let available = availability(entity, gateway.version, metadata.as_deref());
    let query = EntityQuery {
        entity_set: entity.name,
        key,
        select: columns_of(columns, ctx.field().selection_set(), &available),
    };
    gateway.upstream.fetch_entity(&caller, &query).await
}

fn gateway_and_caller(
    ctx: &ResolverContext<'_>,
) -> Result<(Arc<Gateway>, crate::upstream::Caller), GatewayError> {
    let gateway = ctx
        .data::<Arc<Gateway>>()
        .map_err(|_| GatewayError::UpstreamUnavailable("no upstream is configured".into()))?
        .clone();
    let caller = ctx
        .data_opt::<RequestContext>()
        .and_then(RequestContext::caller)
        .ok_or_else(|| {
            GatewayError::Unauthenticated(
                "no credential: send `Authorization: Bearer <Live Agent token>` or `?apikey=<token>`".into(),
            )
        })?;
    Ok((gateway, caller))
}

/// Whether the upstream serves a column: as its `$metadata` says, or, when
/// that is unknown, as the current documentation says.
fn availability<'m>(
    entity: &'static Entity,
    version: crate::model::ApiVersion,
    metadata: Option<&'m Metadata>,
) -> impl Fn(&Column) -> bool + 'm {
    move |column: &Column| match metadata {
        Some(md) => md.has_property(entity.name, column.odata),
        None => column.doc(version) == Doc::Current,
    }
}

fn int_arg(ctx: &ResolverContext<'_>, name: &str) -> Result<Option<i64>, GatewayError> {
    match ctx.args.get(name) {
        None => Ok(None),
        Some(v) if v.is_null() => Ok(None),
        Some(v) => v
            .i64()
            .map(Some)
            .map_err(|_| GatewayError::bad_input(format!("`{name}` must be an integer"))),
    }
}

async fn resolve_list(
    ctx: &ResolverContext<'_>,
    entity: &'static Entity,
    columns: &[&'static Column],
) -> Result<Page, GatewayError> {
    let (gateway, caller) = gateway_and_caller(ctx)?;
    let cap = gateway.max_first;
    let first = int_arg(ctx, "first")?.unwrap_or(DEFAULT_FIRST);
    if first < 0 {
        return Err(GatewayError::bad_input(format!(
            "`first` must be between 0 and {cap}, got {first}"
        )));
    }
    let first = first as u64;
    if first > cap {
        return Err(GatewayError::bad_input(format!(
            "`first` is {first}, above the cap of {cap} (max_first); page with `after`"
        )));
    }
    let offset = int_arg(ctx, "offset")?;
    let after = match ctx.args.get("after") {
        Some(v) if !v.is_null() => {
            Some(decode_cursor(v.string().map_err(|_| {
                GatewayError::bad_input("`after` must be a string")
            })?)?)
        }
        _ => None,
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

    // Argument errors come before any upstream call.
    let where_value = ctx.args.get("where").map(|v| v.as_value().clone());
    let order_value = ctx.args.get("orderBy").map(|v| v.as_value().clone());
    let metadata = gateway.upstream.metadata(&caller).await;
    let available = availability(entity, gateway.version, metadata.as_deref());
    let filter = match &where_value {
        Some(v) if v != &Value::Null => parse_where(entity, columns, v, &available)?.simplify(),
        _ => Filter::True,
    };
    let order_by = parse_order(entity, columns, order_value.as_ref(), &available)?;

    let field = ctx.field();
    let wants_rows = ["nodes", "edges", "pageInfo"]
        .iter()
        .any(|n| selects(field, n));
    let wants_total = selects(field, "totalCount");
    if filter == Filter::False {
        return Ok(Page {
            rows: Vec::new(),
            start,
            has_next: false,
            total: Some(0),
        });
    }
    let select = columns_of(columns, node_selections(field).into_iter(), &available);
    // One extra row tells whether a next page exists.
    let top = if wants_rows { first + 1 } else { 0 };
    let query = CollectionQuery {
        entity_set: entity.name,
        select,
        filter: (filter != Filter::True).then_some(filter),
        // Order matters only when rows come back.
        order_by: if top == 0 { Vec::new() } else { order_by },
        top,
        skip: start,
        count: wants_total,
    };
    let style = gateway.upstream.in_style(metadata.as_deref());
    let fetched = gateway
        .upstream
        .fetch_collection(&caller, &query, style)
        .await?;
    let has_next = fetched.rows.len() as u64 > first;
    let rows = fetched
        .rows
        .into_iter()
        .take(first as usize)
        .map(Arc::new)
        .collect();
    Ok(Page {
        rows,
        start,
        has_next,
        total: fetched.count,
    })
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
