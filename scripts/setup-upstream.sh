#!/usr/bin/env bash
# Installs the test upstream's npm packages (SAP CAP + SQLite) when missing or
# out of date. Needs Node.js 20 and npm.
set -euo pipefail
cd "$(dirname "$0")/../tests/upstream"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "Node.js 20 and npm are required for the test upstream" >&2
  exit 1
fi
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
# better-sqlite3 is native: rebuild it if its binary did not come with the install.
if ! node -e "require('better-sqlite3')(':memory:')" 2>/dev/null; then
  npm rebuild better-sqlite3 --loglevel=error
fi
