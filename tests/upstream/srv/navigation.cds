// Loaded only with DECLARE_NAVIGATION=1: navigation properties (unmanaged
// associations) on both services. Targets are the service entities, so an
// expanded row passes the same account filter as a top-level one.
using { V10 } from './v10';
using { V11 } from './v11';

extend projection V10.Conversation with {
  inbox            : Association to V10.Inbox on inbox.id = inbox_id,
  assignee         : Association to V10.User on assignee.id = assignee_id,
  messages         : Association to many V10.Message on messages.conversation_id = id,
  reporting_events : Association to many V10.ReportingEvent on reporting_events.conversation_id = id
};
extend projection V10.Message with {
  conversation : Association to V10.Conversation on conversation.id = conversation_id,
  inbox        : Association to V10.Inbox on inbox.id = inbox_id,
  sender       : Association to V10.User on sender.id = sender_id and sender_type = 'User'
};
extend projection V10.Inbox with {
  conversations : Association to many V10.Conversation on conversations.inbox_id = id
};
extend projection V10.User with {
  assigned_conversations : Association to many V10.Conversation on assigned_conversations.assignee_id = id
};
extend projection V10.ReportingEvent with {
  conversation : Association to V10.Conversation on conversation.id = conversation_id,
  inbox        : Association to V10.Inbox on inbox.id = inbox_id,
  user         : Association to V10.User on user.id = user_id
};

extend projection V11.Conversation with {
  inbox            : Association to V11.Inbox on inbox.id = inbox_id,
  assignee         : Association to V11.User on assignee.id = assignee_id,
  messages         : Association to many V11.Message on messages.conversation_id = id,
  reporting_events : Association to many V11.ReportingEvent on reporting_events.conversation_id = id
};
extend projection V11.Message with {
  conversation : Association to V11.Conversation on conversation.id = conversation_id,
  inbox        : Association to V11.Inbox on inbox.id = inbox_id,
  sender       : Association to V11.User on sender.id = sender_id and sender_type = 'User'
};
extend projection V11.Inbox with {
  conversations : Association to many V11.Conversation on conversations.inbox_id = id
};
extend projection V11.User with {
  assigned_conversations : Association to many V11.Conversation on assigned_conversations.assignee_id = id
};
extend projection V11.ReportingEvent with {
  conversation : Association to V11.Conversation on conversation.id = conversation_id,
  inbox        : Association to V11.Inbox on inbox.id = inbox_id,
  user         : Association to V11.User on user.id = user_id
};
