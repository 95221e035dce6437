// Chaos mode for soak tests (bench/chaos.py): once set through
// POST /_test/chaos, every OData request may be delayed, have its
// connection reset, get a truncated or garbage 200, or a 5xx, each with the
// share given: {"latency_ms": [min, max], "reset": 0.03, "truncate": 0.03,
// "status_5xx": 0.08, "garbage": 0.03}. DELETE /_test/chaos ends it.
const express = require('express')

let settings = null

function chaos(req, res, next) {
  const s = settings
  if (!s) return next()
  const [lo, hi] = s.latency_ms ?? [0, 0]
  const delay = lo + Math.random() * Math.max(0, hi - lo)
  setTimeout(() => {
    let r = Math.random()
    const hit = (share) => {
      if (r < (share ?? 0)) return true
      r -= share ?? 0
      return false
    }
    if (hit(s.reset)) return req.socket.destroy()
    if (hit(s.truncate)) {
      res.status(200).type('application/json')
      res.write('{"@odata.context":"$metadata#Conversation","value":[{"id":1,"sta')
      return setTimeout(() => req.socket.destroy(), 5)
    }
    if (hit(s.status_5xx)) {
      const status = [500, 502, 503, 504][Math.floor(Math.random() * 4)]
      if (status === 503) res.set('Retry-After', '1')
      return res.status(status).type('text/plain').send('chaos')
    }
    if (hit(s.garbage)) {
      const bytes = Buffer.from(Array.from({ length: 64 }, () => Math.floor(Math.random() * 256)))
      return res.status(200).type('application/json').send(bytes)
    }
    next()
  }, delay)
}

const chaosRoutes = express.Router()
chaosRoutes.use(express.json({ type: () => true }))
chaosRoutes.post('/', (req, res) => {
  settings = { ...(req.body || {}) }
  res.json(settings)
})
chaosRoutes.delete('/', (req, res) => {
  settings = null
  res.json({ ok: true })
})

module.exports = { chaos, chaosRoutes }
