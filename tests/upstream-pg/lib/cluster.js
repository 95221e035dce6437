// A private PostgreSQL cluster in a temporary folder, reachable only through
// a unix socket in that folder. initdb and postgres run as the `postgres`
// user when we are root (PostgreSQL refuses to run as root). The cluster is
// stopped and its folder removed when this process exits, and, should it be
// killed outright, by a small watchdog process that outlives it.
const { execFileSync, spawn } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

// Durability is worthless for throw-away test data; speed is not.
const SETTINGS = {
  listen_addresses: '',
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  max_wal_size: '2GB',
  checkpoint_timeout: '1h',
  autovacuum: 'off',
  timezone: 'UTC',
  log_min_messages: 'fatal',
  max_connections: '50',
}

function binDir(configured) {
  if (configured) return configured
  const root = '/usr/lib/postgresql'
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter(v => fs.existsSync(path.join(root, v, 'bin', 'initdb'))) : []
  if (!versions.length) throw new Error('PostgreSQL not found: install Debian\'s `postgresql` package or set PG_BIN')
  return path.join(root, versions.sort((a, b) => Number(b) - Number(a))[0], 'bin')
}

// uid/gid for the server processes: ourselves, or `postgres` when root.
function owner() {
  if (process.getuid() !== 0) return {}
  const id = flag => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim())
  return { uid: id('-u'), gid: id('-g') }
}

// initdb takes most of a start-up, so its result is kept once per machine
// and PostgreSQL build (<base>/liveagent-pg-template-<hash>) and copied for
// every cluster. Built aside and renamed into place, so concurrent
// first starts never see half a template.
const INITDB = ['-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']
function template(bin, base, user) {
  const version = execFileSync(path.join(bin, 'postgres'), ['--version'], { encoding: 'utf8' })
  const key = crypto.createHash('sha256').update([bin, version, ...INITDB].join('\0')).digest('hex').slice(0, 16)
  const final = path.join(base, `liveagent-pg-template-${key}`)
  const complete = () => fs.existsSync(path.join(final, 'global', 'pg_control'))
  if (complete()) return final
  // A template is only ever renamed into place whole, so one that exists but
  // is incomplete was damaged afterwards (e.g. by a tmp cleaner).
  if (fs.existsSync(final) && !complete()) fs.rmSync(final, { recursive: true, force: true })
  const work = fs.mkdtempSync(`${final}-`)
  try {
    if (user.uid !== undefined) fs.chownSync(work, user.uid, user.gid)
    const data = path.join(work, 'data')
    execFileSync(path.join(bin, 'initdb'), ['-D', data, ...INITDB], { ...user, cwd: work, stdio: ['ignore', 'ignore', 'pipe'] })
    try { fs.renameSync(data, final) } catch (e) { if (!fs.existsSync(final)) throw e } // another start won the race
  } catch (e) {
    throw new Error(`initdb failed: ${e.stderr || e.message}`)
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
  return final
}

// Where clusters live: tmpfs when there is one, since copying the template
// and loading the data onto a disk cost several times as much.
function baseDir(configured) {
  if (configured) return configured
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK)
    return '/dev/shm'
  } catch {
    return os.tmpdir()
  }
}

async function start({ pgBin, pgTmpdir } = {}) {
  const bin = binDir(pgBin)
  const base = baseDir(pgTmpdir)
  const dir = fs.mkdtempSync(path.join(base, 'liveagent-pg-'))
  const data = path.join(dir, 'data')
  const user = owner()
  if (user.uid !== undefined) fs.chownSync(dir, user.uid, user.gid)
  const cluster = { dir, socketDir: dir, postgres: null }
  watchdog(dir)
  process.on('exit', () => stopSync(cluster))

  try {
    execFileSync('cp', ['-a', template(bin, base, user), data])
  } catch (e) {
    throw new Error(`cannot copy the cluster template: ${e.stderr || e.message}`)
  }
  const args = ['-D', data, '-k', dir, ...Object.entries(SETTINGS).flatMap(([k, v]) => ['-c', `${k}=${v}`])]
  const postgres = spawn(path.join(bin, 'postgres'), args, { ...user, cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] })
  cluster.postgres = postgres
  await new Promise((resolve, reject) => {
    const pidFile = path.join(data, 'postmaster.pid')
    const started = Date.now()
    postgres.on('exit', code => reject(new Error(`postgres exited with ${code}`)))
    const poll = () => {
      // Line 8 of postmaster.pid turns to `ready` once connections are accepted (as pg_ctl -w checks).
      let status = ''
      try { status = fs.readFileSync(pidFile, 'utf8').split('\n')[7] || '' } catch { /* not yet written */ }
      if (status.trim() === 'ready') return resolve()
      if (Date.now() - started > 30000) return reject(new Error('postgres did not start within 30 s'))
      setTimeout(poll, 20)
    }
    poll()
  })
  postgres.removeAllListeners('exit')
  postgres.on('exit', (code, signal) => {
    if (!cluster.stopping) {
      console.error(`postgres exited unexpectedly (${signal || code})`)
      process.exit(1)
    }
  })
  return cluster
}

// Immediate shutdown (SIGQUIT) and removal; synchronous, so it can run in an
// `exit` handler.
function stopSync(cluster) {
  if (cluster.stopped) return
  cluster.stopping = cluster.stopped = true
  const pid = cluster.postgres?.pid
  if (pid) {
    try { process.kill(pid, 'SIGQUIT') } catch { /* already gone */ }
    const deadline = Date.now() + 10000
    const nap = new Int32Array(new SharedArrayBuffer(4))
    while (alive(pid) && Date.now() < deadline) Atomics.wait(nap, 0, 0, 10)
    if (alive(pid)) try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
  }
  fs.rmSync(cluster.dir, { recursive: true, force: true })
}

// A child is a zombie (still "alive" to kill 0) until reaped, which an exit
// handler cannot wait for; /proc tells a zombie apart.
function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return !/^\d+ \(.*\) Z/.test(stat)
  } catch {
    try { process.kill(pid, 0); return true } catch { return false }
  }
}

// Cleans up after a SIGKILL of this process: waits for it to be gone, then
// stops the postmaster named in postmaster.pid and removes the folder.
function watchdog(dir) {
  const script = `
    while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done
    [ -d "$1" ] || exit 0
    pid=$(head -n 1 "$1/data/postmaster.pid" 2>/dev/null)
    if [ -n "$pid" ]; then
      kill -QUIT "$pid" 2>/dev/null
      for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null
    fi
    rm -rf "$1"`
  spawn('sh', ['-c', script, 'watchdog', dir], { detached: true, stdio: 'ignore' }).unref()
}

module.exports = { start, stopSync }
