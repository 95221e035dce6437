// Deterministic Live Agent data. generate(n) yields [entity, rows] chunks:
// inboxes, users, then conversation by conversation (with its messages and
// reporting events), and labels last (they carry conversation_ids).
// Ids are one global space per entity, with the two accounts interleaved.
const random = require('./random')
const F = require('./fixtures')

const START = Date.UTC(2025, 10, 1) // 2025-11-01
const END = Date.UTC(2026, 9, 28) // conversations start by then, messages end before 2026-11
const SEC = 1000, MIN = 60 * SEC, HOUR = 60 * MIN, DAY = 24 * HOUR
const iso = ms => (ms == null ? null : new Date(ms).toISOString())
const json = v => (v == null ? null : JSON.stringify(v))

// Conversations of account 1 created exactly on these instants (DST switches
// of America/New_York, Europe/Berlin and Australia/Lord_Howe's half-hour
// ones, and a year boundary), see README.
const EDGES = [
  '2025-11-02T05:59:59.999Z', '2025-11-02T06:00:00.000Z',
  '2025-12-31T23:00:00.000Z', '2026-01-01T00:00:00.000Z',
  '2026-03-08T07:00:00.000Z',
  '2026-03-29T00:59:59.999Z', '2026-03-29T01:00:00.000Z',
  '2026-04-04T14:45:00.000Z', '2026-04-04T15:15:00.000Z', '2026-04-04T15:45:00.000Z',
  '2026-10-03T15:15:00.000Z', '2026-10-03T15:45:00.000Z', '2026-10-03T16:15:00.000Z',
  '2026-10-25T00:30:00.000Z', '2026-10-25T01:30:00.000Z',
].map(Date.parse)

// Per-account ordinal overrides (0-based count of the account's messages).
const MESSAGE_OVERRIDES = {
  1: {
    3: { content: F.AWKWARD }, 11: { content: F.AWKWARD }, 19: { content: F.AWKWARD },
    27: { content: F.AWKWARD_AGAIN }, 35: { content: F.AWKWARD_AGAIN },
    7: { content_type: 4242 },
    ...Object.fromEntries(F.ODD_CONTENTS.map((c, i) => [40 + 2 * i, { content: c }])),
  },
  2: {
    2: { content: F.AWKWARD },
    ...Object.fromEntries(F.ODD_CONTENTS.map((c, i) => [4 + i, { content: c }])),
  },
}
const STATUS_7_CONVERSATION = 4 // account 1's fifth conversation

function* generate(n) {
  const r = random(20251101)
  const accounts = [
    { id: 1, conversations: n, inboxes: 6, users: 12, labels: 10 },
    { id: 2, conversations: Math.floor(n / 5), inboxes: 5, users: 10, labels: 8 },
  ]
  const ids = { inbox: 0, user: 0, label: 0, conversation: 0, message: 0, event: 0 }
  const past = () => START - r.int(30, 400) * DAY + r.int(0, DAY - 1)

  for (const a of accounts) {
    a.inboxRows = F.INBOXES.slice(0, a.inboxes).map((t, i) => inbox(r, ++ids.inbox, a.id, t, i, past()))
    a.userRows = Array.from({ length: a.users }, (_, i) =>
      user(r, ++ids.user, a.id, F.USERS[(i + 2 * (a.id - 1)) % F.USERS.length], past()))
    a.labelRows = F.LABELS.slice(0, a.labels).map(([title, description, color]) => {
      const t = past()
      return {
        id: ++ids.label, title, description, color, show_on_sidebar: r.chance(0.2) ? null : r.chance(0.7),
        account_id: a.id, created_at: iso(t), updated_at: iso(t + r.int(0, 90) * DAY), conversation_ids: [],
      }
    })
    a.done = 0; a.messages = 0
    yield ['Inbox', a.inboxRows]
    yield ['User', a.userRows]
  }

  // Interleave: every sixth conversation belongs to account 2 while it has quota.
  const total = accounts[0].conversations + accounts[1].conversations
  const edges = [...EDGES]
  for (let k = 0; k < total; k++) {
    const a2 = accounts[1]
    const a = (k % 6 === 5 && a2.done < a2.conversations) || accounts[0].done >= accounts[0].conversations ? a2 : accounts[0]
    let t0 = Math.floor(START + ((END - START) * (k + r.next())) / total)
    if (a.id === 1 && edges.length && edges[0] <= t0) t0 = edges.shift()
    yield* conversation(r, a, ++ids.conversation, t0, ids)
    a.done++
  }
  yield ['Label', [...accounts[0].labelRows, ...accounts[1].labelRows]]
}

function inbox(r, id, account_id, t, i, created) {
  return {
    id, channel_id: 100 + id, name: t.name, email_address: t.email ?? null, account_id,
    created_at: iso(created), updated_at: iso(created + r.int(0, 200) * DAY), channel_type: t.channel_type,
    enable_auto_assignment: r.chance(0.7), greeting_enabled: i % 2 === 0,
    greeting_message: i % 2 === 0 ? r.pick(['Hi there! 👋', 'Welcome, how can we help?']) : null,
    working_hours_enabled: r.chance(0.5), out_of_office_message: r.chance(0.3),
    out_of_office_enabled: r.chance(0.5) ? 'Out of office hours, try again tomorrow' : null,
    timezone: F.TIMEZONES[i % F.TIMEZONES.length], enable_email_collect: r.chance(0.6),
    csat_survey_enabled: r.chance(0.5), cognigy_organization_id: i === 1 ? null : r.hex(24),
    cognigy_project_id: i === 1 ? null : r.hex(24), enable_auto_reassignment: r.chance(0.4),
    conversation_show_all: i === 2 ? null : r.chance(0.5),
  }
}

function user(r, id, account_id, [name, display_name], created) {
  const email = `agent${id}@acme${account_id}.example.com`
  const signIn = created + r.int(1, 300) * DAY
  const maybe = (p, v) => (r.chance(p) ? v : null)
  return {
    id, account_id, provider: 'email', uid: email,
    encrypted_password: '$2a$11$' + r.hex(53), reset_password_token: maybe(0.2, '$2a$11$' + r.hex(53)),
    reset_password_send_at: maybe(0.2, iso(created + DAY)), remember_created_at: maybe(0.5, iso(signIn)),
    sign_in_count: r.int(0, 400), current_sign_in_ip: maybe(0.8, `10.0.${account_id}.${id}`),
    last_sign_in_ip: maybe(0.7, `10.0.${account_id}.${id + 100}`),
    confirmation_token: maybe(0.3, r.hex(20)), confirmed_at: maybe(0.9, iso(created + HOUR)),
    confirmation_sent_at: iso(created), unconfirmed_email: maybe(0.15, `new.${email}`),
    name, display_name, email,
    tokens: r.chance(0.3) ? null : json({ [r.hex(22)]: { token: '$2a$10$' + r.hex(40), expiry: 1644763988 + r.int(0, 1e7) } }),
    created_at: iso(created), updated_at: iso(signIn), pubsub_token: r.hex(24), availability: r.int(0, 2),
    ui_settings: r.chance(0.25) ? null : json({ is_conv_actions_open: r.chance(0.5), is_contact_sidebar_open: true }),
    custom_attributes: r.chance(0.3) ? null : json(r.chance(0.5) ? {} : { team: 'L2', languages: ['de', 'en'] }),
    cognigy_user_id: maybe(0.8, r.hex(24)), current_sign_in_at: iso(signIn),
    last_sign_in_at: maybe(0.8, iso(signIn - r.int(1, 20) * DAY)), last_sign_out_at: maybe(0.6, iso(signIn + r.int(1, 9) * HOUR)),
  }
}

// A gap between two events: whole seconds, half seconds or any milliseconds,
// so that reporting values are a mix of integral and decimal numbers.
const gap = (r, min, max) => {
  const s = r.int(min, max)
  return s * SEC + r.weighted([[0, 5], [500, 2], [r.int(1, 999), 3]])
}

function* conversation(r, a, id, t0, ids) {
  const ord = a.done
  const inbox = r.pick(a.inboxRows)
  const agents = a.userRows
  let status = r.weighted([[0, 25], [1, 50], [2, 15], [3, 10]])
  if (a.id === 1 && ord === STATUS_7_CONVERSATION) status = 7
  const assignee = r.chance(status === 1 ? 0.95 : 0.75) ? r.pick(agents).id : null
  const contact_id = r.chance(0.06) ? 3000000000 + r.int(0, 999999999) : r.int(1000, 250000)

  // Messages
  const msgs = []
  let t = t0
  const push = (message_type, sender_type, sender_id, content, extra = {}) =>
    msgs.push({ message_type, sender_type, sender_id, content, t, ...extra })
  push(0, 'Contact', contact_id, r.pick(F.INCOMING))
  if (inbox.channel_type !== 'Channel::Email' && r.chance(0.35)) {
    t += gap(r, 1, 5)
    push(1, 'AgentBot', r.int(1, 2), r.pick(F.BOT))
  }
  let assigned_at = null
  if (assignee) {
    t += gap(r, 5, r.chance(0.8) ? 300 : 20000)
    assigned_at = t
    push(2, null, null, F.ACTIVITY[0])
  }
  const count = r.weighted([[4, 1], [5, 2], [6, 4], [7, 5], [8, 4], [9, 2], [10, 1]])
  while (msgs.length < count - (status === 1 ? 1 : 0)) {
    t += gap(r, 3, r.chance(0.9) ? 900 : 2 * 86400)
    const outgoing = assignee && msgs[msgs.length - 1].message_type !== 1 && r.chance(0.7)
    if (outgoing) {
      const sender = r.chance(0.9) ? assignee : r.pick(agents).id
      push(1, 'User', sender, r.pick(F.OUTGOING), { private: r.chance(0.04) })
    } else if (r.chance(0.03)) {
      push(3, null, null, 'Template: {{order_status}}')
    } else {
      push(0, 'Contact', contact_id, r.pick(F.INCOMING))
    }
  }
  let ended_at = null
  if (status === 1) {
    t += gap(r, 10, 3600)
    ended_at = t
    push(2, null, null, F.ACTIVITY[1])
  }

  const last = t
  const c = {
    id, account_id: a.id, inbox_id: inbox.id, status, assignee_id: assignee,
    created_at: iso(t0), updated_at: iso(last + gap(r, 0, 60)), contact_id, display_id: ord + 1,
    contact_last_seen_at: r.chance(0.2) ? null : iso(last - gap(r, 0, 30)),
    agent_last_seen_at: assignee ? iso(last + gap(r, 1, 600)) : null,
    additional_attributes: r.chance(0.25) ? null : json({
      browser: { name: r.pick(['Chrome', 'Firefox', 'Safari']), version: `${r.int(90, 130)}.0` },
      referer: r.pick(['https://example.com/pricing', 'https://example.com/help?q=a&b=c']),
    }),
    contact_inbox_id: 10000 + r.int(1, 99999), uuid: r.uuid(), identifier: r.chance(0.5) ? null : r.uuid(),
    last_activity_at: iso(last), team_id: r.chance(0.3) ? null : r.int(1, 4),
    campaign_id: r.chance(0.85) ? null : r.int(1, 3),
    snoozed_until: status === 3 ? iso(last + r.int(1, 7) * DAY) : null,
    custom_attributes: r.chance(0.3) ? null : json(r.chance(0.3) ? {} : { plan: r.pick(['free', 'pro', 'enterprise']), priority: r.int(1, 3) }),
    assignee_last_seen_at: assignee && r.chance(0.8) ? iso(last + gap(r, 1, 900)) : null,
    cognigy_session_id: r.chance(0.2) ? null : `session-${r.uuid()}`,
    assigned_at: iso(assigned_at), ended_at: iso(ended_at),
  }
  yield ['Conversation', [c]]

  const rows = msgs.map(m => {
    const over = MESSAGE_OVERRIDES[a.id][a.messages++] || {}
    const content_type = r.weighted([[0, 85], [1, 2], [2, 1], [3, 1], [4, 2], [5, 2], [6, 1], [7, 1], [8, 2], [9, 2], [2016, 2], [2017, 1]])
    return {
      id: ++ids.message, content: m.content, account_id: a.id, inbox_id: inbox.id, conversation_id: id,
      message_type: m.message_type, created_at: iso(m.t), updated_at: iso(m.t + (r.chance(0.1) ? gap(r, 1, 120) : 0)),
      private: m.private ?? false, status: r.weighted([[0, 40], [1, 30], [2, 25], [3, 5]]),
      source_id: r.chance(0.6) ? null : r.chance(0.5) ? 'default' : `wamid.${r.hex(16)}`,
      content_type, content_attributes: contentAttributes(r, content_type),
      sender_type: m.sender_type, sender_id: m.sender_id,
      external_source_ids: r.chance(0.85) ? null : json({ slack: `C0${r.int(1000, 9999)}.${r.int(100000, 999999)}` }),
      ...over,
    }
  })
  yield ['Message', rows]

  // Reporting events, consistent with the messages above.
  const ev = []
  const event = (name, end, user_id, start = t0) => ev.push({
    id: ++ids.event, name, value: (end - start) / 1000, account_id: a.id, conversation_id: id,
    inbox_id: inbox.id, user_id, event_start_time: iso(start), event_end_time: iso(end),
    created_at: iso(end), updated_at: iso(end),
  })
  if (assignee && r.chance(0.6)) event('assignee_changed', assigned_at, assignee)
  const reply = msgs.find(m => m.message_type === 1 && m.sender_type === 'User' && !m.private)
  if (reply) event('first_reply_created', reply.t, reply.sender_id)
  if (r.chance(0.05)) event('conversation_inbox_changed', t0 + gap(r, 1, 120), assignee)
  if (status === 1) event('conversation_resolved', ended_at, assignee)
  yield ['ReportingEvent', ev]

  // 0..3 labels
  const pool = [...a.labelRows]
  for (let k = r.weighted([[0, 4], [1, 4], [2, 2], [3, 1]]); k > 0; k--)
    pool.splice(r.int(0, pool.length - 1), 1)[0].conversation_ids.push(id)
}

function contentAttributes(r, type) {
  if (type === 4 || type === 5) return json({ items: [{ title: 'Acme Hardware', value: 'acme' }, { title: 'Zoë & Co', value: 'zoe' }] })
  if (type === 9) return json({ submitted_values: { csat_survey_response: { rating: r.int(1, 5) } } })
  if (type === 2016) return json({ data: { _cognigy: { _default: { _quickReplies: { type: 'quick_replies' } } } } })
  return r.chance(0.8) ? null : json(r.chance(0.5) ? {} : { in_reply_to: r.int(1, 1000) })
}

module.exports = { generate }
