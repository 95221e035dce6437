// Loaded only with V10_LEGACY_FIELDS=1: the older v1.0 doc's extra fields.
using { V10 } from './v10';

extend projection V10.Message with {
  status, source_id, external_source_ids : LargeString
};
extend projection V10.Conversation with {
  contact_last_seen_at, identifier, campaign_id
};
extend projection V10.Inbox with {
  greeting_enabled, greeting_message, email_address, out_of_office_enabled
};
extend projection V10.User with {
  encrypted_password, reset_password_token, reset_password_send_at,
  remember_created_at, current_sign_in_ip, last_sign_in_ip,
  confirmation_token, pubsub_token
};
