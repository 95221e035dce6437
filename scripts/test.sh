#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit tests, fixture tests and
# the HTTP integration tests against the Live Agent test upstream.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --tests
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
