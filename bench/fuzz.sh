#!/usr/bin/env bash
# Long runs of the property tests: `$filter` rendering parsed back by an
# independent parser (adversarial literals), cursors, the aggregate engines
# held equal (the fold against SQL on SQLite and PostgreSQL), and random
# requests at the HTTP surface (against the test upstream). The test suite
# runs 256 cases of the first three and 64 of the last; this runs CASES
# (default 100000; a tenth of it for the engines and over HTTP) and prints
# the time each took.
#
# Usage: bench/fuzz.sh [CASES]
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-100000}"
cargo test --locked --lib --test http_fuzz --no-run --quiet
for test in odata::filter_fuzz::rendered_filters_parse_back_to_the_same_tree \
            plan::args::tests::cursors_decode_without_panicking_and_round_trip; do
  start=$(date +%s%N)
  PROPTEST_CASES="$cases" cargo test --locked --quiet --lib -- --exact "$test" >/dev/null
  end=$(date +%s%N)
  seconds=$(awk -v ns=$((end - start)) 'BEGIN { printf "%.1f", ns / 1e9 }')
  printf '%-70s %8s cases  %6s s  passed\n' "$test" "$cases" "$seconds"
done
engine_cases=$((cases / 10))
test=replica::conformance::every_engine_gives_the_groups_of_the_fold
start=$(date +%s%N)
PROPTEST_CASES="$engine_cases" cargo test --locked --quiet --lib -- --exact "$test" >/dev/null
end=$(date +%s%N)
seconds=$(awk -v ns=$((end - start)) 'BEGIN { printf "%.1f", ns / 1e9 }')
printf '%-70s %8s cases  %6s s  passed\n' "$test" "$engine_cases" "$seconds"
http_cases=$((cases / 10))
start=$(date +%s%N)
PROPTEST_CASES="$http_cases" cargo test --locked --quiet --test http_fuzz >/dev/null
end=$(date +%s%N)
seconds=$(awk -v ns=$((end - start)) 'BEGIN { printf "%.1f", ns / 1e9 }')
printf '%-70s %8s cases  %6s s  passed\n' "http_fuzz::every_request_gets_a_coded_answer" "$http_cases" "$seconds"
