// Tables, per-version views and the generated data in the private cluster.
// Storage tables live in schema `liveagent`; each endpoint version has a
// schema of views (`v10`, `v11`) that project its fields and keep only the
// rows of the account named by the session setting `liveagent.account`, so
// every query the OData libraries generate is isolated by construction.
const pg = require('pg')
const { from: copyFrom } = require('pg-copy-streams')
const { generate } = require('../../upstream/lib/generate')
const { STORAGE, VERSIONS, SCHEMA } = require('./model')

// bigint columns (contact ids above 2^31) as JSON numbers, as Live Agent sends them.
pg.types.setTypeParser(pg.types.builtins.INT8, v => Number(v))

const SQL_TYPE = { int: 'integer', bigint: 'bigint', double: 'double precision', bool: 'boolean', text: 'text', time: 'timestamptz', json: 'json', ints: 'integer[]' }

// Foreign-key and time indexes, as a production database has them.
const INDEXES = [
  ['Message', ['account_id', 'created_at']], ['Message', ['conversation_id']],
  ['Conversation', ['account_id', 'created_at']], ['Conversation', ['assignee_id']], ['Conversation', ['inbox_id']],
  ['ReportingEvent', ['account_id', 'created_at']], ['ReportingEvent', ['conversation_id']],
]

const q = name => `"${name}"`
const table = entity => `liveagent.${q(entity)}`

function schemaDdl() {
  const ddl = ['CREATE SCHEMA liveagent', ...Object.values(SCHEMA).map(s => `CREATE SCHEMA ${s}`)]
  for (const [entity, columns] of Object.entries(STORAGE))
    ddl.push(`CREATE TABLE ${table(entity)} (${Object.entries(columns).map(([c, t]) => `${q(c)} ${SQL_TYPE[t]}`).join(', ')})`)
  return ddl
}

// v1.0 serves JSON columns as JSON text; json keeps the stored text as is.
function viewDdl() {
  const ddl = []
  for (const [version, entities] of Object.entries(VERSIONS)) {
    for (const [entity, fields] of Object.entries(entities)) {
      const columns = fields.map(f => (version === '1.0' && STORAGE[entity][f] === 'json' ? `${q(f)}::text AS ${q(f)}` : q(f)))
      ddl.push(`CREATE VIEW ${SCHEMA[version]}.${q(entity)} AS SELECT ${columns.join(', ')} FROM ${table(entity)}
        WHERE account_id = current_setting('liveagent.account', true)::integer`)
    }
  }
  return ddl
}

function indexDdl() {
  const ddl = Object.keys(STORAGE).map(e => `ALTER TABLE ${table(e)} ADD PRIMARY KEY (id)`)
  for (const [entity, cols] of INDEXES) ddl.push(`CREATE INDEX ON ${table(entity)} (${cols.map(q).join(', ')})`)
  return [...ddl, 'ANALYZE']
}

// COPY text format: tab-separated, \N for null, backslash escapes.
const ESCAPES = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' }
const SPECIAL = /[\\\n\r\t]/
const escape = s => (SPECIAL.test(s) ? s.replace(/[\\\n\r\t]/g, c => ESCAPES[c]) : s)
function copyValue(v, type) {
  if (v === null || v === undefined) return '\\N'
  switch (type) {
    case 'bool': return v ? 't' : 'f'
    case 'ints': return `{${v.join(',')}}`
    case 'text': case 'json': return escape(v)
    default: return String(v)
  }
}

const CHUNK = 1 << 18 // bytes buffered per table before a write

// Streams the generator's rows into one COPY per table, concurrently, so the
// server parses while we generate.
async function load(pool, conversations) {
  const copies = {}
  const open = async entity => {
    const client = await pool.connect()
    const columns = Object.keys(STORAGE[entity])
    const stream = client.query(copyFrom(`COPY ${table(entity)} (${columns.map(q).join(', ')}) FROM STDIN`))
    const done = new Promise((resolve, reject) => { stream.on('finish', resolve); stream.on('error', reject) })
    return { client, stream, done, columns, types: columns.map(c => STORAGE[entity][c]), buffer: [], size: 0 }
  }
  for (const entity of Object.keys(STORAGE)) copies[entity] = await open(entity)
  const flush = async c => {
    if (!c.buffer.length) return
    const ok = c.stream.write(c.buffer.join(''))
    c.buffer = []; c.size = 0
    if (!ok) await new Promise(resolve => c.stream.once('drain', resolve))
  }
  for (const [entity, rows] of generate(conversations)) {
    const c = copies[entity]
    for (const row of rows) {
      let line = copyValue(row[c.columns[0]], c.types[0])
      for (let i = 1; i < c.columns.length; i++) line += '\t' + copyValue(row[c.columns[i]], c.types[i])
      c.buffer.push(line, '\n')
      c.size += line.length + 1
    }
    if (c.size >= CHUNK) await flush(c)
  }
  for (const c of Object.values(copies)) {
    await flush(c)
    c.stream.end()
    await c.done
    c.client.release()
  }
}

async function create(socketDir, { conversations }) {
  const pool = new pg.Pool({ host: socketDir, user: 'postgres', database: 'postgres', max: 10 })
  for (const sql of schemaDdl()) await pool.query(sql)
  await load(pool, conversations)
  for (const sql of [...indexDdl(), ...viewDdl()]) await pool.query(sql)
  return pool
}

// Runs `sql` with the views restricted to `account` (a fresh setting per
// request, on whichever pooled connection serves it).
async function query(pool, account, sql, params) {
  const client = await pool.connect()
  try {
    await client.query("SELECT set_config('liveagent.account', $1, false)", [String(account)])
    return await client.query(sql, params)
  } finally {
    client.release()
  }
}

module.exports = { create, query, SCHEMA }
