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

if [ "${1:-}" = "--tests" ]; then
  install tests/browser
  install tests/audit
  # The GraphQL client libraries dashboards use (tests/clients.rs).
  install tests/clients
  # The minimal-dialect upstream (jaystack OData libraries on PostgreSQL).
  install tests/upstream-pg
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
      echo "the minimal-dialect test upstream needs PostgreSQL: apt-get install postgresql" >&2
      exit 1
    fi
  fi
  if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    else
      echo "the shared-cache test needs Redis: apt-get install redis-server" >&2
      exit 1
    fi
  fi
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      echo "the browser test needs Chromium at /usr/bin/chromium: apt-get install chromium" >&2
      exit 1
    fi
  fi
fi
