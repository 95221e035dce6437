// Storage model: the union of every field any endpoint version serves.
// Services in srv/ project the per-version field sets. JSON columns are
// stored as JSON text; v1.1 re-types them as Map (JSON objects on the wire).
namespace liveagent;

type JsonText : Map;

entity Message {
  key id                  : Integer;
      content             : LargeString;
      account_id          : Integer;
      inbox_id            : Integer;
      conversation_id     : Integer;
      message_type        : Integer;
      created_at          : Timestamp;
      updated_at          : Timestamp;
      private             : Boolean;
      status              : Integer;
      source_id           : String;
      content_type        : Integer;
      content_attributes  : JsonText;
      sender_type         : String;
      sender_id           : Integer64; // contact ids exceed 2^31
      external_source_ids : JsonText;
}

entity Conversation {
  key id                    : Integer;
      account_id            : Integer;
      inbox_id              : Integer;
      status                : Integer;
      assignee_id           : Integer;
      created_at            : Timestamp;
      updated_at            : Timestamp;
      contact_id            : Integer64;
      display_id            : Integer;
      contact_last_seen_at  : Timestamp;
      agent_last_seen_at    : Timestamp;
      additional_attributes : JsonText;
      contact_inbox_id      : Integer;
      uuid                  : String;
      identifier            : String;
      last_activity_at      : Timestamp;
      team_id               : Integer;
      campaign_id           : Integer;
      snoozed_until         : Timestamp;
      custom_attributes     : JsonText;
      assignee_last_seen_at : Timestamp;
      cognigy_session_id    : String;
      assigned_at           : Timestamp;
      ended_at              : Timestamp;
}

entity Inbox {
  key id                       : Integer;
      channel_id               : Integer;
      name                     : String;
      email_address            : String;
      account_id               : Integer;
      created_at               : Timestamp;
      updated_at               : Timestamp;
      channel_type             : String;
      enable_auto_assignment   : Boolean;
      greeting_enabled         : Boolean;
      greeting_message         : String;
      working_hours_enabled    : Boolean;
      out_of_office_message    : Boolean; // Boolean, as the current doc says
      out_of_office_enabled    : String; // older v1.0 doc: a message text
      timezone                 : String;
      enable_email_collect     : Boolean;
      csat_survey_enabled      : Boolean;
      cognigy_organization_id  : String;
      cognigy_project_id       : String;
      enable_auto_reassignment : Boolean;
      conversation_show_all    : Boolean;
}

entity Label {
  key id               : Integer;
      title            : String;
      description      : String;
      color            : String;
      show_on_sidebar  : Boolean;
      account_id       : Integer;
      created_at       : Timestamp;
      updated_at       : Timestamp;
      conversation_ids : many Integer;
}

// Live Agent keeps users per account in a join table; here every user
// belongs to exactly one account, which is enough for isolation tests.
// account_id is never served.
entity User {
  key id                     : Integer;
      account_id             : Integer;
      provider               : String;
      uid                    : String;
      encrypted_password     : String;
      reset_password_token   : String;
      reset_password_send_at : Timestamp;
      remember_created_at    : Timestamp;
      sign_in_count          : Integer;
      current_sign_in_ip     : String;
      last_sign_in_ip        : String;
      confirmation_token     : String;
      confirmed_at           : Timestamp;
      confirmation_sent_at   : Timestamp;
      unconfirmed_email      : String;
      name                   : String;
      display_name           : String;
      email                  : String;
      tokens                 : JsonText;
      created_at             : Timestamp;
      updated_at             : Timestamp;
      pubsub_token           : String;
      availability           : Integer;
      ui_settings            : JsonText;
      custom_attributes      : JsonText;
      cognigy_user_id        : String;
      current_sign_in_at     : Timestamp;
      last_sign_in_at        : Timestamp;
      last_sign_out_at       : Timestamp;
}

entity ReportingEvent {
  key id               : Integer;
      name             : String;
      value            : Double;
      account_id       : Integer;
      conversation_id  : Integer;
      inbox_id         : Integer;
      user_id          : Integer;
      event_start_time : Timestamp;
      event_end_time   : Timestamp;
      created_at       : Timestamp;
      updated_at       : Timestamp;
}

// Generator fingerprint, so a DB_FILE can be reused across starts.
entity Meta {
  key name  : String;
      value : String;
}
