// Request log and fault injection, plus the /_test/* routes that drive them.
// Both apply to every request under /v1.0 and /v1.1.
const express = require('express')

const MAX_LOG = 200000 // oldest entries are dropped past this

const log = []
let seq = 0
let fault = null

// Records the request on arrival (so `since` never misses one that is still
// running) and fills in status and duration when the response starts, or
// marks it `aborted` when the client closed the connection first.
function requestLog(req, res, next) {
  const started = process.hrtime.bigint()
  const entry = {
    seq: ++seq, method: req.method, url: req.originalUrl, path: req.path,
    version: req.path.startsWith('/v1.0') ? '1.0' : '1.1', status: null, account: null, ms: null,
    request_id: req.headers['x-request-id'] ?? null,
    traceparent: req.headers.traceparent ?? null,
  }
  log.push(entry)
  if (log.length > MAX_LOG) log.splice(0, log.length - MAX_LOG)
  const done = () => {
    if (entry.status !== null) return
    entry.status = res.statusCode
    entry.account = req.liveagent?.account ?? null
    entry.ms = Number(process.hrtime.bigint() - started) / 1e6
  }
  const writeHead = res.writeHead
  res.writeHead = function (...args) {
    const out = writeHead.apply(this, args) // sets statusCode first
    done()
    return out
  }
  // Closed before an answer was sent: the client gave up (`aborted`).
  res.on('close', () => {
    if (entry.status === null && !res.headersSent) entry.aborted = true
    done()
  })
  next()
}

function faults(req, res, next) {
  const f = fault
  if (!f) return next()
  let target = req.originalUrl
  try { target = decodeURIComponent(target) } catch { /* keep raw */ }
  if (f.path_contains && !target.includes(f.path_contains)) return next()
  // `rate` (0..1): only that share of matching requests, drawn at random, is hit.
  if (f.rate != null && Math.random() >= f.rate) return next()
  if (f.count != null && --f.count <= 0) fault = null
  const answer = () => {
    if (f.status == null && f.body == null) return next()
    if (f.retry_after != null) res.set('Retry-After', String(f.retry_after))
    res.status(f.status ?? 200).type(f.content_type ?? 'text/plain').send(f.body ?? '')
  }
  if (f.latency_ms) setTimeout(answer, f.latency_ms)
  else answer()
}

const routes = express.Router()
routes.use(express.json({ type: () => true }))
routes.get('/requests', (req, res) => {
  const since = Number(req.query.since) || 0
  res.json(since ? log.filter(e => e.seq > since) : log)
})
routes.post('/reset', (req, res) => {
  log.length = 0
  res.json({ ok: true, seq })
})
routes.get('/faults', (req, res) => res.json(fault))
routes.post('/faults', (req, res) => {
  fault = { ...(req.body || {}) }
  res.json(fault)
})
routes.delete('/faults', (req, res) => {
  fault = null
  res.json({ ok: true })
})

// Test-only write hook, for live queries: changes columns of one stored row.
// POST /_test/update {"entity": "Inbox", "id": 1, "set": {"name": "x"}}
// (storage column names, as in db/schema.cds) → {"updated": <rows>}.
routes.post('/update', async (req, res) => {
  const { entity, id, set } = req.body || {}
  const valid = typeof entity === 'string' && /^[A-Za-z]+$/.test(entity) &&
    id != null && set && typeof set === 'object' && !Array.isArray(set)
  if (!valid) return res.status(400).json({ error: 'entity (a name), id and set (an object) are required' })
  const cds = require('@sap/cds')
  try {
    const updated = await cds.run(cds.ql.UPDATE(`liveagent.${entity}`).set(set).where({ id }))
    res.json({ updated })
  } catch (err) {
    res.status(400).json({ error: String(err.message) })
  }
})

// Test-only write hooks, for the analytics replica: a new row, and a
// deletion as Live Agent's retention makes it (a conversation takes its
// messages and reporting events along).
// POST /_test/insert {"entity": "Conversation", "row": {...}} → {"inserted": 1}
// POST /_test/delete {"entity": "Conversation", "id": 7} → {"deleted": <rows>}
const entityName = entity => typeof entity === 'string' && /^[A-Za-z]+$/.test(entity)
routes.post('/insert', async (req, res) => {
  const { entity, row } = req.body || {}
  if (!entityName(entity) || !row || typeof row !== 'object' || Array.isArray(row)) {
    return res.status(400).json({ error: 'entity (a name) and row (an object) are required' })
  }
  const cds = require('@sap/cds')
  try {
    await cds.run(cds.ql.INSERT.into(`liveagent.${entity}`).entries(row))
    res.json({ inserted: 1 })
  } catch (err) {
    res.status(400).json({ error: String(err.message) })
  }
})
routes.post('/delete', async (req, res) => {
  const { entity, id } = req.body || {}
  if (!entityName(entity) || id == null) return res.status(400).json({ error: 'entity (a name) and id are required' })
  const cds = require('@sap/cds')
  try {
    let deleted = 0
    if (entity === 'Conversation') {
      for (const child of ['Message', 'ReportingEvent']) {
        deleted += await cds.run(cds.ql.DELETE.from(`liveagent.${child}`).where({ conversation_id: id }))
      }
    }
    deleted += await cds.run(cds.ql.DELETE.from(`liveagent.${entity}`).where({ id }))
    res.json({ deleted })
  } catch (err) {
    res.status(400).json({ error: String(err.message) })
  }
})

module.exports = { requestLog, faults, routes }
