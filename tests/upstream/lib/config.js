// Start-up switches, read once from the environment (see README.md).
const { int } = require('./process')
const path = require('node:path')

module.exports = {
  port: int('PORT', 4004),
  parentPid: int('PARENT_PID', null),
  conversations: int('CONVERSATIONS', 600),
  // resolved against the caller's cwd, since server.js changes into its own folder
  dbFile: process.env.DB_FILE ? path.resolve(process.env.DB_FILE) : null,
  maxPageSize: int('MAX_PAGE_SIZE', null),
  maxTop: int('MAX_TOP', null),
  v10Legacy: process.env.V10_LEGACY_FIELDS === '1',
  navigation: process.env.DECLARE_NAVIGATION === '1',
}
