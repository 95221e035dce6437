// Start-up switches, read once from the environment (see README.md).
const { int } = require('../../upstream/lib/process')

// Switches of the CAP upstream that this dialect cannot honour: a test that
// sets one would test something else here, so starting fails instead.
for (const name of ['DECLARE_NAVIGATION', 'V10_LEGACY_FIELDS', 'MAX_PAGE_SIZE']) {
  const v = process.env[name]
  if (v !== undefined && v !== '' && v !== '0') throw new Error(`${name} is not supported by this upstream (see README.md)`)
}

module.exports = {
  port: int('PORT', 4005),
  parentPid: int('PARENT_PID', null),
  conversations: int('CONVERSATIONS', 600),
  pageCap: int('PAGE_CAP', 10000),
  // folder of initdb/postgres; default: the newest /usr/lib/postgresql/<n>/bin
  pgBin: process.env.PG_BIN || null,
  // parent folder of the clusters; default: /dev/shm when writable, else os.tmpdir()
  pgTmpdir: process.env.PG_TMPDIR || null,
  // where answers a client must never get are logged, a JSON line each (lib/error-log.js)
  errorLog: process.env.ERROR_LOG || null,
}
