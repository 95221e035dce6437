// Creates the tables and fills them with generated data. A DB_FILE that
// already holds the data of the same generator version and size is reused
// (only its views are re-created, since the legacy switch changes them).
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const cds = require('@sap/cds')
const { generate } = require('./generate')

// Changes whenever the storage model or the generator changes.
const SOURCES = ['db/schema.cds', 'lib/generate.js', 'lib/fixtures.js', 'lib/random.js', 'lib/load.js']
const VERSION = crypto.createHash('sha256')
  .update(SOURCES.map(f => fs.readFileSync(path.join(__dirname, '..', f))).join('\0'))
  .digest('hex').slice(0, 16)

// Foreign-key and time indexes, as a production database has them; they keep
// relation lookups fast at benchmark sizes.
const INDEXES = [
  ['liveagent_Message', ['account_id', 'created_at']], ['liveagent_Message', ['conversation_id']],
  ['liveagent_Conversation', ['account_id', 'created_at']], ['liveagent_Conversation', ['assignee_id']],
  ['liveagent_Conversation', ['inbox_id']],
  ['liveagent_ReportingEvent', ['account_id', 'created_at']], ['liveagent_ReportingEvent', ['conversation_id']],
]

module.exports = async function load(csn, { conversations, dbFile }) {
  const db = cds.db
  const fingerprint = `${VERSION} conversations=${conversations}`
  if (dbFile) {
    const row = await db.run(SELECT.one.from('liveagent.Meta').where({ name: 'fingerprint' })).catch(() => null)
    if (row?.value === fingerprint) return recreateViews(db, csn)
  }
  await cds.deploy(csn).to(db, { silent: true })
  const started = Date.now()
  await db.tx(async tx => {
    await tx.run(SELECT.one.from('liveagent.Meta')) // makes CAP acquire the connection
    const dbc = tx.dbc // better-sqlite3: synchronous prepared inserts are much faster than CQN
    const insert = {}
    const statement = entity => {
      const columns = Object.keys(csn.definitions[`liveagent.${entity}`].elements)
      const sql = `INSERT INTO liveagent_${entity} (${columns.join(',')}) VALUES (${columns.map(() => '?').join(',')})`
      const stmt = dbc.prepare(sql)
      return row => stmt.run(columns.map(c => sqlValue(row[c])))
    }
    for (const [entity, rows] of generate(conversations)) {
      const run = (insert[entity] ??= statement(entity))
      for (const row of rows) run(row)
    }
    statement('Meta')({ name: 'fingerprint', value: fingerprint })
    for (const [table, cols] of INDEXES) dbc.exec(`CREATE INDEX ${table}_${cols.join('_')} ON ${table} (${cols})`)
    dbc.exec('ANALYZE') // planner statistics, e.g. conversation_id beats account_id for id lists
  })
  if (process.env.DEBUG_LOAD) console.error(`generated in ${Date.now() - started} ms`)
}

// Stored as CAP stores them on SQLite: booleans 0/1, arrays as JSON text.
const sqlValue = v => (v === undefined ? null : typeof v === 'boolean' ? +v : Array.isArray(v) ? JSON.stringify(v) : v)

async function recreateViews(db, csn) {
  const views = cds.compile(csn).to.sql({ dialect: 'sqlite' }).filter(s => /^CREATE VIEW/.test(s))
  await db.tx(async tx => {
    for (const ddl of views) {
      await tx.run(`DROP VIEW IF EXISTS ${/^CREATE VIEW (\S+)/.exec(ddl)[1]}`)
      await tx.run(ddl)
    }
  })
}
