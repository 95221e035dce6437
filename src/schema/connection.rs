//! Root fields of a collection: the paged list (`conversations`) returning a
//! connection, and the key lookup (`conversation(id:)`).

use super::filter_input::filter_input_name;
use super::order::order_input_name;
use super::root_field::{Argument, RootField};
use super::scope::Scope;
use crate::error::GatewayError;
use crate::exec::{ListRequest, Node};
use crate::model::{Entity, Shape};
use crate::odata::EntityQuery;
use crate::plan::args::{encode_cursor, DEFAULT_FIRST};
use crate::plan::selection::{node_selections, selects};
use crate::plan::Planner;
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, Object, ResolverContext, TypeRef};
use std::sync::Arc;

pub const PAGE_INFO: &str = "PageInfo";

/// One page of a collection, the parent value of a connection's fields.
pub(crate) struct Page {
    nodes: Vec<Arc<Node>>,
    /// Position of the first row in the whole ordered result.
    start: u64,
    has_next: bool,
    total: Option<i64>,
}

impl Page {
    /// Keeps the first `first` rows; one more tells that a next page exists.
    pub(crate) fn cut(
        mut nodes: Vec<Arc<Node>>,
        start: u64,
        first: u64,
        total: Option<i64>,
    ) -> Page {
        let has_next = nodes.len() as u64 > first;
        nodes.truncate(first as usize);
        Page {
            nodes,
            start,
            has_next,
            total,
        }
    }
}

struct Edge {
    cursor: String,
    node: Arc<Node>,
}

struct PageInfo {
    has_next: bool,
    has_previous: bool,
    start_cursor: Option<String>,
    end_cursor: Option<String>,
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
            let node = ctx.parent_value.downcast_ref::<Edge>().map(|e| &*e.node);
            FieldFuture::Value(node.map(|n| FieldValue::borrowed_any(n)))
        }));
    let connection = Object::new(connection_name(entity))
        .description(format!("A page of {}s.", entity.name))
        .field(Field::new("nodes", TypeRef::named_nn_list_nn(entity.name), |ctx| {
            let page = ctx.parent_value.downcast_ref::<Page>();
            FieldFuture::Value(page.map(|p| FieldValue::list(p.nodes.iter().map(|n| FieldValue::borrowed_any(&**n)))))
        }))
        .field(Field::new("edges", TypeRef::named_nn_list_nn(edge_name(entity)), |ctx| {
            let page = ctx.parent_value.downcast_ref::<Page>();
            FieldFuture::Value(page.map(|p| {
                FieldValue::list(p.nodes.iter().enumerate().map(|(i, node)| {
                    FieldValue::owned_any(Edge {
                        cursor: encode_cursor(p.start + i as u64),
                        node: node.clone(),
                    })
                }))
            }))
        }))
        .field(Field::new("pageInfo", TypeRef::named_nn(PAGE_INFO), |ctx| {
            let page = ctx.parent_value.downcast_ref::<Page>();
            FieldFuture::Value(page.map(|p| {
                let last = (p.start + p.nodes.len() as u64).checked_sub(1);
                FieldValue::owned_any(PageInfo {
                    has_next: p.has_next,
                    has_previous: p.start > 0,
                    start_cursor: (!p.nodes.is_empty()).then(|| encode_cursor(p.start)),
                    end_cursor: last.filter(|_| !p.nodes.is_empty()).map(encode_cursor),
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
pub fn list_field(entity: &'static Entity) -> RootField {
    RootField::new(
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
    .argument(Argument::new(
        "where",
        TypeRef::named(filter_input_name(entity)),
    ))
    .argument(
        Argument::new("orderBy", TypeRef::named_nn_list(order_input_name(entity)))
            .description("Sort keys, applied in order; default id ascending."),
    )
    .argument(
        Argument::new("first", TypeRef::named(TypeRef::INT))
            .default_value(DEFAULT_FIRST)
            .description("Page size, 0 up to the configured cap."),
    )
    .argument(
        Argument::new("after", TypeRef::named(TypeRef::STRING))
            .description("Cursor of the row before the page."),
    )
    .argument(
        Argument::new("offset", TypeRef::named(TypeRef::INT))
            .description("Rows to skip, for table pagers."),
    )
}

/// The key lookup, e.g. `conversation(id: 7)`; null when there is no such row.
pub fn lookup_field(entity: &'static Entity) -> RootField {
    RootField::new(entity.singular(), TypeRef::named(entity.name), move |ctx| {
        FieldFuture::new(async move {
            let row = resolve_lookup(&ctx, entity)
                .await
                .map_err(GatewayError::into_graphql)?;
            Ok(row.map(FieldValue::owned_any))
        })
    })
    .description(format!("One {} by id, or null.", entity.name))
    .argument(Argument::new("id", TypeRef::named_nn(TypeRef::INT)))
}

async fn resolve_lookup(
    ctx: &ResolverContext<'_>,
    entity: &'static Entity,
) -> Result<Option<Arc<Node>>, GatewayError> {
    let scope = Scope::open(ctx).await?;
    let key = match ctx.args.get("id").map(|v| v.i64()) {
        Some(Ok(key)) => key,
        _ => return Err(GatewayError::bad_input("`id` must be an integer")),
    };
    let plan = scope.planner().plan(entity, ctx.field().selection_set())?;
    let query = EntityQuery {
        entity_set: entity.name,
        key,
        select: plan.select.clone(),
        expand: plan.expands(scope.gateway.max_relation_rows),
    };
    let upstream = &scope.gateway.upstream;
    let Some(row) = upstream
        .fetch_entity(&scope.caller, &scope.report, &query, scope.dialect)
        .await?
    else {
        return Ok(None);
    };
    let fetcher = scope.fetcher(plan.key_columns());
    Ok(fetcher.load(vec![row], &plan).await.into_iter().next())
}

async fn resolve_list(
    ctx: &ResolverContext<'_>,
    entity: &'static Entity,
) -> Result<Page, GatewayError> {
    let scope = Scope::open(ctx).await?;
    let planner = scope.planner();
    // Argument errors come before any upstream call.
    let args = planner.list_args(entity, ctx.args.as_index_map(), Shape::Connection)?;
    let first = args.first.unwrap_or(DEFAULT_FIRST as u64);
    let field = ctx.field();
    let wants_rows = ["nodes", "edges", "pageInfo"]
        .iter()
        .any(|n| selects(field, n));
    let wants_total = selects(field, "totalCount");
    if args.filter.is_false() {
        return Ok(Page {
            nodes: Vec::new(),
            start: args.start,
            has_next: false,
            total: Some(0),
        });
    }
    // Rows read past a residual filter are many: their relations come
    // batched for the rows kept, not expanded on every row read.
    let planner = Planner {
        expand: planner.expand && !args.filter.has_residual(),
        ..planner
    };
    let plan = planner.plan(entity, node_selections(field))?;
    let list = scope
        .list_reader()
        .read(ListRequest {
            collection: entity.name,
            select: plan.select.clone(),
            expand: plan.expands(scope.gateway.max_relation_rows),
            filter: &args.filter,
            order_by: args.order_by,
            start: args.start,
            first,
            wants_rows,
            wants_total,
        })
        .await?;
    // The extra row is not shown: it needs no relations.
    let shown = list.rows.iter().take(first as usize).cloned().collect();
    let mut nodes = scope.fetcher(plan.key_columns()).load(shown, &plan).await;
    if let Some(extra) = list.rows.get(first as usize) {
        nodes.push(Arc::new(Node::leaf(extra.clone())));
    }
    Ok(Page::cut(nodes, args.start, first, list.total))
}
