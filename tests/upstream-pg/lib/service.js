// One OData service per endpoint version, built the way odata-v4-pg's README
// shows: the raw query string goes to `createQuery` (odata-v4-pg with its
// own odata-v4-parser 0.1.13), the SQL it builds runs as is, and the rows
// are sent as `{"@odata.context", "value"}`. Key lookups use the SQL of
// jaystack's PostgreSQL example (`... WHERE id = $n AND (<filter>)`).
// `$metadata` and the service document come from odata-v4-server's Edm
// decorators. So every quirk of the dialect (README.md) comes from the
// libraries; the additions are the account setting of the isolating views
// and v1.0's text form of User dates.
const express = require('express')
const { ODataServer, ODataController, Edm, odata } = require('odata-v4-server')
const { createQuery } = require('odata-v4-pg')
const { STORAGE, VERSIONS, SCHEMA } = require('./model')
const database = require('./database')

// TypeScript's decorator calls, for plain JavaScript.
const decorateProperty = (decorators, target, key) => [...decorators].reverse().forEach(d => d(target, key))
const decorateClass = (decorators, cls) => [...decorators].reverse().reduce((c, d) => d(c) || c, cls)
const named = (name, base = class {}) => ({ [name]: class extends base {} })[name]

const EDM = { int: Edm.Int32, bigint: Edm.Int64, double: Edm.Double, bool: Edm.Boolean, text: Edm.String, time: Edm.DateTimeOffset }

function entityType(version, namespace, entity, json) {
  const type = named(entity)
  for (const field of VERSIONS[version][entity]) {
    const kind = STORAGE[entity][field]
    const edm = kind === 'ints' ? Edm.Collection(Edm.Int32)
      : kind === 'json' ? (version === '1.0' ? Edm.String : Edm.ComplexType(json))
        : EDM[kind]
    decorateProperty(field === 'id' ? [Edm.Key, edm] : [edm], type.prototype, field)
  }
  return decorateClass([odata.namespace(namespace)], type)
}

// The Edm model as an odata-v4-server class, for $metadata and the service
// document (its controllers only name the entity sets).
function edmServer(version) {
  const namespace = `V${version.replace('.', '')}`
  const json = decorateClass([Edm.OpenType, odata.namespace(namespace)], named('Json'))
  const Server = decorateClass([odata.namespace(namespace)], named(`${namespace}Server`, ODataServer))
  for (const entity of Object.keys(VERSIONS[version])) {
    const type = entityType(version, namespace, entity, json)
    Server.addController(named(`${entity}Controller`, ODataController), entity, type)
  }
  return Server
}

// v1.0 sends User dates as `2021-12-11 12:41:26.745` (no T, no zone; UTC).
const userDates = row => {
  for (const k in row) if (row[k] instanceof Date) row[k] = row[k].toISOString().replace('T', ' ').replace('Z', '')
  return row
}

// An express router serving `version` (`1.0` or `1.1`) from `pool`.
function create(version, pool) {
  const Server = edmServer(version)
  const sets = new Set(Object.keys(VERSIONS[version]))
  const rewrite = entity => (version === '1.0' && entity === 'User' ? userDates : row => row)
  const router = express.Router()
  router.use((req, res, next) => { res.set('OData-Version', '4.0'); next() })
  const serviceDocument = Server.document().requestHandler()
  router.get('/', (req, res, next) => (req.path === '/' ? serviceDocument(req, res, next) : next()))
  router.get('/\\$metadata', Server.$metadata().requestHandler())
  router.get(/^\/([A-Za-z]+)(?:\((\d+)\))?$/, async (req, res, next) => {
    const [entity, key] = [req.params[0], req.params[1]]
    if (!sets.has(entity)) return next()
    try {
      const sql = createQuery(rawQuery(req.url) || null) // no options: an empty AST, as odata-v4-server hands over
      const from = `${SCHEMA[version]}."${entity}"`
      const account = req.liveagent.account
      const context = `${req.protocol}://${req.get('host')}${req.baseUrl}/$metadata#${entity}`
      if (key === undefined) {
        const { rows } = await database.query(pool, account, sql.from(from), sql.parameters)
        return res.json({ '@odata.context': context, value: rows.map(rewrite(entity)) })
      }
      const text = `SELECT ${sql.select} FROM ${from} WHERE id = $${sql.parameters.length + 1} AND (${sql.where})`
      const { rows } = await database.query(pool, account, text, [...sql.parameters, Number(key)])
      if (!rows.length) return sendError(res, 404, 'Resource not found.')
      res.json({ '@odata.context': `${context}/$entity`, ...rewrite(entity)(rows[0]) })
    } catch (err) {
      sendError(res, 500, err.message) // parse errors and SQL errors alike
    }
  })
  return router
}

// The query string as received (still percent-encoded), which is what the
// OData parser expects.
const rawQuery = url => {
  const i = url.indexOf('?')
  return i < 0 ? '' : url.slice(i + 1)
}

// odata-v4-server's error body: numeric code.
const sendError = (res, status, message) => res.status(status).json({ error: { code: status, message } })

module.exports = { create }
