// Process plumbing both test upstreams share: reading integer switches,
// announcing the port, and exiting with the test process that started them.

// A non-negative integer from the environment, or the default.
const int = (name, dflt) => {
  const v = process.env[name]
  if (v === undefined || v === '') return dflt
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${v}`)
  return n
}

// Listens and prints exactly one stdout line, `LISTENING <port>`.
function listen(app, port, host) {
  const ready = () => process.stdout.write(`LISTENING ${server.address().port}\n`)
  const server = host ? app.listen(port, host, ready) : app.listen(port, ready)
  server.on('error', err => { console.error(err.message); process.exit(1) })
  return server
}

// Exit once the test process that started us is gone, so nothing is orphaned.
function watchParent(pid) {
  const check = () => {
    try { process.kill(pid, 0) } catch (e) { if (e.code === 'ESRCH') process.exit(0) }
  }
  check()
  setInterval(check, 250).unref()
}

module.exports = { int, listen, watchParent }
