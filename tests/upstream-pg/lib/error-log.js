// With ERROR_LOG=<file>, appends one JSON line per answer a client of the
// real service must never get: any status >= 400, and a 200 for a request
// the dialect answers silently wrong (README.md, "ERROR_LOG"). Left out: the
// injected faults of /_test/faults, authentication and authorization
// refusals (401, 403), a key lookup's 404 (no such row: an answer), and
// requests with the header `x-test-expect-error: 1`.
const fs = require('node:fs')

const MAX_BODY = 2000 // characters of the answer kept per line

// Marks a request the fault injection answered itself (a latency-only fault
// passes it on, so it is not marked).
function trackFaults(faults) {
  return (req, res, next) => {
    res.locals.injectedFault = true
    faults(req, res, () => {
      res.locals.injectedFault = false
      next()
    })
  }
}

function errorLog(file) {
  return (req, res, next) => {
    if (req.headers['x-test-expect-error'] === '1') return next()
    const path = req.path // before routers mounted under a prefix shorten it
    let body = ''
    const send = res.send
    res.send = function (chunk) {
      body = Buffer.isBuffer(chunk) ? chunk.toString('utf8') : typeof chunk === 'string' ? chunk : JSON.stringify(chunk)
      return send.apply(this, arguments)
    }
    res.on('finish', () => {
      const reason = whyLogged(path, req.originalUrl, res)
      if (!reason) return
      const line = { time: new Date().toISOString(), status: res.statusCode, method: req.method, url: req.originalUrl, reason, body: body.slice(0, MAX_BODY) }
      fs.appendFileSync(file, `${JSON.stringify(line)}\n`)
    })
    next()
  }
}

function whyLogged(path, url, res) {
  if (res.locals.injectedFault) return null
  const status = res.statusCode
  if (status === 401 || status === 403) return null
  if (status === 404 && /^\/v1\.[01]\/odata\/[A-Za-z]+\(\d+\)$/.test(path)) return null
  if (status >= 400) return 'error status'
  return silentlyWrong(url)
}

// Query options and filter constructs the real service takes with a 200
// and a wrong answer: ignored options, a dropped `not`, null comparisons
// that match nothing; and unquoted DateTimeOffset literals, which fail for
// the hour 20 only. (Everything else it cannot take is an error status.)
function silentlyWrong(url) {
  const i = url.indexOf('?')
  if (i < 0) return null
  for (const param of url.slice(i + 1).split('&')) {
    const [name, value = ''] = param.split('=')
    if (['$count', '$expand', '$search'].includes(name)) return `${name} is ignored`
    if (name !== '$filter') continue
    let filter
    try { filter = decodeURIComponent(value) } catch { return null } // the parser's own error
    const structure = filter.replace(/'(?:[^']|'')*'/g, "''").toLowerCase()
    if (/(^|[\s(])not[\s(]/.test(structure)) return 'not is dropped'
    if (/\b(eq|ne)\s+null\b/.test(structure)) return 'eq/ne null match nothing'
    if (/(^|[\s(,])\d{4}-\d\d-\d\dt/.test(structure)) return 'unquoted date fails at hour 20'
  }
  return null
}

module.exports = { trackFaults, errorLog, silentlyWrong }
