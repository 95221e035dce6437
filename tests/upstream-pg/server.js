// Live Agent OData test upstream in the minimal dialect of the real service:
// jaystack's odata-v4-pg (queries) and odata-v4-server ($metadata) over a
// private PostgreSQL cluster, for endpoint versions 1.0 and 1.1 behind Live
// Agent's rules.
// Switches and measured behaviour: README.md.
// stdout carries exactly one line, `LISTENING <port>`; all else goes to stderr.
const config = require('./lib/config')
const { listen, watchParent } = require('../upstream/lib/process')

// odata-v4-sql reports filter nodes it skips (`not`, `$search`) with
// console.log(message, node); the message alone goes to stderr.
console.log = console.info = console.debug = message => process.stderr.write(`${message}\n`)
const express = require('express')
const cluster = require('./lib/cluster')
const database = require('./lib/database')
const service = require('./lib/service')
const liveagent = require('./lib/liveagent')
const { requestLog, faults, routes } = require('../upstream/lib/test-routes') // shared with the CAP upstream: same routes and JSON shapes
const sendError = require('./lib/odata-error')
const { trackFaults, errorLog } = require('./lib/error-log')

async function main() {
  if (config.parentPid) watchParent(config.parentPid)
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => process.exit(0))
  const started = Date.now()
  const pg = await cluster.start(config)
  const clusterMs = Date.now() - started
  const pool = await database.create(pg.socketDir, config)
  if (process.env.DEBUG_LOAD) console.error(`cluster ready in ${clusterMs} ms, data in ${Date.now() - started - clusterMs} ms`)

  const app = express()
  app.disable('x-powered-by')
  app.use('/_test', routes)
  if (config.errorLog) app.use(errorLog(config.errorLog))
  const odata = express.Router()
  odata.use(requestLog, liveagent.identify, trackFaults(faults), liveagent.auth, liveagent.collectionRules(config.pageCap))
  app.use((req, res, next) => (/^\/v1\.[01](\/|$)/.test(req.path) ? odata(req, res, next) : next()))
  app.use('/v1.0/odata', service.create('1.0', pool))
  app.use('/v1.1/odata', service.create('1.1', pool))
  app.use((req, res) => sendError(res, 404, `Not found: ${req.path}`))

  listen(app, config.port, '127.0.0.1')
}


main().catch(err => {
  console.error(err)
  process.exit(1)
})
