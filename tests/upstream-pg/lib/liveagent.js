// Live Agent behaviour in front of the OData services: token auth (admins
// only), `$top`/`$skip` required on collection requests of both versions,
// and the page cap on `$top`.
const TOKENS = require('../../upstream/lib/tokens')
const sendError = require('./odata-error')

// Token from `Authorization: Bearer` or `apikey=`; the apikey parameter is
// removed from req.url so the OData parser never sees it. Sets
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

// A collection request (`/v1.x/odata/<Set>`) needs both $top and $skip, and
// $top may not exceed the page cap. Key lookups (`Conversation(7)`),
// `/$count`, `$metadata` and the service document are exempt.
function collectionRules(pageCap) {
  return (req, res, next) => {
    const [path, query = ''] = splitUrl(req.url)
    if (!/^\/v1\.[01]\/odata\/[A-Za-z]+\/?$/.test(path)) return next()
    const params = new URLSearchParams(query)
    if (!params.has('$top') || !params.has('$skip'))
      return sendError(res, 400, 'The query parameters $top and $skip are required for collection requests')
    const top = Number(params.get('$top'))
    if (Number.isInteger(top) && top > pageCap)
      return sendError(res, 400, `The query parameter $top must not exceed ${pageCap}`)
    next()
  }
}

const splitUrl = url => {
  const i = url.indexOf('?')
  return i < 0 ? [url] : [url.slice(0, i), url.slice(i + 1)]
}

module.exports = { identify, auth, collectionRules }
