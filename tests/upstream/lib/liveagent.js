// Live Agent behaviour in front of the CAP services: token auth (admins only),
// the v1.1 $top/$skip rule, the optional $top cap, and v1.0's date format for
// User.
const TOKENS = require('./tokens')
const sendError = require('./odata-error')
const config = require('./config')

// Token from `Authorization: Bearer` or `apikey=`; the apikey parameter is
// removed from req.url so CAP (and its nextLinks) never see it. Sets
// req.liveagent (null for no or an unknown token) for auth and the log.
function identify(req, res, next) {
  const [path, query = ''] = splitUrl(req.url)
  const params = new URLSearchParams(query)
  let token = params.get('apikey')
  if (params.has('apikey')) {
    const kept = query.split('&').filter(p => p && !/^apikey(=|$)/.test(p)).join('&')
    req.url = kept ? `${path}?${kept}` : path
  }
  const header = /^Bearer\s+(.+)$/i.exec(req.headers.authorization || '')
  if (header) token = header[1].trim()
  req.liveagent = token && Object.hasOwn(TOKENS, token) ? TOKENS[token] : null
  next()
}

function auth(req, res, next) {
  if (!req.liveagent) return sendError(res, 401, 'Unauthorized: missing or unknown access token')
  if (!req.liveagent.admin) return sendError(res, 403, 'Forbidden: only users with an admin role can query OData models')
  if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 405, 'Only GET requests are supported')
  next()
}

// v1.1 answers a collection request without both $top and $skip with 400.
// Key lookups (`Conversation(7)`), /$count, $metadata and the service
// document are exempt.
function requireTopSkip(req, res, next) {
  const [path, query = ''] = splitUrl(req.url)
  const m = /^\/v1\.1\/odata\/([A-Za-z]+)\/?$/.exec(path)
  if (!m) return next()
  const keys = new Set([...new URLSearchParams(query).keys()])
  if (keys.has('$top') && keys.has('$skip')) return next()
  sendError(res, 400, 'The query parameters $top and $skip are required for collection requests')
}

// With MAX_TOP set, a collection request (either version) whose $top, or a
// $top nested in $expand, is above it gets 400, as Live Agent answers above
// its page cap (10 000).
function capTop(req, res, next) {
  if (config.maxTop === null) return next()
  const [path, query = ''] = splitUrl(req.url)
  if (!/^\/v1\.[01]\/odata\/[A-Za-z]+\/?$/.test(path)) return next()
  const params = new URLSearchParams(query)
  const tops = [params.get('$top'), ...[...(params.get('$expand') || '').matchAll(/\$top=(\d+)/g)].map(m => m[1])]
  const over = tops.filter(t => t !== null && Number(t) > config.maxTop)
  if (over.length === 0) return next()
  sendError(res, 400, `$top ${over[0]} is above the maximum of ${config.maxTop}`)
}

// v1.0 sends User dates as `2021-12-11 12:41:26.745` (no T, no zone), also
// in Users reached through a navigation property (DECLARE_NAVIGATION=1).
const ISO = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d(?:\.\d+)?)Z$/
const USER_NAVS = new Set(['assignee', 'sender', 'user'])
function v10UserDates(req, res, next) {
  if (!req.path.startsWith('/v1.0/odata/')) return next()
  // The last path segment names what is served: `User(3)`, `Conversation(1)/assignee`.
  const last = req.path.split('/').filter(s => s && s !== '$count').at(-1).replace(/\(.*/, '')
  const isUser = last === 'User' || USER_NAVS.has(last)
  const json = res.json
  res.json = function (body) {
    if (Array.isArray(body?.value)) rewriteDates(body.value, isUser)
    else if (!body?.error) rewriteDates(body, isUser)
    return json.call(this, body)
  }
  next()
}

// On v1.0 every nested object or array of objects is an expanded navigation
// (JSON columns are text there), so the property name tells the entity.
function rewriteDates(node, isUser) {
  if (Array.isArray(node)) return node.forEach(n => rewriteDates(n, isUser))
  if (!node || typeof node !== 'object') return
  for (const k in node) {
    if (typeof node[k] !== 'string') rewriteDates(node[k], USER_NAVS.has(k))
    else if (isUser) node[k] = node[k].replace(ISO, '$1 $2')
  }
}

const splitUrl = url => {
  const i = url.indexOf('?')
  return i < 0 ? [url] : [url.slice(0, i), url.slice(i + 1)]
}

module.exports = { identify, auth, requireTopSkip, capTop, v10UserDates }
