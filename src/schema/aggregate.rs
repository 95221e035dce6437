//! `<collection>Aggregate` root fields and their types, generic over the
//! model: group by the `groupable` columns, bucket a time column, count,
//! count distinct values, and sum/avg/min/max the `measure` columns. The
//! arguments become an `aggregate::Spec`; only selected metrics are asked.

use super::aggregate_args::{enum_name, parse_spec};
use super::filter_input::{filter_input_name, value_type_name};
use super::order::SORT_DIRECTION;
use super::root_field::{Argument, RootField};
use super::scalars::DATE_TIME;
use super::scope::Scope;
use crate::aggregate::{self, Group, NumOp, Spec, TimeUnit};
use crate::error::GatewayError;
use crate::model::{Entity, Field as Column, FieldType};
use crate::odata::dates::format_date_time;
use async_graphql::dynamic::{
    Enum, EnumItem, Field, FieldFuture, FieldValue, InputObject, InputValue, Object,
    ResolverContext, Type, TypeRef,
};
use async_graphql::{Name, Value};
use std::sync::Arc;

pub const TIME_UNIT: &str = "TimeUnit";
const ORDER_BY: &str = "AggregateOrderBy";
const METRIC: &str = "AggregateMetric";
const METRICS: [(&str, &str); 6] = [
    ("COUNT", "Rows in the group."),
    ("COUNT_DISTINCT", "Distinct non-null values of `field`."),
    ("SUM", "Sum of `field`."),
    ("AVG", "Average of `field`."),
    ("MIN", "Smallest value of `field`."),
    ("MAX", "Largest value of `field`."),
];

/// The types every aggregate shares.
pub fn shared_types() -> Vec<Type> {
    let units = TimeUnit::ALL.iter().map(|(_, name)| EnumItem::new(*name));
    let metrics = METRICS
        .iter()
        .map(|(name, d)| EnumItem::new(*name).description(*d));
    vec![
        Enum::new(TIME_UNIT)
            .description("Length of a time bucket. WEEK starts on Monday (ISO 8601); buckets follow the wall clock of the chosen time zone.")
            .items(units)
            .into(),
        Enum::new(METRIC)
            .description("A metric to sort groups by.")
            .items(metrics)
            .into(),
        InputObject::new(ORDER_BY)
            .description("One sort key of aggregate groups: give `key` (a grouped field's name, e.g. \"inboxId\", or \"bucket\") or `metric` (with `field` unless it is COUNT).")
            .field(InputValue::new("key", TypeRef::named(TypeRef::STRING)))
            .field(InputValue::new("metric", TypeRef::named(METRIC)))
            .field(InputValue::new("field", TypeRef::named(TypeRef::STRING)).description("The metric's field, e.g. \"value\"."))
            .field(InputValue::new("direction", TypeRef::named(SORT_DIRECTION)).default_value(Value::Enum(Name::new("ASC"))))
            .into(),
    ]
}

fn names(entity: &Entity, what: &str) -> String {
    format!("{}{what}", entity.name)
}

fn groupable<'c>(columns: &'c [&'static Column]) -> impl Iterator<Item = &'static Column> + 'c {
    columns.iter().copied().filter(|c| c.groupable)
}

fn measures<'c>(columns: &'c [&'static Column]) -> impl Iterator<Item = &'static Column> + 'c {
    columns.iter().copied().filter(|c| c.measure)
}

fn times<'c>(columns: &'c [&'static Column]) -> impl Iterator<Item = &'static Column> + 'c {
    columns
        .iter()
        .copied()
        .filter(|c| c.ty == FieldType::DateTime)
}

/// A group as the parent value of its fields.
#[derive(Clone)]
struct GroupView {
    spec: Arc<Spec>,
    group: Arc<Group>,
}

struct NumbersView {
    view: GroupView,
    op: NumOp,
}

/// The types of one collection's aggregate.
pub fn entity_types(entity: &'static Entity, columns: &[&'static Column]) -> Vec<Type> {
    let mut types: Vec<Type> = argument_types(entity, columns).into();
    types.push(key_object(entity, columns).into());
    types.push(distinct_object(entity, columns).into());
    let mut group = group_object(entity);
    if measures(columns).next().is_some() {
        let mut numbers = Object::new(names(entity, "Numbers"))
            .description("One number per measure field; null when the group has no value.");
        for column in measures(columns) {
            numbers = numbers.field(number_field(column));
        }
        types.push(numbers.into());
        for op in NumOp::FIELDS {
            group = group.field(Field::new(
                op.name(),
                TypeRef::named_nn(names(entity, "Numbers")),
                move |ctx| {
                    let view = ctx.parent_value.downcast_ref::<GroupView>().cloned();
                    FieldFuture::Value(
                        view.map(|view| FieldValue::owned_any(NumbersView { view, op })),
                    )
                },
            ));
        }
    }
    types.push(group.into());
    types
}

/// `<Entity>GroupField`, `<Entity>TimeField` and `<Entity>TimeBucket`.
fn argument_types(entity: &'static Entity, columns: &[&'static Column]) -> [Type; 3] {
    let group_fields = Enum::new(names(entity, "GroupField"))
        .description(format!("Fields {}s can be grouped by.", entity.name))
        .items(groupable(columns).map(|c| EnumItem::new(enum_name(c)).description(c.description)));
    let time_fields = Enum::new(names(entity, "TimeField"))
        .description(format!(
            "Time fields of {}s that can be bucketed.",
            entity.name
        ))
        .items(times(columns).map(|c| EnumItem::new(enum_name(c)).description(c.description)));
    let bucket = InputObject::new(names(entity, "TimeBucket"))
        .description("Groups rows by the start of the hour, day, week or month of a time field, in an IANA time zone. Rows where the field is null are left out.")
        .field(InputValue::new("field", TypeRef::named_nn(names(entity, "TimeField"))))
        .field(InputValue::new("unit", TypeRef::named_nn(TIME_UNIT)))
        .field(
            InputValue::new("timeZone", TypeRef::named(TypeRef::STRING))
                .default_value("UTC")
                .description("IANA time zone, e.g. Europe/Berlin."),
        );
    [group_fields.into(), time_fields.into(), bucket.into()]
}

fn key_object(entity: &'static Entity, columns: &[&'static Column]) -> Object {
    let mut key = Object::new(names(entity, "GroupKey"))
        .description("The values a group shares; fields not grouped by are null.");
    for column in groupable(columns) {
        key = key.field(key_field(entity, column));
    }
    key.field(
        Field::new("bucket", TypeRef::named(DATE_TIME), |ctx| {
            let view = ctx.parent_value.downcast_ref::<GroupView>();
            let start = view
                .and_then(|v| v.group.bucket)
                .map(|t| format_date_time(&t));
            FieldFuture::Value(start.map(|s| FieldValue::value(Value::String(s))))
        })
        .description("Start of the time bucket (UTC), when bucketed."),
    )
}

fn distinct_object(entity: &'static Entity, columns: &[&'static Column]) -> Object {
    let mut distinct = Object::new(names(entity, "Distinct"))
        .description("Number of distinct non-null values per field, in the group.");
    for column in groupable(columns) {
        distinct = distinct.field(distinct_field(column));
    }
    distinct
}

/// The group itself: its key, count and distinct counts (the numbers are
/// added when the collection has measures).
fn group_object(entity: &'static Entity) -> Object {
    Object::new(names(entity, "Group"))
        .description(format!("One group of {}s and its metrics.", entity.name))
        .field(Field::new(
            "key",
            TypeRef::named_nn(names(entity, "GroupKey")),
            the_group,
        ))
        .field(
            Field::new("count", TypeRef::named_nn(TypeRef::INT), |ctx| {
                let view = ctx.parent_value.downcast_ref::<GroupView>();
                FieldFuture::Value(view.map(|v| FieldValue::value(v.group.count)))
            })
            .description("Rows in the group."),
        )
        .field(Field::new(
            "countDistinct",
            TypeRef::named_nn(names(entity, "Distinct")),
            the_group,
        ))
}

/// Fields whose parent is the group itself (`key`, `countDistinct`).
fn the_group(ctx: ResolverContext<'_>) -> FieldFuture<'_> {
    FieldFuture::Value(
        ctx.parent_value
            .downcast_ref::<GroupView>()
            .map(|v| FieldValue::borrowed_any(v)),
    )
}

fn key_field(entity: &'static Entity, column: &'static Column) -> Field {
    Field::new(
        column.graphql_name(),
        TypeRef::named(value_type_name(column.ty)),
        move |ctx| {
            let view = ctx.parent_value.downcast_ref::<GroupView>();
            let part = view.and_then(|v| {
                let i = v
                    .spec
                    .group_by
                    .iter()
                    .position(|c| c.odata == column.odata)?;
                v.group.key.get(i)
            });
            let Some(part) = part else {
                return FieldFuture::Value(None);
            };
            super::entity::decoded(entity, column, &part.to_json())
        },
    )
    .description(column.description)
}

fn distinct_field(column: &'static Column) -> Field {
    Field::new(
        column.graphql_name(),
        TypeRef::named_nn(TypeRef::INT),
        move |ctx| {
            let view = ctx.parent_value.downcast_ref::<GroupView>();
            let n = view.and_then(|v| {
                let i = v
                    .spec
                    .distinct
                    .iter()
                    .position(|c| c.odata == column.odata)?;
                v.group.distinct.get(i).copied()
            });
            FieldFuture::Value(n.map(FieldValue::value))
        },
    )
}

fn number_field(column: &'static Column) -> Field {
    Field::new(
        column.graphql_name(),
        TypeRef::named(TypeRef::FLOAT),
        move |ctx| {
            let view = ctx.parent_value.downcast_ref::<NumbersView>();
            let n = view.and_then(|n| {
                let v = &n.view;
                let i = v
                    .spec
                    .numbers
                    .iter()
                    .position(|(op, c)| *op == n.op && c.odata == column.odata)?;
                v.group.number(i)
            });
            FieldFuture::Value(n.map(FieldValue::value))
        },
    )
    .description(column.description)
}

/// The root field, e.g. `reportingEventsAggregate(where, groupBy, bucket, orderBy, first)`.
pub fn aggregate_field(entity: &'static Entity) -> RootField {
    RootField::new(
        format!("{}Aggregate", entity.plural),
        TypeRef::named_nn_list_nn(names(entity, "Group")),
        move |ctx| {
            FieldFuture::new(async move {
                let views = resolve(&ctx, entity).await.map_err(GatewayError::into_graphql)?;
                Ok(Some(FieldValue::list(views.into_iter().map(FieldValue::owned_any))))
            })
        },
    )
    .description(format!(
        "{}s grouped, counted and measured (pushed down as $apply when the upstream supports it, else computed from a scan).",
        entity.name
    ))
    .argument(Argument::new("where", TypeRef::named(filter_input_name(entity))))
    .argument(Argument::new("groupBy", TypeRef::named_nn_list(names(entity, "GroupField"))))
    .argument(Argument::new("bucket", TypeRef::named(names(entity, "TimeBucket"))))
    .argument(
        Argument::new("orderBy", TypeRef::named_nn_list(ORDER_BY))
            .description("Applied in order; then by bucket and the grouped fields ascending."),
    )
    .argument(
        Argument::new("first", TypeRef::named(TypeRef::INT))
            .description("At most this many groups (up to max_groups); all when omitted."),
    )
}

async fn resolve(
    ctx: &ResolverContext<'_>,
    entity: &'static Entity,
) -> Result<Vec<GroupView>, GatewayError> {
    let scope = Scope::open(ctx).await?;
    let spec = parse_spec(
        &scope.planner(),
        entity,
        ctx.args.as_index_map(),
        ctx.field(),
        scope.gateway.aggregates.max_groups,
    )?;
    let groups = aggregate::run(&scope.source(), &spec).await?;
    let spec = Arc::new(spec);
    Ok(groups
        .into_iter()
        .map(|g| GroupView {
            spec: spec.clone(),
            group: Arc::new(g),
        })
        .collect())
}
