//! Relations between collections, as data. One generic mechanism (batched
//! loaders, or `$expand` when the upstream declares the navigation property)
//! serves every row of this table.

use super::entities::{entity, ENTITIES};
use super::types::{ApiVersion, Entity, KEY};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// This row's `local` column holds the target's key (Conversation.inbox_id).
    ToOne { local: &'static str },
    /// Target rows whose `remote` column holds this row's key.
    ToMany { remote: &'static str },
    /// This row's list column `local` holds target keys (Label.conversation_ids).
    KeysInList { local: &'static str },
    /// Target rows whose list column `remote` holds this row's key.
    ListHoldsKey { remote: &'static str },
}

/// How a relation appears in GraphQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    One,
    /// `[Target!]` with `where`, `orderBy`, `first`.
    List,
    /// A connection with `where`, `orderBy`, `first`, `totalCount`.
    Connection,
}

#[derive(Debug)]
pub struct Relation {
    /// GraphQL field name.
    pub name: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub join: Join,
    pub shape: Shape,
    /// OData navigation property used with `$expand` when `$metadata` declares it.
    pub navigation: &'static str,
    /// Only rows whose column equals this value have the relation
    /// (a message's `sender` is a User only when `sender_type` is `User`).
    pub only_when: Option<(&'static str, &'static str)>,
    pub description: &'static str,
}

const fn rel(
    from: &'static str,
    name: &'static str,
    to: &'static str,
    join: Join,
    shape: Shape,
    navigation: &'static str,
    description: &'static str,
) -> Relation {
    Relation {
        name,
        from,
        to,
        join,
        shape,
        navigation,
        only_when: None,
        description,
    }
}

use Join::*;
use Shape::*;

pub static RELATIONS: &[Relation] = &[
    rel(
        "Conversation",
        "inbox",
        "Inbox",
        ToOne { local: "inbox_id" },
        One,
        "inbox",
        "Inbox of the conversation.",
    ),
    rel(
        "Conversation",
        "assignee",
        "User",
        ToOne {
            local: "assignee_id",
        },
        One,
        "assignee",
        "Agent assigned to the conversation.",
    ),
    rel(
        "Conversation",
        "labels",
        "Label",
        ListHoldsKey {
            remote: "conversation_ids",
        },
        List,
        "labels",
        "Labels on the conversation.",
    ),
    rel(
        "Conversation",
        "messages",
        "Message",
        ToMany {
            remote: "conversation_id",
        },
        List,
        "messages",
        "Messages of the conversation.",
    ),
    rel(
        "Conversation",
        "reportingEvents",
        "ReportingEvent",
        ToMany {
            remote: "conversation_id",
        },
        List,
        "reporting_events",
        "Reporting events of the conversation.",
    ),
    rel(
        "Message",
        "conversation",
        "Conversation",
        ToOne {
            local: "conversation_id",
        },
        One,
        "conversation",
        "Conversation of the message.",
    ),
    rel(
        "Message",
        "inbox",
        "Inbox",
        ToOne { local: "inbox_id" },
        One,
        "inbox",
        "Inbox of the message.",
    ),
    Relation {
        only_when: Some(("sender_type", "User")),
        ..rel(
            "Message",
            "sender",
            "User",
            ToOne { local: "sender_id" },
            One,
            "sender",
            "The agent who sent the message; null unless senderType is User.",
        )
    },
    rel(
        "Inbox",
        "conversations",
        "Conversation",
        ToMany { remote: "inbox_id" },
        Connection,
        "conversations",
        "Conversations of the inbox.",
    ),
    rel(
        "Label",
        "conversations",
        "Conversation",
        KeysInList {
            local: "conversation_ids",
        },
        Connection,
        "conversations",
        "Conversations carrying the label.",
    ),
    rel(
        "User",
        "assignedConversations",
        "Conversation",
        ToMany {
            remote: "assignee_id",
        },
        Connection,
        "assigned_conversations",
        "Conversations assigned to the user.",
    ),
    rel(
        "ReportingEvent",
        "conversation",
        "Conversation",
        ToOne {
            local: "conversation_id",
        },
        One,
        "conversation",
        "Conversation of the event.",
    ),
    rel(
        "ReportingEvent",
        "inbox",
        "Inbox",
        ToOne { local: "inbox_id" },
        One,
        "inbox",
        "Inbox of the event.",
    ),
    rel(
        "ReportingEvent",
        "user",
        "User",
        ToOne { local: "user_id" },
        One,
        "user",
        "User (agent) of the event.",
    ),
];

impl Relation {
    pub fn source(&self) -> &'static Entity {
        entity(self.from).unwrap_or(&ENTITIES[0])
    }

    pub fn target(&self) -> &'static Entity {
        entity(self.to).unwrap_or(&ENTITIES[0])
    }

    /// Columns of the source row the join reads.
    pub fn local_columns(&self) -> Vec<&'static str> {
        let mut columns = match self.join {
            Join::ToOne { local } | Join::KeysInList { local } => vec![local],
            Join::ToMany { .. } | Join::ListHoldsKey { .. } => vec![KEY],
        };
        if let Some((column, _)) = self.only_when {
            columns.push(column);
        }
        columns
    }

    /// Columns of the target rows the join reads.
    pub fn remote_columns(&self) -> Vec<&'static str> {
        match self.join {
            Join::ToOne { .. } | Join::KeysInList { .. } => vec![KEY],
            Join::ToMany { remote } | Join::ListHoldsKey { remote } => vec![KEY, remote],
        }
    }

    /// A relation exists in a version when every column it joins on does.
    pub fn available(&self, version: ApiVersion) -> bool {
        let has = |e: &Entity, column: &str| e.fields_for(version, true).any(|f| f.odata == column);
        self.local_columns().iter().all(|c| has(self.source(), c))
            && self.remote_columns().iter().all(|c| has(self.target(), c))
    }
}

/// The relations of an entity in a version.
pub fn relations_of(
    entity: &Entity,
    version: ApiVersion,
) -> impl Iterator<Item = &'static Relation> + '_ {
    RELATIONS
        .iter()
        .filter(move |r| r.from == entity.name && r.available(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_relation_names_real_entities_and_columns() {
        for r in RELATIONS {
            assert!(
                entity(r.from).is_some() && entity(r.to).is_some(),
                "{}",
                r.name
            );
            assert!(
                r.available(ApiVersion::V1_0),
                "{}.{} on 1.0",
                r.from,
                r.name
            );
        }
    }

    #[test]
    fn label_relations_exist_only_where_conversation_ids_does() {
        let on = |v| RELATIONS.iter().filter(|r| r.available(v)).count();
        assert_eq!(on(ApiVersion::V1_0), RELATIONS.len());
        assert_eq!(on(ApiVersion::V1_1), RELATIONS.len() - 2);
    }
}
