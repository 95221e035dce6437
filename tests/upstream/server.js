// Live Agent OData test upstream: SAP CAP services for endpoint versions 1.0
// and 1.1 behind Live Agent's auth rules. Switches and guarantees: README.md.
// stdout carries exactly one line, `LISTENING <port>`; all else goes to stderr.
const config = require('./lib/config')
const { listen, watchParent } = require('./lib/process')

process.chdir(__dirname) // CAP finds its config (package.json) and model from here
console.log = console.info = console.debug = console.error
const cds = require('@sap/cds')
// Quiet CAP: warnings and errors only.
cds.log.Logger = label => {
  const no = () => {}, err = (...args) => console.error(`[${label}]`, ...args)
  return { trace: no, debug: no, log: no, info: no, warn: err, error: err }
}
const express = require('express')
const { requestLog, faults, routes } = require('./lib/test-routes')
const { chaos, chaosRoutes } = require('./lib/chaos')
const liveagent = require('./lib/liveagent')
const sendError = require('./lib/odata-error')
const load = require('./lib/load')

cds.env.requires.db.credentials.url = config.dbFile || ':memory:'
// CAP caps every read at 1000 rows by default; 0 lifts the cap.
cds.env.query.limit = { max: config.maxPageSize || 0, default: config.maxPageSize || 0 }

async function main() {
  if (config.parentPid) watchParent(config.parentPid)
  const files = ['db/schema.cds', 'srv/v10.cds', 'srv/v11.cds']
  if (config.v10Legacy) files.push('srv/v10-legacy.cds')
  if (config.navigation) files.push('srv/navigation.cds')
  const csn = await cds.load(files)
  cds.model = cds.compile.for.nodejs(csn)
  cds.db = await cds.connect.to('db')
  await load(csn, config)

  const app = express()
  app.use('/_test/chaos', chaosRoutes)
  app.use('/_test', routes)
  const odata = express.Router()
  odata.use(requestLog, liveagent.identify, faults, chaos, liveagent.auth, liveagent.requireTopSkip, liveagent.capTop, liveagent.v10UserDates)
  app.use((req, res, next) => (/^\/v1\.[01](\/|$)/.test(req.path) ? odata(req, res, next) : next()))
  await cds.serve('all').from(cds.model).in(app)
  app.use((req, res) => sendError(res, 404, `Not found: ${req.path}`))

  listen(app, config.port)
}


main().catch(err => {
  console.error(err)
  process.exit(1)
})
