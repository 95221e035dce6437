// The Live Agent model: storage columns (the union of every version's
// fields, as ../upstream/db/schema.cds) and the fields each endpoint version
// serves, in the order of ../upstream/srv/v10.cds and v11.cds.
// Types: int (Edm.Int32), bigint (Edm.Int64), double, bool, text, time
// (Edm.DateTimeOffset), json (JSON text on v1.0, a JSON value on v1.1),
// ints (Collection(Edm.Int32)).
const STORAGE = {
  Message: {
    id: 'int', content: 'text', account_id: 'int', inbox_id: 'int', conversation_id: 'int', message_type: 'int',
    created_at: 'time', updated_at: 'time', private: 'bool', status: 'int', source_id: 'text', content_type: 'int',
    content_attributes: 'json', sender_type: 'text', sender_id: 'bigint', external_source_ids: 'json',
  },
  Conversation: {
    id: 'int', account_id: 'int', inbox_id: 'int', status: 'int', assignee_id: 'int', created_at: 'time',
    updated_at: 'time', contact_id: 'bigint', display_id: 'int', contact_last_seen_at: 'time',
    agent_last_seen_at: 'time', additional_attributes: 'json', contact_inbox_id: 'int', uuid: 'text',
    identifier: 'text', last_activity_at: 'time', team_id: 'int', campaign_id: 'int', snoozed_until: 'time',
    custom_attributes: 'json', assignee_last_seen_at: 'time', cognigy_session_id: 'text', assigned_at: 'time',
    ended_at: 'time',
  },
  Inbox: {
    id: 'int', channel_id: 'int', name: 'text', email_address: 'text', account_id: 'int', created_at: 'time',
    updated_at: 'time', channel_type: 'text', enable_auto_assignment: 'bool', greeting_enabled: 'bool',
    greeting_message: 'text', working_hours_enabled: 'bool', out_of_office_message: 'bool',
    out_of_office_enabled: 'text', timezone: 'text', enable_email_collect: 'bool', csat_survey_enabled: 'bool',
    cognigy_organization_id: 'text', cognigy_project_id: 'text', enable_auto_reassignment: 'bool',
    conversation_show_all: 'bool',
  },
  Label: {
    id: 'int', title: 'text', description: 'text', color: 'text', show_on_sidebar: 'bool', account_id: 'int',
    created_at: 'time', updated_at: 'time', conversation_ids: 'ints',
  },
  // Every user belongs to one account here; account_id is never served.
  User: {
    id: 'int', account_id: 'int', provider: 'text', uid: 'text', encrypted_password: 'text',
    reset_password_token: 'text', reset_password_send_at: 'time', remember_created_at: 'time',
    sign_in_count: 'int', current_sign_in_ip: 'text', last_sign_in_ip: 'text', confirmation_token: 'text',
    confirmed_at: 'time', confirmation_sent_at: 'time', unconfirmed_email: 'text', name: 'text',
    display_name: 'text', email: 'text', tokens: 'json', created_at: 'time', updated_at: 'time',
    pubsub_token: 'text', availability: 'int', ui_settings: 'json', custom_attributes: 'json',
    cognigy_user_id: 'text', current_sign_in_at: 'time', last_sign_in_at: 'time', last_sign_out_at: 'time',
  },
  ReportingEvent: {
    id: 'int', name: 'text', value: 'double', account_id: 'int', conversation_id: 'int', inbox_id: 'int',
    user_id: 'int', event_start_time: 'time', event_end_time: 'time', created_at: 'time', updated_at: 'time',
  },
}

const words = s => s.trim().split(/[\s,]+/)

const VERSIONS = {
  '1.0': {
    Message: words(`id, content, account_id, inbox_id, conversation_id, message_type, created_at, updated_at,
      private, content_type, content_attributes, sender_type, sender_id`),
    Conversation: words(`id, account_id, inbox_id, status, assignee_id, created_at, updated_at, contact_id,
      display_id, agent_last_seen_at, additional_attributes, contact_inbox_id, uuid, last_activity_at, team_id,
      snoozed_until, custom_attributes, assignee_last_seen_at, cognigy_session_id, assigned_at, ended_at`),
    Inbox: words(`id, channel_id, name, account_id, created_at, updated_at, channel_type, enable_auto_assignment,
      working_hours_enabled, out_of_office_message, timezone, enable_email_collect, csat_survey_enabled,
      cognigy_organization_id, cognigy_project_id, enable_auto_reassignment, conversation_show_all`),
    Label: words('id, title, description, color, show_on_sidebar, account_id, created_at, updated_at, conversation_ids'),
    User: words(`id, provider, uid, confirmed_at, confirmation_sent_at, unconfirmed_email, name, display_name, email,
      tokens, created_at, updated_at, availability, ui_settings, custom_attributes, cognigy_user_id, sign_in_count,
      current_sign_in_at, last_sign_in_at, last_sign_out_at`),
    ReportingEvent: words(`id, event_start_time, event_end_time, name, value, created_at, updated_at, account_id,
      conversation_id, inbox_id, user_id`),
  },
  '1.1': {
    Message: words(`id, content, account_id, inbox_id, conversation_id, message_type, created_at, updated_at,
      private, status, source_id, content_type, content_attributes, sender_type, sender_id`),
    Conversation: words(`id, account_id, inbox_id, status, assignee_id, created_at, updated_at, contact_id,
      display_id, contact_last_seen_at, agent_last_seen_at, additional_attributes, contact_inbox_id, uuid,
      identifier, last_activity_at, team_id, snoozed_until, custom_attributes, assignee_last_seen_at,
      cognigy_session_id`),
    Inbox: words(`id, channel_id, name, email_address, account_id, created_at, updated_at, channel_type,
      enable_auto_assignment, greeting_enabled, greeting_message, working_hours_enabled, out_of_office_message,
      timezone, enable_email_collect, csat_survey_enabled, cognigy_organization_id, cognigy_project_id,
      enable_auto_reassignment, conversation_show_all`),
    Label: words('id, title, description, color, show_on_sidebar, account_id, created_at, updated_at'),
    User: words(`id, provider, uid, encrypted_password, reset_password_token, reset_password_send_at,
      remember_created_at, sign_in_count, current_sign_in_ip, last_sign_in_ip, confirmation_token, confirmed_at,
      confirmation_sent_at, unconfirmed_email, name, display_name, email, tokens, created_at, updated_at,
      pubsub_token, availability, ui_settings, custom_attributes, cognigy_user_id, current_sign_in_at,
      last_sign_in_at`),
    ReportingEvent: words(`id, event_start_time, event_end_time, name, value, created_at, updated_at, account_id,
      conversation_id, inbox_id, user_id`),
  },
}

// PostgreSQL schema of each version's views.
const SCHEMA = { '1.0': 'v10', '1.1': 'v11' }

module.exports = { STORAGE, VERSIONS, SCHEMA }
