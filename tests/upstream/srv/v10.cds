// Live Agent OData endpoint 1.0 (fields of the current doc's 1.0 tables).
// JSON columns are served as JSON text here (a CDL cast: no SQL CAST). Isolation as in v11.cds.
using liveagent as db from '../db/schema';

@path: '/v1.0/odata'
service V10 {
  @readonly entity Message as projection on db.Message {
    id, content, account_id, inbox_id, conversation_id, message_type,
    created_at, updated_at, private, content_type, content_attributes : LargeString,
    sender_type, sender_id
  } where account_id = $user.id;

  @readonly entity Conversation as projection on db.Conversation {
    id, account_id, inbox_id, status, assignee_id, created_at, updated_at,
    contact_id, display_id, agent_last_seen_at, additional_attributes : LargeString,
    contact_inbox_id, uuid, last_activity_at, team_id, snoozed_until,
    custom_attributes : LargeString, assignee_last_seen_at, cognigy_session_id,
    assigned_at, ended_at
  } where account_id = $user.id;

  @readonly entity Inbox as projection on db.Inbox {
    id, channel_id, name, account_id, created_at, updated_at, channel_type,
    enable_auto_assignment, working_hours_enabled, out_of_office_message,
    timezone, enable_email_collect, csat_survey_enabled,
    cognigy_organization_id, cognigy_project_id, enable_auto_reassignment,
    conversation_show_all
  } where account_id = $user.id;

  @readonly entity Label as projection on db.Label {
    id, title, description, color, show_on_sidebar, account_id, created_at,
    updated_at, conversation_ids
  } where account_id = $user.id;

  @readonly entity User as projection on db.User {
    id, provider, uid, confirmed_at, confirmation_sent_at, unconfirmed_email,
    name, display_name, email, tokens : LargeString, created_at, updated_at, availability,
    ui_settings : LargeString, custom_attributes : LargeString, cognigy_user_id, sign_in_count,
    current_sign_in_at, last_sign_in_at, last_sign_out_at
  } where account_id = $user.id;

  @readonly entity ReportingEvent as projection on db.ReportingEvent {
    id, event_start_time, event_end_time, name, value, created_at, updated_at,
    account_id, conversation_id, inbox_id, user_id
  } where account_id = $user.id;
}
