//! The six Live Agent collections, field by field, for endpoint versions 1.0
//! and 1.1. Secret User columns (see `SECRET_COLUMNS`) are deliberately absent.

use super::enums::{CONVERSATION_STATUS, MESSAGE_CONTENT_TYPE, MESSAGE_STATUS, MESSAGE_TYPE};
use super::types::{Entity, Field, FieldType, FieldType::*};

const fn f(odata: &'static str, ty: FieldType, description: &'static str) -> Field {
    Field::new(odata, ty, description)
}

pub static ENTITIES: &[Entity] = &[MESSAGE, CONVERSATION, INBOX, LABEL, USER, REPORTING_EVENT];

const MESSAGE: Entity = Entity {
    name: "Message",
    plural: "messages",
    description: "One message of a conversation, written by a contact, an agent or a bot.",
    fields: &[
        f("id", Int, "Message id."),
        f("content", String, "Text of the message."),
        f("account_id", Int, "Account the message belongs to."),
        f("inbox_id", Int, "Inbox of the message.").groupable(),
        f("conversation_id", Int, "Conversation of the message.").groupable(),
        f(
            "message_type",
            Enum(&MESSAGE_TYPE),
            "Direction or kind of the message.",
        )
        .groupable(),
        f("created_at", DateTime, "When the message was created."),
        f("updated_at", DateTime, "When the message was last updated."),
        f(
            "private",
            Boolean,
            "True for private notes that the contact does not see.",
        )
        .groupable(),
        f("status", Enum(&MESSAGE_STATUS), "Delivery status.")
            .groupable()
            .older_v1_0(),
        f(
            "source_id",
            String,
            "Identifier of the message in its source channel.",
        )
        .older_v1_0(),
        f(
            "content_type",
            Enum(&MESSAGE_CONTENT_TYPE),
            "Kind of content.",
        )
        .groupable(),
        f(
            "content_attributes",
            Json,
            "Structured attributes of the content.",
        ),
        f(
            "sender_type",
            String,
            "Kind of sender, e.g. User, Contact, AgentBot.",
        )
        .groupable(),
        f(
            "sender_id",
            Int,
            "Id of the sender (a User id when senderType is User).",
        )
        .groupable(),
        f(
            "external_source_ids",
            Json,
            "Ids of the message in external systems.",
        )
        .older_v1_0()
        .v1_0_only(),
    ],
};

const CONVERSATION: Entity = Entity {
    name: "Conversation",
    plural: "conversations",
    description: "A conversation between a contact and agents in one inbox.",
    fields: &[
        f("id", Int, "Conversation id."),
        f("account_id", Int, "Account the conversation belongs to."),
        f("inbox_id", Int, "Inbox of the conversation.").groupable(),
        f("status", Enum(&CONVERSATION_STATUS), "Conversation status.").groupable(),
        f(
            "assignee_id",
            Int,
            "Agent (User) assigned to the conversation; null when unassigned.",
        )
        .groupable(),
        f("created_at", DateTime, "When the conversation was created."),
        f(
            "updated_at",
            DateTime,
            "When the conversation was last updated.",
        ),
        f("contact_id", Int, "Contact of the conversation.").groupable(),
        f(
            "display_id",
            Int,
            "Number shown in the Live Agent interface.",
        ),
        f(
            "contact_last_seen_at",
            DateTime,
            "When the contact last saw the conversation.",
        )
        .older_v1_0(),
        f(
            "agent_last_seen_at",
            DateTime,
            "When an agent last saw the conversation.",
        ),
        f("additional_attributes", Json, "Additional attributes."),
        f("contact_inbox_id", Int, "Contact inbox id."),
        f("uuid", String, "Unique identifier."),
        f("identifier", String, "Identifier.").older_v1_0(),
        f("last_activity_at", DateTime, "Time of the last activity."),
        f("team_id", Int, "Team of the conversation.").groupable(),
        f(
            "campaign_id",
            Int,
            "Campaign that started the conversation.",
        )
        .groupable()
        .older_v1_0()
        .v1_0_only(),
        f("snoozed_until", DateTime, "End of the snooze."),
        f("custom_attributes", Json, "Custom attributes."),
        f(
            "assignee_last_seen_at",
            DateTime,
            "When the assignee last saw the conversation.",
        ),
        f("cognigy_session_id", String, "Cognigy session id."),
        f(
            "assigned_at",
            DateTime,
            "When the conversation was assigned to a human agent.",
        )
        .v1_0_only(),
        f(
            "ended_at",
            DateTime,
            "When the agent resolved or abandoned the conversation.",
        )
        .v1_0_only(),
    ],
};

const INBOX: Entity = Entity {
    name: "Inbox",
    plural: "inboxes",
    description: "An inbox: the channel through which conversations reach a set of agents.",
    fields: &[
        f("id", Int, "Inbox id."),
        f("channel_id", Int, "Channel id."),
        f("name", String, "Inbox name."),
        f("email_address", String, "Email address of the inbox.").older_v1_0(),
        f("account_id", Int, "Account the inbox belongs to."),
        f("created_at", DateTime, "When the inbox was created."),
        f("updated_at", DateTime, "When the inbox was last updated."),
        f(
            "channel_type",
            String,
            "Channel type, e.g. Channel::WebWidget.",
        )
        .groupable(),
        f(
            "enable_auto_assignment",
            Boolean,
            "Conversations are assigned automatically.",
        )
        .groupable(),
        f(
            "greeting_enabled",
            Boolean,
            "A greeting is sent automatically.",
        )
        .groupable()
        .older_v1_0(),
        f("greeting_message", String, "The automatic greeting.").older_v1_0(),
        f("working_hours_enabled", Boolean, "Working hours apply.").groupable(),
        f(
            "out_of_office_message",
            Boolean,
            "Out-of-office handling is on.",
        ),
        f(
            "out_of_office_enabled",
            String,
            "Message shown out of office hours.",
        )
        .older_v1_0()
        .v1_0_only(),
        f("timezone", String, "Time zone of the inbox.").groupable(),
        f(
            "enable_email_collect",
            Boolean,
            "The contact's email is collected.",
        ),
        f("csat_survey_enabled", Boolean, "A CSAT survey is sent.").groupable(),
        f(
            "cognigy_organization_id",
            String,
            "Cognigy organisation id.",
        ),
        f("cognigy_project_id", String, "Cognigy project id."),
        f(
            "enable_auto_reassignment",
            Boolean,
            "Conversations may be reassigned automatically.",
        ),
        f(
            "conversation_show_all",
            Boolean,
            "Agents see all conversations of the inbox.",
        ),
    ],
};

const LABEL: Entity = Entity {
    name: "Label",
    plural: "labels",
    description: "A label that marks conversations.",
    fields: &[
        f("id", Int, "Label id."),
        f("title", String, "Title."),
        f("description", String, "Description."),
        f("color", String, "Colour.").groupable(),
        f("show_on_sidebar", Boolean, "Shown on the sidebar.").groupable(),
        f("account_id", Int, "Account the label belongs to."),
        f("created_at", DateTime, "When the label was created."),
        f("updated_at", DateTime, "When the label was last updated."),
        f(
            "conversation_ids",
            IntList,
            "Ids of the conversations that carry the label.",
        )
        .v1_0_only(),
    ],
};

const USER: Entity = Entity {
    name: "User",
    plural: "users",
    description: "A Live Agent user, such as an agent. Credentials and tokens are never exposed.",
    fields: &[
        f("id", Int, "User id."),
        f("provider", String, "Sign-in provider, e.g. email.").groupable(),
        f("uid", String, "Identifier at the provider."),
        f(
            "reset_password_send_at",
            DateTime,
            "When a password reset was sent.",
        )
        .older_v1_0(),
        f(
            "remember_created_at",
            DateTime,
            "When 'remember me' was set.",
        )
        .older_v1_0(),
        f("sign_in_count", Int, "Number of sign-ins.").measure(),
        f(
            "current_sign_in_at",
            DateTime,
            "Time of the latest sign-in.",
        ),
        f(
            "last_sign_in_at",
            DateTime,
            "Time of the sign-in before the latest.",
        ),
        f(
            "current_sign_in_ip",
            String,
            "IP address of the latest sign-in.",
        )
        .older_v1_0()
        .sensitive(),
        f(
            "last_sign_in_ip",
            String,
            "IP address of the sign-in before the latest.",
        )
        .older_v1_0()
        .sensitive(),
        f(
            "confirmed_at",
            DateTime,
            "When the email address was confirmed.",
        ),
        f(
            "confirmation_sent_at",
            DateTime,
            "When the confirmation was sent.",
        ),
        f(
            "unconfirmed_email",
            String,
            "Email address awaiting confirmation.",
        ),
        f("name", String, "Name."),
        f("display_name", String, "Display name."),
        f("email", String, "Email address."),
        f("created_at", DateTime, "When the user was created."),
        f("updated_at", DateTime, "When the user was last updated."),
        f("availability", Int, "Availability code.").groupable(),
        f("ui_settings", Json, "Interface settings."),
        f("custom_attributes", Json, "Custom attributes."),
        f("cognigy_user_id", String, "Cognigy user id."),
        f("last_sign_out_at", DateTime, "Time of the latest sign-out.").v1_0_only(),
    ],
};

const REPORTING_EVENT: Entity = Entity {
    name: "ReportingEvent",
    plural: "reportingEvents",
    description:
        "A tracked event for reporting, e.g. first_reply_created or conversation_resolved.",
    fields: &[
        f("id", Int, "Reporting event id."),
        f("event_start_time", DateTime, "Start of the event."),
        f("event_end_time", DateTime, "End of the event."),
        f(
            "name",
            String,
            "Event name, e.g. first_reply_created, conversation_resolved.",
        )
        .groupable(),
        f(
            "value",
            Float,
            "Value of the event, in seconds for durations.",
        )
        .measure(),
        f("created_at", DateTime, "When the event was recorded."),
        f("updated_at", DateTime, "When the event was last updated."),
        f("account_id", Int, "Account of the event."),
        f("conversation_id", Int, "Conversation of the event.").groupable(),
        f("inbox_id", Int, "Inbox of the event.").groupable(),
        f("user_id", Int, "User (agent) of the event.").groupable(),
    ],
};

pub fn entity(name: &str) -> Option<&'static Entity> {
    ENTITIES.iter().find(|e| e.name == name)
}
