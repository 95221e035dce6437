// Checks the facts README.md guarantees, against a freshly started server.
// Run: npm test (node --test selftest.js).
const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const F = require('./lib/fixtures')

// Starts a server on a free port; it exits with this process.
async function start(env = {}) {
  const child = spawn(process.execPath, [`${__dirname}/server.js`], {
    env: { ...process.env, PORT: '0', PARENT_PID: String(process.pid), MAX_PAGE_SIZE: '', MAX_TOP: '', DB_FILE: '', DECLARE_NAVIGATION: '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const port = await new Promise((resolve, reject) => {
    child.stdout.on('data', d => { const m = /^LISTENING (\d+)$/m.exec(String(d)); if (m) resolve(m[1]) })
    child.on('exit', code => reject(new Error(`server exited with ${code}`)))
  })
  return { child, base: `http://127.0.0.1:${port}` }
}

let server, base
before(async () => ({ child: server, base } = await start()))
after(() => server.kill())

const get = async (path, token = 'admin-token-1', root = base) => {
  const res = await fetch(root + path, { headers: token ? { authorization: `Bearer ${token}` } : {} })
  return { status: res.status, body: await res.json() }
}
const lit = s => `'${s.replace(/'/g, "''")}'`
const count = async (version, set, filter, token) => {
  const q = `$top=0&$skip=0&$count=true&$filter=${encodeURIComponent(filter)}`
  const { status, body } = await get(`/v${version}/odata/${set}?${q}`, token)
  assert.equal(status, 200, JSON.stringify(body))
  return body['@odata.count']
}

test('awkward strings and out-of-enum values', async () => {
  assert.equal(await count('1.1', 'Message', `content eq ${lit(F.AWKWARD)}`), 3)
  assert.equal(await count('1.1', 'Message', `content eq ${lit(F.AWKWARD)}`, 'admin-token-2'), 1)
  assert.equal(await count('1.1', 'Message', `content eq ${lit(F.AWKWARD_AGAIN)}`), 2)
  assert.equal(await count('1.0', 'Message', `contains(content,${lit(F.AWKWARD)})`), 5)
  assert.equal(await count('1.1', 'Conversation', 'status eq 7'), 1)
  assert.equal(await count('1.1', 'Conversation', 'status eq 7', 'admin-token-2'), 0)
  assert.equal(await count('1.1', 'Message', 'content_type eq 4242'), 1)
  for (const token of ['admin-token-1', 'admin-token-2']) {
    for (const c of F.ODD_CONTENTS) {
      const filter = c === null ? 'content eq null' : `content eq ${lit(c)}`
      assert.ok((await count('1.1', 'Message', filter, token)) >= 1, `${token}: ${JSON.stringify(c)}`)
    }
  }
  assert.equal(await count('1.1', 'Label', `description eq ${lit(F.LABELS[5][1])}`), 1)
  assert.equal(await count('1.1', 'User', `display_name eq ${lit(F.USERS[7][1])}`), 1)
})

test('auth, isolation and the v1.1 $top/$skip rule', async () => {
  assert.equal((await get('/v1.1/odata/Inbox?$top=1&$skip=0', null)).status, 401)
  assert.equal((await get('/v1.1/odata/Inbox?$top=1&$skip=0', 'nope')).status, 401)
  assert.equal((await get('/v1.1/odata/Inbox?$top=1&$skip=0', 'agent-token-1')).status, 403)
  assert.equal((await get('/v1.1/odata/Inbox?$top=1&$skip=0&apikey=admin-token-2', null)).status, 200)
  assert.equal((await get('/v1.1/odata/Inbox')).status, 400)
  const ids = async token => (await get('/v1.0/odata/Conversation?$select=id,account_id', token)).body.value
  const [one, two] = [await ids('admin-token-1'), await ids('admin-token-2')]
  assert.ok(one.every(r => r.account_id === 1) && two.every(r => r.account_id === 2))
  assert.ok(two.length > 0 && one.length === 5 * two.length)
  assert.equal((await get(`/v1.1/odata/Conversation(${two[0].id})`)).status, 404)
  assert.equal((await get(`/v1.1/odata/Conversation(${one[0].id})?$select=id&$top=1&$skip=0`)).status, 200)
})

test('version-specific shapes', async () => {
  const v10 = (await get('/v1.0/odata/User?$top=1&$select=created_at,tokens,custom_attributes')).body.value[0]
  assert.match(v10.created_at, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/)
  const v11 = (await get('/v1.1/odata/User?$top=1&$skip=0&$select=created_at')).body.value[0]
  assert.match(v11.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  const json10 = (await get('/v1.0/odata/Conversation?$top=1&$filter=custom_attributes ne null&$select=custom_attributes')).body.value[0]
  assert.equal(typeof json10.custom_attributes, 'string')
  const json11 = (await get('/v1.1/odata/Conversation?$top=1&$skip=0&$filter=custom_attributes ne null&$select=custom_attributes')).body.value[0]
  assert.equal(typeof json11.custom_attributes, 'object')
  const big = (await get('/v1.1/odata/Conversation?$top=1&$skip=0&$filter=contact_id gt 3000000000&$select=contact_id')).body.value[0]
  assert.equal(typeof big.contact_id, 'number')
  const label = (await get('/v1.0/odata/Label?$top=1&$select=conversation_ids')).body.value[0]
  assert.ok(Array.isArray(label.conversation_ids) && label.conversation_ids.every(Number.isInteger))
})

test('reporting events agree with conversations and messages', async () => {
  const events = (await get("/v1.1/odata/ReportingEvent?$top=50&$skip=0&$filter=name eq 'first_reply_created'")).body.value
  assert.ok(events.length === 50 && events.some(e => !Number.isInteger(e.value)) && events.some(e => Number.isInteger(e.value)))
  for (const e of events.slice(0, 10)) {
    const c = (await get(`/v1.1/odata/Conversation(${e.conversation_id})?$select=created_at`)).body
    assert.equal(e.event_start_time, c.created_at)
    assert.equal(e.value, (Date.parse(e.event_end_time) - Date.parse(e.event_start_time)) / 1000)
    const reply = `conversation_id eq ${e.conversation_id} and message_type eq 1 and sender_type eq 'User' and sender_id eq ${e.user_id} and created_at eq ${e.event_end_time}`
    assert.equal(await count('1.1', 'Message', reply), 1)
  }
})

test('request log and faults', async () => {
  const { body: log } = await get('/_test/requests')
  const since = log.at(-1).seq
  await fetch(`${base}/_test/faults`, { method: 'POST', body: JSON.stringify({ status: 503, body: 'down', count: 1 }) })
  assert.equal((await fetch(`${base}/v1.1/odata/Inbox?$top=1&$skip=0`)).status, 503)
  assert.equal((await get('/v1.1/odata/Inbox?$top=1&$skip=0')).status, 200)
  const { body: fresh } = await get(`/_test/requests?since=${since}`)
  assert.deepEqual(fresh.map(e => e.status), [503, 200])
  assert.equal(fresh[1].account, 1)
  // A random share of requests: none at rate 0, all at rate 1.
  for (const [rate, status] of [[0, 200], [1, 503]]) {
    await fetch(`${base}/_test/faults`, { method: 'POST', body: JSON.stringify({ status: 503, rate, retry_after: 1 }) })
    for (let i = 0; i < 5; i++) assert.equal((await fetch(`${base}/v1.1/odata/Inbox?$top=1&$skip=0`, { headers: { authorization: 'Bearer admin-token-1' } })).status, status)
  }
  await fetch(`${base}/_test/faults`, { method: 'DELETE' })
})

test('chaos mode (bench/chaos.py)', async () => {
  const set = body => fetch(`${base}/_test/chaos`, { method: 'POST', body: JSON.stringify(body) })
  const path = `${base}/v1.1/odata/Inbox?$top=1&$skip=0`
  const headers = { authorization: 'Bearer admin-token-1' }
  try {
    await set({ status_5xx: 1 })
    assert.ok((await fetch(path, { headers })).status >= 500)
    await set({ reset: 1 })
    await assert.rejects(fetch(path, { headers }))
    await set({ garbage: 1 })
    const garbage = await fetch(path, { headers })
    assert.equal(garbage.status, 200)
    await assert.rejects(garbage.json())
  } finally {
    await fetch(`${base}/_test/chaos`, { method: 'DELETE' })
  }
  assert.equal((await fetch(path, { headers })).status, 200)
})

test('navigation properties (DECLARE_NAVIGATION=1)', async () => {
  const nav = await start({ DECLARE_NAVIGATION: '1' })
  try {
    const metadata = async root => (await fetch(`${root}/v1.1/odata/$metadata`, { headers: { authorization: 'Bearer admin-token-1' } })).text()
    assert.doesNotMatch(await metadata(base), /NavigationProperty/)
    assert.match(await metadata(nav.base), /<NavigationProperty Name="messages" Type="Collection\(V11.Message\)"\/>/)
    const rows = async path => {
      const { status, body } = await get(path, 'admin-token-1', nav.base)
      assert.equal(status, 200, JSON.stringify(body))
      return body.value
    }
    for (const c of await rows('/v1.1/odata/Conversation?$select=id,inbox_id&$expand=inbox($select=id)&$top=20&$skip=0'))
      assert.equal(c.inbox.id, c.inbox_id)
    // nested $top counts per parent, not in total
    const outgoing = '$select=id;$filter=message_type eq 1;$orderby=created_at desc'
    const all = await rows(`/v1.1/odata/Conversation?$select=id&$expand=messages(${outgoing})&$top=100&$skip=0`)
    const top = await rows(`/v1.1/odata/Conversation?$select=id&$expand=messages(${outgoing};$top=3)&$top=100&$skip=0`)
    assert.ok(all.some(c => c.messages.length > 3))
    assert.deepEqual(top.map(c => c.messages), all.map(c => c.messages.slice(0, 3)))
    const messages = await rows('/v1.0/odata/Message?$select=sender_type&$expand=sender($select=id,created_at)&$top=50')
    assert.ok(messages.some(m => m.sender) && messages.every(m => !m.sender === (m.sender_type !== 'User')))
    for (const m of messages.filter(m => m.sender)) assert.match(m.sender.created_at, /^\d{4}-\d\d-\d\d \d\d:/)
    const { body: one } = await get('/v1.1/odata/Conversation(1)?$select=id&$expand=inbox($select=name)', 'admin-token-1', nav.base)
    assert.equal(typeof one.inbox.name, 'string')
  } finally {
    nav.child.kill()
  }
})

test('the $top cap (MAX_TOP)', async () => {
  const capped = await start({ MAX_TOP: '5', DECLARE_NAVIGATION: '1' })
  try {
    const status = async (path, root) => (await get(path, 'admin-token-1', root)).status
    assert.equal(await status('/v1.1/odata/Inbox?$top=6&$skip=0', base), 200)
    assert.equal(await status('/v1.1/odata/Inbox?$top=5&$skip=0', capped.base), 200)
    assert.equal(await status('/v1.0/odata/Inbox?$top=5', capped.base), 200)
    const over = await get('/v1.1/odata/Inbox?$top=6&$skip=0', 'admin-token-1', capped.base)
    assert.equal(over.status, 400)
    assert.match(over.body.error.message, /\$top 6 is above the maximum of 5/)
    assert.equal(await status('/v1.0/odata/Inbox?$top=6', capped.base), 400)
    assert.equal(await status('/v1.1/odata/Conversation?$select=id&$expand=messages($select=id;$top=6)&$top=2&$skip=0', capped.base), 400)
    assert.equal(await status('/v1.1/odata/Conversation?$select=id&$expand=messages($select=id;$top=5)&$top=2&$skip=0', capped.base), 200)
    assert.equal(await status('/v1.1/odata/Conversation(1)?$select=id', capped.base), 200)
  } finally {
    capped.child.kill()
  }
})
