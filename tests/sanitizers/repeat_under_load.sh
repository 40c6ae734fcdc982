#!/usr/bin/env bash
# Runs one GoogleTest binary's tests again and again under the sanitizers,
# two processes at a time next to a CPU burner, each process running one
# test as ctest does, and counts the failures and the sanitizer report files
# (from the test binary and from every process it starts). For flakes that
# only show under load, such as the LeakSanitizer reports at exit that
# docs/reliability.md ("OpenSSL at exit") explains.
#
#   tests/sanitizers/repeat_under_load.sh BINARY ROUNDS TEST...
#   e.g. tests/sanitizers/repeat_under_load.sh build-asan/tests/client/bnctl_test 17 \
#          BnctlSecureTest.ReadTokenCannotMutate BnctlSecureTest.PlaintextOrCertificateLessClientsAreRefused
#
# Each round runs every TEST twice at once: ROUNDS x TESTs x 2 processes.
# Reports get full stacks (slow unwinding on malloc, so that frames inside
# uninstrumented libraries show). Exits non-zero on any failure or report.
set -uo pipefail
[ $# -ge 3 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
binary="$(realpath "$1")"
rounds="$2"
shift 2
source_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d -t repeat_under_load.XXXXXX)"
mkdir -p "$work/reports"
(while :; do :; done) &
burner=$!
trap 'kill $burner 2>/dev/null' EXIT
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:log_path=$work/reports/asan:fast_unwind_on_malloc=0:malloc_context_size=40"
export LSAN_OPTIONS="suppressions=$source_dir/tests/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$work/reports/ubsan"
runs=0
failures=0
for ((round = 0; round < rounds; round++)); do
  for test in "$@"; do
    "$binary" --gtest_filter="$test" >"$work/a.log" 2>&1 &
    first=$!
    "$binary" --gtest_filter="$test" >"$work/b.log" 2>&1 &
    second=$!
    for pair in "$first:a" "$second:b"; do
      if ! wait "${pair%%:*}"; then
        failures=$((failures + 1))
        cp "$work/${pair##*:}.log" "$work/failed.$round.$test.${pair##*:}.log"
      fi
    done
    runs=$((runs + 2))
  done
done
reports=$(find "$work/reports" -type f | wc -l)
echo "runs ${runs}, failed ${failures}, sanitizer reports ${reports} (logs and reports in ${work})"
[ "$failures" -eq 0 ] && [ "$reports" -eq 0 ]
