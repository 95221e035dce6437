// CAP auth strategy: trusts the account that lib/liveagent.js resolved from the
// token. The account number is the CAP user id because the service views
// filter on `account_id = $user.id` (the only session variable the SQLite
// service exposes).
const cds = require('@sap/cds')

module.exports = function liveagent_auth(req, res, next) {
  const account = req.liveagent?.admin && req.liveagent.account
  if (!account) return res.status(401).json({ error: { code: '401', message: 'Unauthorized' } })
  req.user = new cds.User({ id: String(account), roles: ['admin'] })
  next()
}
