// Live Agent behaviour in front of the OData services: token auth (admins
// only), `$top`/`$skip` required on collection requests of both versions,
// and the page cap on `$top`.
// Tokens, auth and admin rule: the CAP upstream's own middleware.
const { identify, auth } = require('../../upstream/lib/liveagent')
const sendError = require('./odata-error')

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
