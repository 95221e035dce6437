// Checks the Live Agent rules, the rows against the CAP upstream
// (../upstream), and measures the dialect table of README.md.
// Run: npm test (node --test selftest.js). Needs ../upstream installed too.
const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')
const F = require('../upstream/lib/fixtures')

const ENTITY_SETS = ['Message', 'Conversation', 'Inbox', 'Label', 'User', 'ReportingEvent']

// Starts a server on a free port; it exits with this process.
async function start(script, env = {}) {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, PORT: '0', PARENT_PID: String(process.pid), ERROR_LOG: '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const port = await new Promise((resolve, reject) => {
    child.stdout.on('data', d => { const m = /^LISTENING (\d+)$/m.exec(String(d)); if (m) resolve(Number(m[1])) })
    child.on('exit', code => reject(new Error(`${script} exited with ${code}`)))
  })
  return { child, port }
}

let pg, cap
before(async () => {
  const capDir = path.join(__dirname, '../upstream')
  assert.ok(fs.existsSync(path.join(capDir, 'node_modules')), 'the CAP upstream is not installed: run `npm ci` in tests/upstream')
  ;[pg, cap] = await Promise.all([
    start(path.join(__dirname, 'server.js')),
    start(path.join(capDir, 'server.js'), { MAX_PAGE_SIZE: '', DB_FILE: '', DECLARE_NAVIGATION: '', V10_LEGACY_FIELDS: '' }),
  ])
})
after(() => { pg.child.kill(); cap.child.kill() })

// A GET with the path sent byte for byte (no client-side re-encoding).
function request(port, rawPath, { token = 'admin-token-1', method = 'GET', body, headers: extra = {} } = {}) {
  return new Promise((resolve, reject) => {
    const headers = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra }
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, method, headers }, res => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', c => { text += c })
      res.on('end', () => {
        let json = null
        try { json = JSON.parse(text) } catch { /* not JSON */ }
        resolve({ status: res.statusCode, text, body: json, headers: res.headers })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}
const get = (rawPath, opts) => request(pg.port, rawPath, opts)
const odata = (version, rest, opts) => get(`/v${version}/odata/${rest}`, opts)

// Percent-encodes a query option value as the gateway does (all reserved
// characters, spaces as %20).
const enc = s => encodeURIComponent(s).replace(/[!'()*]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
const lit = s => `'${s.replace(/'/g, "''")}'`
// The same, but ':' stays raw: unquoted date literals need that here.
const encDate = s => enc(s).replace(/%3A/g, ':')

// Rows of a collection request that must succeed.
async function rows(version, set, query, token) {
  const { status, body, text } = await odata(version, `${set}?${query}`, { token })
  assert.equal(status, 200, `${set}?${query}: ${text.slice(0, 300)}`)
  return body.value
}
// Ids matching an encoded filter (this dialect has no $count).
const ids = async (set, filter, token, version = '1.1') =>
  (await rows(version, set, `$select=id&$orderby=id%20asc&$top=10000&$skip=0${filter ? `&$filter=${filter}` : ''}`, token)).map(r => r.id)

test('auth, admins only and per-account isolation', async () => {
  assert.equal((await odata('1.1', 'Inbox?$top=1&$skip=0', { token: null })).status, 401)
  assert.equal((await odata('1.1', 'Inbox?$top=1&$skip=0', { token: 'nope' })).status, 401)
  const agent = await odata('1.1', 'Inbox?$top=1&$skip=0', { token: 'agent-token-1' })
  assert.equal(agent.status, 403)
  assert.deepEqual(agent.body, { error: { code: '403', message: 'Forbidden: only users with an admin role can query OData models' } })
  assert.equal((await odata('1.1', 'Inbox?$top=1&$skip=0&apikey=admin-token-2', { token: null })).status, 200)
  assert.equal((await odata('1.1', '$metadata', { token: null })).status, 401)
  assert.equal((await odata('1.1', 'Inbox?$top=1&$skip=0', { method: 'POST' })).status, 405)
  for (const version of ['1.0', '1.1']) {
    for (const set of ENTITY_SETS) {
      const one = await rows(version, set, '$top=10000&$skip=0', 'admin-token-1')
      const two = await rows(version, set, '$top=10000&$skip=0', 'admin-token-2')
      assert.ok(one.length > 0 && two.length > 0, `${version} ${set}`)
      const seen = new Set(one.map(r => r.id))
      assert.ok(two.every(r => !seen.has(r.id)), `${version} ${set}: accounts overlap`)
      if ('account_id' in one[0]) assert.ok(one.every(r => r.account_id === 1) && two.every(r => r.account_id === 2))
    }
  }
  const [first2] = await ids('Conversation', '', 'admin-token-2')
  assert.equal((await odata('1.1', `Conversation(${first2})`)).status, 404)
  assert.equal((await odata('1.1', `Conversation(${first2})`, { token: 'admin-token-2' })).status, 200)
  const missing = await odata('1.1', 'Conversation(99999999)')
  assert.deepEqual([missing.status, missing.body], [404, { error: { code: 404, message: 'Resource not found.' } }])
})

test('$top and $skip required on collections of both versions; page cap', async () => {
  const required = { error: { code: '400', message: 'The query parameters $top and $skip are required for collection requests' } }
  for (const version of ['1.0', '1.1']) {
    for (const query of ['', '?$top=1', '?$skip=0', '?$select=id']) {
      const r = await odata(version, `Conversation${query}`)
      assert.deepEqual([r.status, r.body], [400, required], `${version} ${query}`)
    }
    const capped = await odata(version, 'Message?$top=10001&$skip=0&$select=id')
    assert.deepEqual([capped.status, capped.body], [400, { error: { code: '400', message: 'The query parameter $top must not exceed 10000' } }])
    const total = Number((await request(cap.port, `/v${version}/odata/Message/$count`)).text)
    assert.ok(total > 1000)
    assert.equal((await rows(version, 'Message', '$top=10000&$skip=0&$select=id')).length, total)
    // exempt: key lookups (they take $top/$skip too), $metadata, the service document
    assert.equal((await odata(version, 'Conversation(1)')).status, 200)
    assert.equal((await odata(version, 'Conversation(1)?$select=id&$top=1&$skip=0')).status, 200)
    assert.equal((await odata(version, '$metadata')).status, 200)
    assert.equal((await odata(version, '')).status, 200)
  }
})

test('PAGE_CAP sets the cap', async () => {
  const small = await start(path.join(__dirname, 'server.js'), { PAGE_CAP: '20', CONVERSATIONS: '20' })
  try {
    assert.equal((await request(small.port, '/v1.1/odata/Message?$top=21&$skip=0&$select=id')).status, 400)
    assert.equal((await request(small.port, '/v1.1/odata/Message?$top=20&$skip=20&$select=id')).body.value.length, 20)
  } finally {
    small.child.kill()
  }
})

// Full rows, both versions, both accounts: the same as the CAP upstream.
test('identical rows to the CAP upstream', async () => {
  const same = async (version, query, token) => {
    const mine = await rows(version, ...query.split('?'), token)
    const { status, body } = await request(cap.port, `/v${version}/odata/${query}`, { token })
    assert.equal(status, 200, `CAP ${query}`)
    assert.deepEqual(mine, body.value, `${version} ${query} (${token})`)
    return mine
  }
  for (const version of ['1.0', '1.1']) {
    for (const token of ['admin-token-1', 'admin-token-2']) {
      for (const set of ENTITY_SETS) assert.ok((await same(version, `${set}?$orderby=id%20asc&$top=10000&$skip=0`, token)).length > 0)
      const awkward = await same(version, `Message?$filter=content%20eq%20${enc(lit(F.AWKWARD))}&$select=id,content&$orderby=id%20asc&$top=100&$skip=0`, token)
      assert.equal(awkward.length, token === 'admin-token-1' ? 3 : 1)
      await same(version, `Conversation?$filter=${enc('id eq 6 or id eq 7 or id eq 12')}&$top=10&$skip=0&$orderby=id%20desc`, token)
    }
    await same(version, `Message?$select=id,created_at,sender_id&$filter=${enc('conversation_id ge 5 and conversation_id le 9 and message_type eq 1')}&$orderby=${enc('created_at desc,id asc')}&$top=20&$skip=3`, 'admin-token-1')
    await same(version, `ReportingEvent?$filter=${enc("name eq 'first_reply_created' and value gt 100.5")}&$orderby=${enc('value desc')}&$top=15&$skip=0`, 'admin-token-1')
    await same(version, `Conversation?$filter=${enc('contact_id gt 3000000000')}&$select=id,contact_id&$orderby=id%20asc&$top=50&$skip=0`, 'admin-token-1')
    await same(version, `Conversation?$filter=${encDate('created_at ge 2026-03-29T01:00:00Z and created_at lt 2026-03-30T00:00:00Z')}&$select=id,created_at&$orderby=id%20asc&$top=50&$skip=0`, 'admin-token-1')
    await same(version, `Message?$filter=${enc(`contains(content,${lit(F.AWKWARD)})`)}&$select=id&$orderby=id%20asc&$top=50&$skip=0`, 'admin-token-1')
    for (const c of F.ODD_CONTENTS.filter(c => c !== null))
      await same(version, `Message?$filter=${enc(`content eq ${lit(c)}`)}&$select=id,content&$orderby=id%20asc&$top=50&$skip=0`, 'admin-token-1')
    const key = await get(`/v${version}/odata/Conversation(7)`)
    const capKey = await request(cap.port, `/v${version}/odata/Conversation(7)`)
    const strip = b => Object.fromEntries(Object.entries(b).filter(([k]) => !k.startsWith('@')))
    assert.deepEqual(strip(key.body), strip(capKey.body))
  }
})

test('version-specific shapes', async () => {
  const [v10] = await rows('1.0', 'User', '$top=1&$skip=0&$select=created_at,tokens')
  assert.match(v10.created_at, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/)
  const [v11] = await rows('1.1', 'User', '$top=1&$skip=0&$select=created_at')
  assert.match(v11.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  const json10 = (await rows('1.0', 'Conversation', '$top=100&$skip=0&$select=id,custom_attributes')).find(r => r.custom_attributes)
  assert.equal(typeof json10.custom_attributes, 'string')
  const json11 = (await rows('1.1', 'Conversation', '$top=100&$skip=0&$select=id,custom_attributes')).find(r => r.custom_attributes)
  assert.equal(typeof json11.custom_attributes, 'object')
  const [label] = await rows('1.0', 'Label', '$top=1&$skip=0&$select=conversation_ids')
  assert.ok(Array.isArray(label.conversation_ids) && label.conversation_ids.every(Number.isInteger))
  const metadata = (await odata('1.1', '$metadata')).text
  assert.match(metadata, /Version="4.0"/)
  assert.match(metadata, /<Property Name="contact_id" Type="Edm.Int64"\/>/)
  assert.match(metadata, /<ComplexType Name="Json" OpenType="true">/)
  assert.doesNotMatch(metadata, /NavigationProperty/)
  assert.match((await odata('1.0', '$metadata')).text, /<Property Name="conversation_ids" Type="Collection\(Edm.Int32\)"\/>/)
})

// The dialect table of README.md: each row's status and effect, measured.
test('dialect: what works, what fails, what misbehaves', async t => {
  const all = await ids('Message')
  const withContent = await ids('Message', enc("content ne ''"))
  const status = async query => (await odata('1.1', query)).status
  const check = (name, fn) => t.test(name, fn)

  await check('comparison, and/or, parentheses, or-chains of ids', async () => {
    assert.deepEqual(await ids('Conversation', enc('id eq 3 or id eq 1 or id eq 2')), [1, 2, 3])
    assert.deepEqual(await ids('Conversation', enc('(id lt 3 or id gt 718) and id ne 2')), [1, 719])
  })
  await check('a leading not drops the whole filter: all rows', async () => {
    assert.deepEqual(await ids('Message', enc('not (id eq 1)')), all)
    assert.deepEqual(await ids('Message', enc('not id eq 1')), all)
    assert.deepEqual(await ids('Message', enc('not (id eq 1) and id gt 5')), all)
  })
  await check('not after and/or or inside parentheses: 500 (broken SQL)', async () => {
    for (const f of ['id gt 0 and not (id eq 1)', 'id eq 1 or not (id eq 2)', '(not (id eq 1))'])
      assert.equal(await status(`Message?$top=1&$skip=0&$filter=${enc(f)}`), 500, f)
  })
  await check('in (...): 500 (parse error)', async () => {
    const r = await odata('1.1', `Message?$top=1&$skip=0&$filter=${enc('id in (1,2)')}`)
    assert.equal(r.status, 500)
    assert.match(r.body.error.message, /^Unexpected character at \d+$/)
  })
  await check('eq null and ne null match nothing', async () => {
    assert.deepEqual(await ids('Conversation', enc('assignee_id eq null')), [])
    assert.deepEqual(await ids('Conversation', enc('assignee_id ne null')), [])
  })
  await check("contains/startswith/endswith are LIKE without escaping: '%' and '_' are wildcards", async () => {
    // every non-null content matches, empty strings included
    const nonNull = await ids('Message', enc("contains(content,'%')"))
    const empty = await ids('Message', enc("content eq ''"))
    assert.ok(empty.length > 0 && nonNull.length < all.length)
    assert.deepEqual(nonNull, [...withContent, ...empty].sort((a, b) => a - b))
    assert.deepEqual(await ids('Message', enc("startswith(content,'%')")), nonNull)
    assert.deepEqual(await ids('Message', enc("contains(content,'_')")), withContent)
    assert.deepEqual(await ids('Message', enc("contains(content,'50%')")), await ids('Message', enc("contains(content,'50')")))
  })
  await check('backslash in a pattern is a LIKE escape', async () => {
    assert.deepEqual((await ids('Message', enc("contains(content,'C:\\Users')"))).length, 0)
    assert.ok((await ids('Message', enc("contains(content,'C:\\\\Users')"))).length >= 1)
    assert.ok((await ids('Message', enc("content eq 'path C:\\Users\\agent\\file.txt'"))).length >= 1)
  })
  await check('percent-encoded literals work, quotes doubled; raw / < " are parse errors (500)', async () => {
    assert.equal((await ids('Message', enc(`content eq ${lit(F.AWKWARD)}`))).length, 3)
    assert.equal((await ids('Message', enc("content eq 'can''t login'"))).length, 1)
    assert.equal((await ids('Message', enc("content eq 'a/b'"))).length, 0)
    for (const raw of ['a/b', 'a<b', 'a"b'])
      assert.equal(await status(`Message?$top=1&$skip=0&$filter=content%20eq%20'${raw}'`), 500, raw)
  })
  await check('+ for a space: 500; %20 and raw spaces are spaces', async () => {
    assert.equal(await status('Message?$top=1&$skip=0&$filter=id+eq+1'), 500)
    assert.deepEqual(await ids('Message', 'id%20eq%201'), [1])
  })
  await check('DateTimeOffset: unquoted compares as instant, except hour 20 (500) or a %3A-encoded colon (500); quoted works', async () => {
    assert.equal(await status(`Conversation?$top=1&$skip=0&$filter=${enc('created_at ge 2026-03-29T01:00:00Z')}`), 500)
    assert.ok((await ids('Conversation', encDate('created_at ge 2026-03-29T01:00:00Z'))).length > 0)
    for (let hour = 0; hour < 24; hour++) {
      const hh = String(hour).padStart(2, '0')
      const code = await status(`Conversation?$top=1&$skip=0&$select=id&$filter=${encDate(`created_at ge 2026-03-29T${hh}:00:00Z`)}`)
      assert.equal(code, hour === 20 ? 500 : 200, `hour ${hh}`)
    }
    assert.equal(await status(`Conversation?$top=1&$skip=0&$filter=${encDate('created_at ge 2026-03-29T20:00:00.000Z')}`), 500)
    const quoted = await ids('Conversation', enc("created_at ge '2026-03-29T20:00:00'"))
    assert.deepEqual(quoted, await ids('Conversation', encDate('created_at gt 2026-03-29T19:59:59.999Z')))
    // quoted values are cast by PostgreSQL: an instant (UTC), not text
    assert.deepEqual(await ids('Conversation', enc("created_at eq '2026-03-29T01:00:00'")), await ids('Conversation', encDate('created_at eq 2026-03-29T01:00:00Z')))
    assert.deepEqual(await ids('Conversation', encDate('created_at ge 2026-03-29')), await ids('Conversation', encDate('created_at ge 2026-03-29T00:00:00Z')))
  })
  await check('+hh:mm offsets: %2B gives an invalid date (500), a raw + works', async () => {
    assert.equal(await status(`Conversation?$top=1&$skip=0&$filter=${encDate('created_at ge 2026-03-29T03:00:00+02:00')}`), 500)
    assert.deepEqual(await ids('Conversation', `${encDate('created_at ge 2026-03-29T03:00:00')}+02:00`), await ids('Conversation', encDate('created_at ge 2026-03-29T01:00:00Z')))
  })
  await check('functions: length, concat, trim, substring, floor, now work; tolower, toupper, year.., indexof fail (500)', async () => {
    assert.ok((await ids('Message', enc('length(content) eq 0'))).length >= 1)
    assert.ok((await ids('Message', enc("concat(content,'!') eq 'ok!'"))).length >= 1)
    assert.ok((await ids('Message', enc("trim(content) eq 'ok'"))).length >= 1)
    assert.ok((await ids('ReportingEvent', enc('floor(value) eq 265'))).length >= 1)
    assert.equal(await status(`Conversation?$top=1&$skip=0&$filter=${enc('created_at lt now()')}`), 200)
    for (const f of ["tolower(content) eq 'ok'", "toupper(content) eq 'OK'", 'year(created_at) eq 2026', 'month(created_at) eq 1',
      'hour(created_at) eq 1', "indexof(content,'o') eq 0", 'id add 1 eq 2'])
      assert.equal(await status(`Message?$top=1&$skip=0&$filter=${enc(f)}`), 500, f)
  })
  await check('$orderby several keys; without it rows come in the order of the first selected column (500 for a JSON column)', async () => {
    const byStatus = await rows('1.1', 'Conversation', '$select=status,id&$top=5&$skip=0')
    assert.deepEqual(byStatus.map(r => r.status), [0, 0, 0, 0, 0])
    const sorted = await rows('1.1', 'Conversation', `$select=id,status&$orderby=${enc('status desc,id asc')}&$top=3&$skip=0`)
    assert.deepEqual(sorted.map(r => r.status), [7, 3, 3])
    // a JSON column first: PostgreSQL cannot order json
    assert.equal(await status('Conversation?$top=1&$skip=0&$select=custom_attributes,id'), 500)
    assert.equal(await status('Conversation?$top=1&$skip=0&$select=custom_attributes,id&$orderby=id%20asc'), 200)
  })
  await check('$select of an unknown field: 500; negative $top/$skip: 500; $top=0: no rows', async () => {
    assert.equal(await status('Conversation?$top=1&$skip=0&$select=nope'), 500)
    assert.equal(await status('Conversation?$top=-1&$skip=0'), 500)
    assert.equal(await status('Conversation?$top=1&$skip=-1'), 500)
    assert.deepEqual(await rows('1.1', 'Conversation', '$top=0&$skip=0'), [])
  })
  await check('$count=true is ignored, /$count is 404', async () => {
    const r = await odata('1.1', 'Conversation?$top=2&$skip=0&$count=true&$select=id')
    assert.equal(r.status, 200)
    assert.equal(r.body['@odata.count'], undefined)
    assert.equal(await status('Conversation/$count'), 404)
  })
  await check('$apply, $compute, custom and %24-encoded options: 500', async () => {
    for (const q of ['$apply=groupby((status))', '$compute=id%20add%201%20as%20x', 'foo=bar', '%24select=id'])
      assert.equal(await status(`Conversation?$top=1&$skip=0&${q}`), 500, q)
  })
  await check('$expand and $search are silently ignored', async () => {
    const expanded = await rows('1.1', 'Conversation', '$top=1&$skip=0&$expand=messages')
    assert.equal(expanded[0].messages, undefined)
    assert.equal((await rows('1.1', 'Conversation', '$top=3&$skip=0&$search=nothing')).length, 3)
  })
  await check('no navigation paths, no next links', async () => {
    assert.equal(await status('Conversation(1)/messages'), 404)
    const page = await odata('1.1', 'Message?$top=10000&$skip=0&$select=id')
    assert.equal(page.body['@odata.nextLink'], undefined)
  })
})

test('request log and faults', async () => {
  const log = (await get('/_test/requests')).body
  const since = log.at(-1).seq
  await request(pg.port, '/_test/faults', { method: 'POST', body: JSON.stringify({ status: 503, body: 'down', count: 1 }), token: null })
  assert.equal((await odata('1.1', 'Inbox?$top=1&$skip=0', { token: null })).status, 503)
  assert.equal((await odata('1.1', 'Inbox?$top=1&$skip=0')).status, 200)
  const fresh = (await get(`/_test/requests?since=${since}`)).body
  assert.deepEqual(fresh.map(e => e.status), [503, 200])
  assert.equal(fresh[1].account, 1)
  assert.deepEqual(Object.keys(fresh[1]), ['seq', 'method', 'url', 'path', 'version', 'status', 'account', 'ms', 'request_id', 'traceparent'])
  assert.equal(fresh[1].url, '/v1.1/odata/Inbox?$top=1&$skip=0')
  // A random share of requests: none at rate 0, all at rate 1.
  for (const [rate, status] of [[0, 200], [1, 503]]) {
    await request(pg.port, '/_test/faults', { method: 'POST', body: JSON.stringify({ status: 503, rate, retry_after: 1 }), token: null })
    for (let i = 0; i < 5; i++) assert.equal((await odata('1.1', 'Inbox?$top=1&$skip=0')).status, status)
  }
  await request(pg.port, '/_test/faults', { method: 'POST', body: JSON.stringify({ latency_ms: 50, path_contains: 'Label' }), token: null })
  assert.equal((await get('/_test/faults', { token: null })).body.path_contains, 'Label')
  await request(pg.port, '/_test/faults', { method: 'DELETE', token: null })
  assert.equal((await get('/_test/faults', { token: null })).body, null)
  const reset = (await request(pg.port, '/_test/reset', { method: 'POST', token: null })).body
  assert.equal(reset.ok, true)
  assert.deepEqual((await get('/_test/requests')).body, [])
})

test('ERROR_LOG: error answers and silently wrong ones, nothing else', async () => {
  const file = path.join(fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'pg-error-log-')), 'errors.jsonl')
  const logged = await start(path.join(__dirname, 'server.js'), { CONVERSATIONS: '20', ERROR_LOG: file })
  try {
    const at = (rawPath, opts) => request(logged.port, rawPath, opts)
    const fault = body => at('/_test/faults', { method: 'POST', body: JSON.stringify(body), token: null })
    const expected = [
      // [path, status, reason]: each must be logged
      [`/v1.1/odata/Message?$top=1&$skip=0&$filter=${enc('id in (1,2)')}`, 500, 'error status'],
      ['/v1.1/odata/Message?$top=1', 400, 'error status'],
      ['/v1.1/odata/Message?$top=10001&$skip=0', 400, 'error status'],
      ['/v1.1/odata/Conversation/$count', 404, 'error status'],
      [`/v1.1/odata/Message?$top=1&$skip=0&$filter=${enc('not (id eq 1)')}`, 200, 'not is dropped'],
      [`/v1.1/odata/Conversation?$top=1&$skip=0&$filter=${enc('assignee_id eq null')}`, 200, 'eq/ne null match nothing'],
      ['/v1.1/odata/Conversation?$top=1&$skip=0&$count=true', 200, '$count is ignored'],
      ['/v1.1/odata/Conversation?$top=1&$skip=0&$expand=messages', 200, '$expand is ignored'],
      [`/v1.1/odata/Conversation?$top=1&$skip=0&$filter=${encDate('created_at ge 2026-03-29T01:00:00Z')}`, 200, 'unquoted date fails at hour 20'],
    ]
    for (const [rawPath, status] of expected) assert.equal((await at(rawPath)).status, status, rawPath)
    // not logged: fine requests, literals holding the words, refusals of the
    // credential, a key lookup's miss, injected faults, expected errors
    assert.equal((await at(`/v1.1/odata/Message?$top=1&$skip=0&$filter=${enc("content eq 'not (x) ne null 2026-03-29T01:00:00Z'")}`)).status, 200)
    assert.equal((await at(`/v1.1/odata/Conversation?$top=1&$skip=0&$filter=${enc("created_at ge '2026-03-29T20:00:00.000Z'")}`)).status, 200)
    assert.equal((await at('/v1.1/odata/Inbox?$top=1&$skip=0', { token: null })).status, 401)
    assert.equal((await at('/v1.1/odata/Inbox?$top=1&$skip=0', { token: 'agent-token-1' })).status, 403)
    assert.equal((await at('/v1.1/odata/Conversation(99999999)')).status, 404)
    await fault({ status: 503, body: 'down', count: 1 })
    assert.equal((await at('/v1.1/odata/Inbox?$top=1&$skip=0')).status, 503)
    await fault({ status: 500, body: 'boom', count: 1, latency_ms: 10 })
    assert.equal((await at('/v1.1/odata/Inbox?$top=1&$skip=0')).status, 500)
    await fault({ latency_ms: 10, count: 1 })
    assert.equal((await at('/v1.1/odata/Inbox?$top=1&$skip=0')).status, 200)
    const expectError = { headers: { 'x-test-expect-error': '1' } }
    assert.equal((await at(`/v1.1/odata/Message?$top=1&$skip=0&$filter=${enc('id in (1,2)')}`, expectError)).status, 500)
    assert.equal((await at('/v1.1/odata/Message?$top=1&$skip=0&$count=true', expectError)).status, 200)
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map(l => JSON.parse(l))
    assert.deepEqual(lines.map(l => [l.url, l.status, l.reason]), expected)
    assert.deepEqual(Object.keys(lines[0]), ['time', 'status', 'method', 'url', 'reason', 'body'])
    assert.match(lines[0].body, /Unexpected character/)
  } finally {
    logged.child.kill()
    fs.rmSync(path.dirname(file), { recursive: true, force: true })
  }
})

// The postgres process of a server, and its cluster folder.
function clusterOf(serverPid) {
  for (const pid of fs.readdirSync('/proc').filter(p => /^\d+$/.test(p))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== serverPid) continue
      const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      if (args[0].endsWith('/postgres')) return { pid: Number(pid), dir: path.dirname(args[args.indexOf('-D') + 1]) }
    } catch { /* gone meanwhile */ }
  }
  return null
}
const gone = pid => { try { process.kill(pid, 0); return false } catch { return true } }
const waitFor = async (what, cond, ms = 10000) => {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise(r => setTimeout(r, 50))
  }
}

test('the cluster is removed on SIGTERM, on SIGKILL and when the parent is gone', async () => {
  for (const how of ['SIGTERM', 'SIGKILL', 'parent']) {
    const parent = spawn('sleep', ['60'])
    const server = await start(path.join(__dirname, 'server.js'), { CONVERSATIONS: '20', PARENT_PID: String(parent.pid) })
    const cluster = clusterOf(server.child.pid)
    assert.ok(cluster && fs.existsSync(cluster.dir), how)
    if (how === 'parent') parent.kill()
    else server.child.kill(how)
    await waitFor(`${how}: postgres to stop`, () => gone(cluster.pid))
    await waitFor(`${how}: ${cluster.dir} to go`, () => !fs.existsSync(cluster.dir))
    parent.kill()
  }
})
