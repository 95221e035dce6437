// Creates the tables and fills them with generated data. A DB_FILE that
// already holds the data of the same generator version and size is reused
// (only its views are re-created, since the legacy switch changes them).
const cds = require('@sap/cds')
const { generate } = require('./generate')

const VERSION = 'liveagent-data-1'
const BATCH = 5000

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
    const buffers = {}
    const flush = async entity => {
      const rows = buffers[entity]
      buffers[entity] = []
      if (rows.length) await tx.run(INSERT.into(`liveagent.${entity}`).entries(rows))
    }
    for (const [entity, rows] of generate(conversations)) {
      const buf = (buffers[entity] ??= [])
      for (const row of rows) buf.push(row)
      if (buf.length >= BATCH) await flush(entity)
    }
    for (const entity in buffers) await flush(entity)
    await tx.run(INSERT.into('liveagent.Meta').entries({ name: 'fingerprint', value: fingerprint }))
  })
  if (process.env.DEBUG_LOAD) console.error(`generated in ${Date.now() - started} ms`)
}

async function recreateViews(db, csn) {
  const views = cds.compile(csn).to.sql({ dialect: 'sqlite' }).filter(s => /^CREATE VIEW/.test(s))
  await db.tx(async tx => {
    for (const ddl of views) {
      await tx.run(`DROP VIEW IF EXISTS ${/^CREATE VIEW (\S+)/.exec(ddl)[1]}`)
      await tx.run(ddl)
    }
  })
}
