#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit tests, fixture tests,
# the HTTP integration tests against both test upstreams (SAP CAP, then the
# minimal dialect of the real service, then CAP again with a page cap the
# gateways are not told and the default configuration), and the self-test
# of the minimal-dialect test upstream.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --tests
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked

# The HTTP integration suites (those that start a test upstream) again, on
# the minimal-dialect upstream. It appends every answer a client of the
# real service must never get (an error status, or a silently wrong 200) to
# ERROR_LOG: the run fails unless that file stays empty.
suites=()
for file in $(grep -lE '\b(upstream|upstream_with|private_upstream)\(' tests/*.rs); do
  suites+=(--test "$(basename "$file" .rs)")
done
error_log=$(mktemp)
trap 'rm -f "$error_log"' EXIT
status=0
TEST_UPSTREAM=liveagent ERROR_LOG="$error_log" cargo test --locked "${suites[@]}" || status=$?
if [ -s "$error_log" ]; then
  echo "the minimal-dialect upstream logged answers the gateway must never get:" >&2
  cat "$error_log" >&2
  status=1
fi
[ "$status" = 0 ] || exit "$status"

# The same suites on CAP upstreams that refuse a `$top` above 1 000, with
# gateways that have the default configuration: the probes decide every
# capability and the page cap is learned, as for a new user.
TEST_UPSTREAM=cap-default cargo test --locked "${suites[@]}"

# The minimal-dialect test upstream checks its own rules and dialect
# behaviours, and that it serves the same rows as the CAP upstream.
(cd tests/upstream-pg && node --test selftest.js)
