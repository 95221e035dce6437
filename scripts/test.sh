#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit tests, fixture tests,
# the HTTP integration tests against the Live Agent test upstream, and the
# self-test of the minimal-dialect test upstream.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --tests
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
# The minimal-dialect test upstream checks its own rules and dialect
# behaviours, and that it serves the same rows as the CAP upstream.
(cd tests/upstream-pg && node --test selftest.js)
