#!/usr/bin/env bash
# Builds the whole project with AddressSanitizer+UBSan (build-asan) and with
# ThreadSanitizer (build-tsan), runs CTest in each and prints a summary line
# per sanitizer. Slow (two full builds): not part of CTest.
#
# Usage: tests/run_sanitizers.sh [address|thread|both=both] [JOBS=2] [CTEST_TIMEOUT_SECONDS=1800]
set -uo pipefail

which="${1:-both}"
jobs="${2:-2}"
ctest_timeout="${3:-1800}"
source_dir="$(cd "$(dirname "$0")/.." && pwd)"
case "${which}" in
  address) sanitizers=(address) ;;
  thread) sanitizers=(thread) ;;
  both) sanitizers=(address thread) ;;
  *) echo "usage: $0 [address|thread|both] [jobs] [ctest timeout]" >&2; exit 2 ;;
esac

declare -A summary
status=0
for sanitizer in "${sanitizers[@]}"; do
  short="${sanitizer/address/asan}"
  short="${short/thread/tsan}"
  build_dir="${source_dir}/build-${short}"
  log="${build_dir}/sanitizer-ctest.log"
  mkdir -p "${build_dir}"
  if ! cmake -S "${source_dir}" -B "${build_dir}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DBNSERVE_SANITIZE="${sanitizer}" -DBNSERVE_BUILD_BENCHMARKS=OFF >"${build_dir}/configure.log" 2>&1 ||
     ! cmake --build "${build_dir}" -j "${jobs}" >"${build_dir}/build.log" 2>&1; then
    summary[${sanitizer}]="BUILD FAILED (see ${build_dir}/build.log)"
    status=1
    continue
  fi
  # halt_on_error: the first report fails the test that produced it.
  ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" \
    timeout "${ctest_timeout}" ctest --test-dir "${build_dir}" -j "${jobs}" --output-on-failure >"${log}" 2>&1
  rc=$?
  result=$(grep -E 'tests passed|tests failed' "${log}" | tail -1)
  summary[${sanitizer}]="ctest exit ${rc}: ${result:-no summary (timeout?)}"
  [[ ${rc} -eq 0 ]] || status=1
  grep -E 'ERROR: (Address|Thread|Leak)Sanitizer|runtime error:|WARNING: ThreadSanitizer' "${log}" | sort | uniq -c | head -20
done
for sanitizer in "${sanitizers[@]}"; do echo "${sanitizer}: ${summary[${sanitizer}]}"; done
exit ${status}
