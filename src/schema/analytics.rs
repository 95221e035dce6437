//! `conversationCounts` and `agentActivity`: dashboard figures on top of the
//! aggregates (see `aggregate::analytics` for what each figure counts).
//! Activity rows are typed; their `user` comes through the same key loader
//! as every relation: the users of all rows in one request.

use super::aggregate::TIME_UNIT;
use super::aggregate_args::bucketing;
use super::filter_input::filter_input_name;
use super::root_field::{Argument, RootField};
use super::scalars::DATE_TIME;
use super::scope::Scope;
use crate::aggregate::analytics::{
    agent_activity, conversation_counts, ActivityRequest, ActivityRow, ActivityWants,
    ConversationCounts,
};
use crate::aggregate::TimeUnit;
use crate::error::GatewayError;
use crate::exec::{KeyColumns, Node};
use crate::model::{entity, Entity, KEY};
use crate::odata::dates::{format_date_time, parse_date_time};
use crate::plan::add_columns;
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, Object, ResolverContext, Type, TypeRef,
};
use async_graphql::Value;
use std::collections::HashMap;
use std::sync::Arc;

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

type Figure = fn(&ActivityRow) -> Value;

fn count(n: u64) -> Value {
    Value::from(n)
}

fn seconds(s: Option<f64>) -> Value {
    s.map_or(Value::Null, Value::from)
}

/// A figure's GraphQL type: a named type, and whether it is never null.
#[derive(Clone, Copy)]
struct FigureType(&'static str, bool);

impl FigureType {
    fn type_ref(self) -> TypeRef {
        match self.1 {
            true => TypeRef::named_nn(self.0),
            false => TypeRef::named(self.0),
        }
    }
}

const COUNT: FigureType = FigureType(TypeRef::INT, true);
const SECONDS: FigureType = FigureType(TypeRef::FLOAT, false);

/// (GraphQL name, type, description, value)
const ACTIVITY_FIELDS: [(&str, FigureType, &str, Figure); 9] = [
    ("userId", COUNT, "The agent (User id).", |r| Value::from(r.user_id)),
    ("bucket", FigureType(DATE_TIME, false), "Start of the time bucket (UTC); null without `bucket`.", |r| {
        r.bucket.map_or(Value::Null, |t| Value::String(format_date_time(&t)))
    }),
    ("conversationsAssigned", COUNT, "Distinct conversations with an `assignee_changed` event for the agent.", |r| count(r.conversations_assigned)),
    ("conversationsResolved", COUNT, "Distinct conversations with a `conversation_resolved` event for the agent.", |r| count(r.conversations_resolved)),
    ("firstReplies", COUNT, "`first_reply_created` events of the agent.", |r| count(r.first_replies)),
    ("avgFirstReplySeconds", SECONDS, "Average `value` of those events: seconds from conversation start to the agent's first reply.", |r| seconds(r.avg_first_reply_seconds)),
    ("medianFirstReplySeconds", SECONDS, "Median of the same values.", |r| seconds(r.median_first_reply_seconds)),
    ("avgResolutionSeconds", SECONDS, "Average `value` of `conversation_resolved` events: seconds from conversation start to resolution.", |r| seconds(r.avg_resolution_seconds)),
    ("messagesSent", COUNT, "Outgoing, non-private messages the agent sent (senderType User).", |r| count(r.messages_sent)),
];

/// The agents of an activity report, by the response key of each `user`
/// selection (aliases may select differently), shared by every row.
type Agents = Vec<(String, Result<HashMap<i64, Arc<Node>>, GatewayError>)>;

/// One activity row as the parent value of its fields.
struct ActivityView {
    row: ActivityRow,
    agents: Arc<Agents>,
}

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
    for (name, ty, description, figure) in ACTIVITY_FIELDS {
        activity = activity.field(
            Field::new(name, ty.type_ref(), move |ctx| {
                let value = ctx
                    .parent_value
                    .downcast_ref::<ActivityView>()
                    .map(|view| figure(&view.row))
                    .filter(|v| *v != Value::Null);
                FieldFuture::Value(value.map(FieldValue::value))
            })
            .description(description),
        );
    }
    activity = activity.field(
        Field::new("user", TypeRef::named("User"), |ctx| {
            FieldFuture::new(async move { agent(&ctx).map_err(GatewayError::into_graphql) })
        })
        .description("The agent."),
    );
    vec![counts.into(), activity.into()]
}

fn agent<'a>(ctx: &ResolverContext<'a>) -> Result<Option<FieldValue<'a>>, GatewayError> {
    let Some(view) = ctx.parent_value.downcast_ref::<ActivityView>() else {
        return Ok(None);
    };
    let key = ctx.field().alias().unwrap_or("user");
    let (_, agents) = view
        .agents
        .iter()
        .find(|(k, _)| k == key)
        .ok_or_else(|| GatewayError::Internal("`user` was not loaded".into()))?;
    let agents = agents.as_ref().map_err(Clone::clone)?;
    Ok(agents
        .get(&view.row.user_id)
        .map(|node| FieldValue::owned_any(node.clone())))
}

fn model_entity(name: &str) -> Result<&'static Entity, GatewayError> {
    entity(name).ok_or_else(|| GatewayError::Internal(format!("no {name} in the model")))
}

pub fn conversation_counts_field() -> RootField {
    let conversation = entity("Conversation");
    let filter = conversation.map(filter_input_name).unwrap_or_default();
    RootField::new("conversationCounts", TypeRef::named_nn(COUNTS), |ctx| {
        FieldFuture::new(async move {
            let counts = resolve_counts(&ctx).await.map_err(GatewayError::into_graphql)?;
            Ok(Some(FieldValue::owned_any(counts)))
        })
    })
    .description("Counts of conversations by status and assignment, over the same filter as `conversations`.")
    .argument(Argument::new("where", TypeRef::named(filter)))
}

async fn resolve_counts(ctx: &ResolverContext<'_>) -> Result<ConversationCounts, GatewayError> {
    let scope = Scope::open(ctx).await?;
    let conversation = model_entity("Conversation")?;
    let filter = scope
        .planner()
        .filter(conversation, ctx.args.as_index_map().get("where"))?;
    conversation_counts(&scope.source(), filter).await
}

pub fn agent_activity_field() -> RootField {
    RootField::new("agentActivity", TypeRef::named_nn_list_nn(ACTIVITY), |ctx| {
        FieldFuture::new(async move {
            let views = resolve_activity(&ctx).await.map_err(GatewayError::into_graphql)?;
            Ok(Some(FieldValue::list(views.into_iter().map(FieldValue::owned_any))))
        })
    })
    .description("Per agent and time bucket: assignments, resolutions, first replies and their times, messages sent, from `from` (inclusive) to `to` (exclusive). Ordered by bucket, then user id.")
    .argument(Argument::new("from", TypeRef::named_nn(DATE_TIME)))
    .argument(Argument::new("to", TypeRef::named_nn(DATE_TIME)))
    .argument(Argument::new("bucket", TypeRef::named(TIME_UNIT)).description("Without it, one row per agent for the whole range."))
    .argument(Argument::new("timeZone", TypeRef::named(TypeRef::STRING)).default_value("UTC"))
    .argument(Argument::new("inboxIds", TypeRef::named_nn_list(TypeRef::INT)).description("Only these inboxes."))
}

async fn resolve_activity(ctx: &ResolverContext<'_>) -> Result<Vec<ActivityView>, GatewayError> {
    let scope = Scope::open(ctx).await?;
    let request = activity_request(ctx)?;
    let rows = agent_activity(&scope.source(), &request).await?;
    let agents = Arc::new(load_agents(ctx, &scope, &rows).await?);
    Ok(rows
        .into_iter()
        .map(|row| ActivityView {
            row,
            agents: agents.clone(),
        })
        .collect())
}

/// The arguments, and the figures the selection needs.
fn activity_request(ctx: &ResolverContext<'_>) -> Result<ActivityRequest, GatewayError> {
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
    Ok(ActivityRequest {
        from,
        to,
        bucket,
        inbox_ids,
        wants,
    })
}

/// The agents of all rows, once per `user` selection, through one key
/// loader: an alias selecting the same columns costs no second request.
async fn load_agents(
    ctx: &ResolverContext<'_>,
    scope: &Scope,
    rows: &[ActivityRow],
) -> Result<Agents, GatewayError> {
    let users = model_entity("User")?;
    let planner = scope.planner();
    let mut plans = Vec::new();
    for field in ctx.field().selection_set().filter(|f| f.name() == "user") {
        let key = field.alias().unwrap_or("user").to_string();
        if !plans.iter().any(|(k, _)| *k == key) {
            plans.push((key, planner.plan(users, field.selection_set())?));
        }
    }
    let mut key_columns = KeyColumns::new();
    for (_, plan) in &plans {
        for (collection, columns) in plan.key_columns() {
            add_columns(key_columns.entry(collection).or_default(), columns);
        }
        let own = key_columns.entry(users.name).or_default();
        add_columns(own, plan.select.iter().copied().chain([KEY]));
    }
    let fetcher = scope.fetcher(key_columns);
    let mut ids: Vec<i64> = rows.iter().map(|r| r.user_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut agents = Vec::new();
    for (key, plan) in plans {
        agents.push((key, fetcher.by_ids(users.name, ids.clone(), &plan).await));
    }
    Ok(agents)
}
