//! Dashboard figures built on grouped aggregates: conversation counts (the
//! REST API's conversation `meta`) and agent activity. Every figure is a
//! plain aggregate, so it takes the pushdown or the scan path like any
//! other; only the median first reply needs the values, hence a scan.

use super::bucket::Bucketing;
use super::group::{Group, KeyPart};
use super::run::run;
use super::source::Source;
use super::spec::{NumOp, Spec};
use crate::error::GatewayError;
use crate::model::{entity, Entity, Field, CONVERSATION_STATUS, MESSAGE_TYPE};
use crate::odata::{CompareOp, Filter, Literal};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A column the figures read: its absence is the gateway's own fault.
fn model(
    entity_name: &str,
    column: &str,
) -> Result<(&'static Entity, &'static Field), GatewayError> {
    let e = entity(entity_name);
    e.and_then(|e| Some((e, e.field(column)?)))
        .ok_or_else(|| GatewayError::Internal(format!("the model lacks {entity_name}.{column}")))
}

/// The upstream number of an enum value the figures name.
fn number(def: &crate::model::EnumDef, name: &str) -> Result<i64, GatewayError> {
    def.number_of(name)
        .ok_or_else(|| GatewayError::Internal(format!("the model lacks {}.{name}", def.name)))
}

fn eq(property: &'static str, value: Literal) -> Filter {
    Filter::Compare {
        property,
        op: CompareOp::Eq,
        value,
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ConversationCounts {
    pub all: u64,
    pub open: u64,
    pub resolved: u64,
    pub pending: u64,
    pub snoozed: u64,
    pub assigned: u64,
    pub unassigned: u64,
}

/// Counts of the conversations that match `filter`, from one grouping by
/// status and assignee. A status outside the enum counts in `all` only.
pub async fn conversation_counts(
    source: &Source<'_>,
    filter: Filter,
) -> Result<ConversationCounts, GatewayError> {
    let (conversation, status) = model("Conversation", "status")?;
    let (_, assignee) = model("Conversation", "assignee_id")?;
    let spec = Spec::grouped(conversation, filter, vec![status, assignee]);
    let groups = run(source, &spec).await?;
    let status_of = |name| number(&CONVERSATION_STATUS, name).map(KeyPart::Int);
    let (open, resolved) = (status_of("OPEN")?, status_of("RESOLVED")?);
    let (pending, snoozed) = (status_of("PENDING")?, status_of("SNOOZED")?);
    let mut counts = ConversationCounts::default();
    for g in &groups {
        counts.all += g.count;
        match g.key.first() {
            Some(k) if *k == open => counts.open += g.count,
            Some(k) if *k == resolved => counts.resolved += g.count,
            Some(k) if *k == pending => counts.pending += g.count,
            Some(k) if *k == snoozed => counts.snoozed += g.count,
            _ => {}
        }
        match g.key.get(1) {
            Some(KeyPart::Null) | None => counts.unassigned += g.count,
            Some(_) => counts.assigned += g.count,
        }
    }
    Ok(counts)
}

/// Which agent figures are selected: only those are computed.
#[derive(Debug, Default, Clone, Copy)]
pub struct ActivityWants {
    pub assigned: bool,
    pub resolved: bool,
    pub avg_resolution: bool,
    pub first_replies: bool,
    pub avg_first_reply: bool,
    pub median_first_reply: bool,
    pub messages_sent: bool,
}

pub struct ActivityRequest {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: Option<Bucketing>,
    pub inbox_ids: Option<Vec<i64>>,
    pub wants: ActivityWants,
}

/// One agent in one bucket (or the whole range when there are no buckets).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ActivityRow {
    pub user_id: i64,
    pub bucket: Option<DateTime<Utc>>,
    pub conversations_assigned: u64,
    pub conversations_resolved: u64,
    pub first_replies: u64,
    pub avg_first_reply_seconds: Option<f64>,
    pub median_first_reply_seconds: Option<f64>,
    pub avg_resolution_seconds: Option<f64>,
    pub messages_sent: u64,
}

pub const ASSIGNED: &str = "assignee_changed";
pub const RESOLVED: &str = "conversation_resolved";
pub const FIRST_REPLY: &str = "first_reply_created";

/// Agent activity from ReportingEvent and Message, rows ordered by bucket
/// and user id. Up to three aggregates run at once: assignment and
/// resolution events, first-reply events, sent messages.
pub async fn agent_activity(
    source: &Source<'_>,
    request: &ActivityRequest,
) -> Result<Vec<ActivityRow>, GatewayError> {
    let activity = Activity::new(request)?;
    let w = request.wants;
    let lifecycle = activity.lifecycle();
    let first_reply = (w.first_replies || w.avg_first_reply || w.median_first_reply)
        .then(|| activity.first_replies());
    let sent = w.messages_sent.then(|| activity.messages_sent());
    let optional = |s: Option<Spec>| async move {
        match s {
            Some(s) => run(source, &s).await.map(|g| Some((s, g))),
            None => Ok(None),
        }
    };
    let (lifecycle, first_reply, sent) =
        futures::try_join!(optional(lifecycle), optional(first_reply), optional(sent))?;

    let mut rows: Rows = BTreeMap::new();
    if let Some((_, groups)) = &lifecycle {
        add_lifecycle(&mut rows, groups);
    }
    if let Some((s, groups)) = &first_reply {
        add_first_replies(&mut rows, s, groups);
    }
    for g in sent.iter().flat_map(|(_, groups)| groups) {
        if let Some(r) = row(&mut rows, g) {
            r.messages_sent = g.count;
        }
    }
    Ok(rows.into_values().collect())
}

/// The columns an activity report reads, and the aggregates it runs.
struct Activity<'r> {
    request: &'r ActivityRequest,
    events: &'static Entity,
    event_time: &'static Field,
    name: &'static Field,
    user: &'static Field,
    conversation: &'static Field,
    value: &'static Field,
    messages: &'static Entity,
    message_time: &'static Field,
    sender: &'static Field,
    /// `Message.message_type` of an outgoing message.
    outgoing: i64,
}

impl<'r> Activity<'r> {
    fn new(request: &'r ActivityRequest) -> Result<Self, GatewayError> {
        let (events, event_time) = model("ReportingEvent", "created_at")?;
        let (messages, message_time) = model("Message", "created_at")?;
        Ok(Activity {
            request,
            events,
            event_time,
            name: model("ReportingEvent", "name")?.1,
            user: model("ReportingEvent", "user_id")?.1,
            conversation: model("ReportingEvent", "conversation_id")?.1,
            value: model("ReportingEvent", "value")?.1,
            messages,
            message_time,
            sender: model("Message", "sender_id")?.1,
            outgoing: number(&MESSAGE_TYPE, "OUTGOING")?,
        })
    }

    /// The time range and inboxes every part of the report shares.
    fn common(&self, time: &'static Field) -> Vec<Filter> {
        let request = self.request;
        let mut parts = vec![
            Filter::Compare {
                property: time.odata,
                op: CompareOp::Ge,
                value: Literal::DateTime(request.from),
            },
            Filter::Compare {
                property: time.odata,
                op: CompareOp::Lt,
                value: Literal::DateTime(request.to),
            },
        ];
        if let Some(ids) = &request.inbox_ids {
            parts.push(Filter::In {
                property: "inbox_id",
                values: ids.iter().map(|&id| Literal::Int(id)).collect(),
            });
        }
        parts
    }

    fn bucketed(&self, mut s: Spec, time: &'static Field) -> Spec {
        s.bucket = self.request.bucket.map(|b| (time, b));
        s
    }

    fn has_user(&self) -> Filter {
        Filter::IsNull {
            property: self.user.odata,
            null: false,
        }
    }

    /// Assignments and resolutions: distinct conversations per agent and
    /// event name.
    fn lifecycle(&self) -> Option<Spec> {
        let w = self.request.wants;
        let mut names = Vec::new();
        if w.assigned {
            names.push(Literal::String(ASSIGNED.into()));
        }
        if w.resolved || w.avg_resolution {
            names.push(Literal::String(RESOLVED.into()));
        }
        if names.is_empty() {
            return None;
        }
        let mut filter = self.common(self.event_time);
        filter.push(Filter::In {
            property: self.name.odata,
            values: names,
        });
        filter.push(self.has_user());
        let mut s = Spec::grouped(self.events, Filter::And(filter), vec![self.user, self.name]);
        s.distinct = vec![self.conversation];
        if w.avg_resolution {
            s.numbers = vec![(NumOp::Avg, self.value)];
        }
        Some(self.bucketed(s, self.event_time))
    }

    fn first_replies(&self) -> Spec {
        let w = self.request.wants;
        let mut filter = self.common(self.event_time);
        filter.push(eq(self.name.odata, Literal::String(FIRST_REPLY.into())));
        filter.push(self.has_user());
        let mut s = Spec::grouped(self.events, Filter::And(filter), vec![self.user]);
        if w.avg_first_reply {
            s.numbers.push((NumOp::Avg, self.value));
        }
        if w.median_first_reply {
            s.numbers.push((NumOp::Median, self.value));
        }
        self.bucketed(s, self.event_time)
    }

    fn messages_sent(&self) -> Spec {
        let mut filter = self.common(self.message_time);
        filter.push(eq("message_type", Literal::Int(self.outgoing)));
        filter.push(eq("sender_type", Literal::String("User".into())));
        filter.push(eq("private", Literal::Bool(false)));
        let s = Spec::grouped(self.messages, Filter::And(filter), vec![self.sender]);
        self.bucketed(s, self.message_time)
    }
}

fn add_lifecycle(rows: &mut Rows, groups: &[Group]) {
    for g in groups {
        let event = g.key.get(1).cloned();
        let Some(r) = row(rows, g) else { continue };
        let conversations = g.distinct.first().copied().unwrap_or(0);
        match event {
            Some(KeyPart::Text(n)) if n == ASSIGNED => r.conversations_assigned = conversations,
            Some(KeyPart::Text(n)) if n == RESOLVED => {
                r.conversations_resolved = conversations;
                r.avg_resolution_seconds = g.number(0);
            }
            _ => {}
        }
    }
}

fn add_first_replies(rows: &mut Rows, s: &Spec, groups: &[Group]) {
    let at = |op: NumOp| s.numbers.iter().position(|(o, _)| *o == op);
    for g in groups {
        let Some(r) = row(rows, g) else { continue };
        r.first_replies = g.count;
        r.avg_first_reply_seconds = at(NumOp::Avg).and_then(|i| g.number(i));
        r.median_first_reply_seconds = at(NumOp::Median).and_then(|i| g.number(i));
    }
}

type Rows = BTreeMap<(Option<DateTime<Utc>>, i64), ActivityRow>;

/// The row of a group's agent (its first key) and bucket.
fn row<'r>(rows: &'r mut Rows, g: &Group) -> Option<&'r mut ActivityRow> {
    let Some(KeyPart::Int(user_id)) = g.key.first() else {
        return None;
    };
    Some(
        rows.entry((g.bucket, *user_id))
            .or_insert_with(|| ActivityRow {
                user_id: *user_id,
                bucket: g.bucket,
                ..ActivityRow::default()
            }),
    )
}
