// A private PostgreSQL cluster for the gateway's analytics replica in the
// Rust tests: started like the upstream's own (lib/cluster.js, a unix
// socket only), announced on stdout as `READY <socket folder>`, and stopped
// with its folder when the test process (PARENT_PID) is gone.
const cluster = require('./lib/cluster')
const config = require('./lib/config')
const { watchParent } = require('../upstream/lib/process')

async function main() {
  if (config.parentPid) watchParent(config.parentPid)
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => process.exit(0))
  const pg = await cluster.start(config)
  process.stdout.write(`READY ${pg.socketDir}\n`)
  setInterval(() => {}, 1 << 30)
}

main().catch(err => {
  console.error(err)
  process.exit(1)
})
