// Fixed access tokens of the test upstream (documented in README.md).
module.exports = {
  'admin-token-1': { account: 1, admin: true },
  'admin-token-2': { account: 2, admin: true },
  // A second admin of account 1: another credential for the same account.
  'admin-token-1b': { account: 1, admin: true },
  'agent-token-1': { account: 1, admin: false },
}
