#!/usr/bin/env bash
# Installs what the gateway's build, demo and tests need beside Rust:
# the npm packages of the test upstream (SAP CAP + SQLite), of the
# playground (GraphiQL, embedded at build time) and of the browser test.
# With --tests, also the test tools: the browser test's playwright-core and
# Debian's Chromium (needs root), the graphql-http audit suite and the
# client libraries' suite.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "Node.js 20 and npm are required (apt-get install nodejs npm)" >&2
  exit 1
fi

# npm ci when node_modules is missing or older than the lock file.
install() {
  local dir=$1
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

install tests/upstream
# better-sqlite3 is native: rebuild it if its binary did not come with the install.
if ! (cd tests/upstream && node -e "require('better-sqlite3')(':memory:')") 2>/dev/null; then
  (cd tests/upstream && npm rebuild better-sqlite3 --loglevel=error)
fi
install playground

# Installs Debian's package $1 unless the check $2 passes (as root), or
# says why it is needed ($3).
need() {
  if ! eval "$2" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
    else
      echo "$3: apt-get install $1" >&2
      exit 1
    fi
  fi
}

if [ "${1:-}" = "--tests" ]; then
  install tests/browser
  install tests/audit
  # The GraphQL client libraries dashboards use (tests/clients.rs).
  install tests/clients
  # The minimal-dialect upstream (jaystack OData libraries on PostgreSQL).
  install tests/upstream-pg
  need postgresql "ls /usr/lib/postgresql/*/bin/initdb" "the minimal-dialect test upstream needs PostgreSQL"
  need redis-server "command -v redis-server" "the shared-cache test needs Redis"
  need chromium "test -x /usr/bin/chromium" "the browser test needs Chromium at /usr/bin/chromium"
  # The monitoring test runs Prometheus and promtool on deploy/.
  need prometheus "command -v promtool" "the monitoring test needs Prometheus"
fi
