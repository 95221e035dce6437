//! `conversationCounts` and `agentActivity`: dashboard figures on top of the
//! aggregates (see `aggregate::analytics` for what each figure counts).
//! Activity rows are kept as rows, so `user` is the ordinary batched
//! relation: the users of all rows come in one request.

use super::aggregate::TIME_UNIT;
use super::aggregate_args::bucketing;
use super::connection::gateway_and_caller;
use super::filter_input::{filter_input_name, parse_where};
use super::relation::{parent_row, relation_field};
use super::scalars::{format_date_time, parse_date_time};
use crate::aggregate::analytics::{
    agent_activity, conversation_counts, ActivityRequest, ActivityRow, ActivityWants,
    ConversationCounts,
};
use crate::aggregate::{Source, TimeUnit};
use crate::error::GatewayError;
use crate::loaders::Batch;
use crate::model::{entity, RELATIONS};
use crate::odata::{Filter, Row};
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, Type, TypeRef,
};
use async_graphql::Value;
use serde_json::{json, Value as Json};

const COUNTS: &str = "ConversationCounts";
const ACTIVITY: &str = "AgentActivity";

type Count = fn(&ConversationCounts) -> u64;

const COUNT_FIELDS: [(&str, &str, Count); 7] = [
    ("all", "Every matching conversation.", |c| c.all),
    ("open", "Status OPEN.", |c| c.open),
    ("resolved", "Status RESOLVED.", |c| c.resolved),
    ("pending", "Status PENDING.", |c| c.pending),
    ("snoozed", "Status SNOOZED.", |c| c.snoozed),
    ("assigned", "With an assignee, any status.", |c| c.assigned),
    ("unassigned", "Without an assignee, any status.", |c| {
        c.unassigned
    }),
];

/// (GraphQL name, row column, type, description)
const ACTIVITY_FIELDS: [(&str, &str, &str, &str); 9] = [
    ("userId", "user_id", "Int!", "The agent (User id)."),
    ("bucket", "bucket", "DateTime", "Start of the time bucket (UTC); null without `bucket`."),
    ("conversationsAssigned", "conversations_assigned", "Int!", "Distinct conversations with an `assignee_changed` event for the agent."),
    ("conversationsResolved", "conversations_resolved", "Int!", "Distinct conversations with a `conversation_resolved` event for the agent."),
    ("firstReplies", "first_replies", "Int!", "`first_reply_created` events of the agent."),
    ("avgFirstReplySeconds", "avg_first_reply_seconds", "Float", "Average `value` of those events: seconds from conversation start to the agent's first reply."),
    ("medianFirstReplySeconds", "median_first_reply_seconds", "Float", "Median of the same values."),
    ("avgResolutionSeconds", "avg_resolution_seconds", "Float", "Average `value` of `conversation_resolved` events: seconds from conversation start to resolution."),
    ("messagesSent", "messages_sent", "Int!", "Outgoing, non-private messages the agent sent (senderType User)."),
];

pub fn types() -> Vec<Type> {
    let mut counts = Object::new(COUNTS)
        .description("Conversation counts, like the REST API's conversation meta. A status outside the enum counts in `all` only.");
    for (name, description, get) in COUNT_FIELDS {
        counts = counts.field(
            Field::new(name, TypeRef::named_nn(TypeRef::INT), move |ctx| {
                let c = ctx.parent_value.downcast_ref::<ConversationCounts>();
                FieldFuture::Value(c.map(|c| FieldValue::value(get(c))))
            })
            .description(description),
        );
    }
    let mut activity = Object::new(ACTIVITY)
        .description("One agent's activity in one time bucket (or the whole range). Times of events are their `createdAt`, of messages their `createdAt`.");
    for (name, column, ty, description) in ACTIVITY_FIELDS {
        let ty = match ty.strip_suffix('!') {
            Some(t) => TypeRef::named_nn(t),
            None => TypeRef::named(ty),
        };
        activity = activity.field(
            Field::new(name, ty, move |ctx| {
                let value = parent_row(ctx.parent_value)
                    .and_then(|row| row.get(column))
                    .filter(|v| !v.is_null())
                    .and_then(|v| Value::from_json(v.clone()).ok());
                FieldFuture::Value(value.map(FieldValue::value))
            })
            .description(description),
        );
    }
    if let Some(user) = activity_user_relation() {
        activity = activity.field(relation_field(user).description("The agent."));
    }
    vec![counts.into(), activity.into()]
}

fn activity_user_relation() -> Option<&'static crate::model::Relation> {
    RELATIONS
        .iter()
        .find(|r| r.from == "ReportingEvent" && r.name == "user")
}

pub fn conversation_counts_field() -> Field {
    let conversation = entity("Conversation");
    let filter = conversation.map(filter_input_name).unwrap_or_default();
    Field::new("conversationCounts", TypeRef::named_nn(COUNTS), |ctx| {
        FieldFuture::new(async move {
            let counts = resolve_counts(&ctx).await.map_err(GatewayError::into_graphql)?;
            Ok(Some(FieldValue::owned_any(counts)))
        })
    })
    .description("Counts of conversations by status and assignment, over the same filter as `conversations`.")
    .argument(InputValue::new("where", TypeRef::named(filter)))
}

async fn resolve_counts(ctx: &ResolverContext<'_>) -> Result<ConversationCounts, GatewayError> {
    let (gateway, caller) = gateway_and_caller(ctx)?;
    let metadata = gateway.upstream.metadata(&caller).await;
    let planner = gateway.planner(metadata.as_deref(), &caller);
    let conversation = entity("Conversation").ok_or_else(|| {
        GatewayError::UpstreamInvalidResponse("no Conversation in the model".into())
    })?;
    let filter = match ctx.args.get("where").map(|v| v.as_value().clone()) {
        Some(v) if v != Value::Null => {
            let columns = planner.columns(conversation);
            parse_where(conversation, &columns, &v, &|c| {
                planner.available(conversation, c)
            })?
        }
        _ => Filter::True,
    };
    let source = Source {
        upstream: &gateway.upstream,
        caller: &caller,
        style: gateway.upstream.in_style(metadata.as_deref()),
        settings: &gateway.aggregates,
    };
    conversation_counts(&source, filter.simplify()).await
}

pub fn agent_activity_field() -> Field {
    Field::new("agentActivity", TypeRef::named_nn_list_nn(ACTIVITY), |ctx| {
        FieldFuture::new(async move {
            let rows = resolve_activity(&ctx).await.map_err(GatewayError::into_graphql)?;
            Ok(Some(FieldValue::list(rows.into_iter().map(FieldValue::owned_any))))
        })
    })
    .description("Per agent and time bucket: assignments, resolutions, first replies and their times, messages sent, from `from` (inclusive) to `to` (exclusive). Ordered by bucket, then user id.")
    .argument(InputValue::new("from", TypeRef::named_nn("DateTime")))
    .argument(InputValue::new("to", TypeRef::named_nn("DateTime")))
    .argument(InputValue::new("bucket", TypeRef::named(TIME_UNIT)).description("Without it, one row per agent for the whole range."))
    .argument(InputValue::new("timeZone", TypeRef::named(TypeRef::STRING)).default_value("UTC"))
    .argument(InputValue::new("inboxIds", TypeRef::named_nn_list(TypeRef::INT)).description("Only these inboxes."))
}

async fn resolve_activity(ctx: &ResolverContext<'_>) -> Result<Vec<Row>, GatewayError> {
    let (gateway, caller) = gateway_and_caller(ctx)?;
    let args = ctx.args.as_index_map();
    let time = |name: &str| match args.get(name) {
        Some(Value::String(s)) => parse_date_time(s).ok_or_else(|| {
            GatewayError::bad_input(format!("`{name}` is not an RFC 3339 date-time"))
        }),
        _ => Err(GatewayError::bad_input(format!("`{name}` is required"))),
    };
    let (from, to) = (time("from")?, time("to")?);
    if to <= from {
        return Err(GatewayError::bad_input("`to` must be after `from`"));
    }
    let bucket = match args.get("bucket") {
        Some(Value::Enum(unit)) => {
            let unit = TimeUnit::parse(unit.as_str()).ok_or_else(|| {
                GatewayError::bad_input("`bucket` must be HOUR, DAY, WEEK or MONTH")
            })?;
            Some(bucketing(unit, args.get("timeZone"))?)
        }
        _ => {
            // Checked even when unused, so that a typo never passes silently.
            bucketing(TimeUnit::Day, args.get("timeZone"))?;
            None
        }
    };
    let inbox_ids = match args.get("inboxIds") {
        Some(Value::List(items)) => Some(
            items
                .iter()
                .map(|v| match v {
                    Value::Number(n) => n.as_i64(),
                    _ => None,
                })
                .collect::<Option<Vec<i64>>>()
                .ok_or_else(|| GatewayError::bad_input("`inboxIds` must be integers"))?,
        ),
        _ => None,
    };
    let selected = |name: &str| ctx.field().selection_set().any(|f| f.name() == name);
    let figures = ACTIVITY_FIELDS
        .iter()
        .skip(2)
        .any(|(name, ..)| selected(name));
    // Without a figure, the rows still list the active agents: count them.
    let counts = !figures;
    let wants = ActivityWants {
        assigned: counts || selected("conversationsAssigned"),
        resolved: counts || selected("conversationsResolved"),
        avg_resolution: selected("avgResolutionSeconds"),
        first_replies: counts || selected("firstReplies"),
        avg_first_reply: selected("avgFirstReplySeconds"),
        median_first_reply: selected("medianFirstReplySeconds"),
        messages_sent: counts || selected("messagesSent"),
    };
    let metadata = gateway.upstream.metadata(&caller).await;
    let style = gateway.upstream.in_style(metadata.as_deref());
    let source = Source {
        upstream: &gateway.upstream,
        caller: &caller,
        style,
        settings: &gateway.aggregates,
    };
    let request = ActivityRequest {
        from,
        to,
        bucket,
        inbox_ids,
        wants,
    };
    let mut rows: Vec<Row> = agent_activity(&source, &request)
        .await?
        .iter()
        .map(to_row)
        .collect();
    // `user`: one batched User request for all rows.
    let events = entity("ReportingEvent").ok_or_else(|| {
        GatewayError::UpstreamInvalidResponse("no ReportingEvent in the model".into())
    })?;
    let mut plan = gateway
        .planner(metadata.as_deref(), &caller)
        .plan(events, ctx.field().selection_set())?;
    plan.relations.retain(|r| r.relation.name == "user");
    for relation in &mut plan.relations {
        relation.via_expand = false;
    }
    let batch = Batch {
        gateway: &gateway,
        caller: &caller,
        style,
    };
    batch.attach(rows.iter_mut().collect(), &plan).await;
    Ok(rows)
}

fn to_row(r: &ActivityRow) -> Row {
    let value = json!({
        "user_id": r.user_id,
        "bucket": r.bucket.map(|t| format_date_time(&t)),
        "conversations_assigned": r.conversations_assigned,
        "conversations_resolved": r.conversations_resolved,
        "first_replies": r.first_replies,
        "avg_first_reply_seconds": r.avg_first_reply_seconds,
        "median_first_reply_seconds": r.median_first_reply_seconds,
        "avg_resolution_seconds": r.avg_resolution_seconds,
        "messages_sent": r.messages_sent,
    });
    match value {
        Json::Object(row) => row,
        _ => Row::new(),
    }
}
