// Live Agent OData endpoint 1.1 (fields of the current doc's 1.1 tables).
// Every entity is restricted to the caller's account in the view itself
// ($user.id carries the account number, see lib/auth.js), so isolation holds
// for key lookups, $count and $apply alike.
using liveagent as db from '../db/schema';

@path: '/v1.1/odata'
service V11 {
  @readonly entity Message as projection on db.Message {
    id, content, account_id, inbox_id, conversation_id, message_type,
    created_at, updated_at, private, status, source_id, content_type,
    content_attributes, sender_type, sender_id
  } where account_id = $user.id;

  @readonly entity Conversation as projection on db.Conversation {
    id, account_id, inbox_id, status, assignee_id, created_at, updated_at,
    contact_id, display_id, contact_last_seen_at, agent_last_seen_at,
    additional_attributes, contact_inbox_id, uuid, identifier,
    last_activity_at, team_id, snoozed_until, custom_attributes,
    assignee_last_seen_at, cognigy_session_id
  } where account_id = $user.id;

  @readonly entity Inbox as projection on db.Inbox {
    id, channel_id, name, email_address, account_id, created_at, updated_at,
    channel_type, enable_auto_assignment, greeting_enabled, greeting_message,
    working_hours_enabled, out_of_office_message, timezone,
    enable_email_collect, csat_survey_enabled, cognigy_organization_id,
    cognigy_project_id, enable_auto_reassignment, conversation_show_all
  } where account_id = $user.id;

  @readonly entity Label as projection on db.Label {
    id, title, description, color, show_on_sidebar, account_id, created_at,
    updated_at
  } where account_id = $user.id;

  @readonly entity User as projection on db.User {
    id, provider, uid, encrypted_password, reset_password_token,
    reset_password_send_at, remember_created_at, sign_in_count,
    current_sign_in_ip, last_sign_in_ip, confirmation_token, confirmed_at,
    confirmation_sent_at, unconfirmed_email, name, display_name, email,
    tokens, created_at, updated_at, pubsub_token, availability,
    ui_settings, custom_attributes, cognigy_user_id,
    current_sign_in_at, last_sign_in_at
  } where account_id = $user.id;

  @readonly entity ReportingEvent as projection on db.ReportingEvent {
    id, event_start_time, event_end_time, name, value, created_at, updated_at,
    account_id, conversation_id, inbox_id, user_id
  } where account_id = $user.id;
}
