#!/usr/bin/env bash
# Builds the whole project with AddressSanitizer+UBSan (build-asan) and with
# ThreadSanitizer (build-tsan), runs CTest in each and prints a summary line
# per sanitizer. Slow (two full builds): not part of CTest; CI
# (tests/run_all.sh) runs the address one. Exits non-zero when a build
# fails, a test fails, or any process wrote a sanitizer report.
#
# Tests labelled `heavy` (ctest LABELS) run in the Release stage only.
#
# Usage: tests/run_sanitizers.sh [address|thread|both=both] [JOBS=2] [CTEST_TIMEOUT_SECONDS=3600]
# Build directories go under $BNSERVE_SANITIZER_BUILD_ROOT (default: the
# source tree). Builds go through deploy/build.sh, so ccache is used when
# installed.
#
# Tests labelled `heavy` (whole-model zoos, multi-process database and
# Prometheus suites) are left to the Release stage: they prove model coverage
# and protocol behaviour, not memory safety, and the instrumented build would
# run them several times slower.
#
# Reports: every instrumented process - the test binaries and the bnserve,
# bnctl, crash_harness ... processes they, the shell tests and the Python
# contract test start - inherits the *SAN_OPTIONS below, so each writes its
# reports to <build>/sanitizer-reports/<kind>.<pid>. A server stopped with
# SIGTERM by a test that does not look at its exit code would otherwise lose
# its leak report in a temporary log; here any report file fails the run.
#
# Tests labelled "heavy" (whole networks exported at test time) run in the
# Release stage only: instrumented, they would take most of the CI budget.
set -uo pipefail

which="${1:-both}"
jobs="${2:-2}"
ctest_timeout="${3:-3600}"
source_dir="$(cd "$(dirname "$0")/.." && pwd)"
build_root="${BNSERVE_SANITIZER_BUILD_ROOT:-${source_dir}}"
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
  build_dir="${build_root}/build-${short}"
  log="${build_dir}/sanitizer-ctest.log"
  reports="${build_dir}/sanitizer-reports"
  mkdir -p "${build_dir}"
  build_start=${SECONDS}
  if ! BNSERVE_BUILD_DIR="${build_dir}" BNSERVE_BUILD_JOBS="${jobs}" bash "${source_dir}/deploy/build.sh" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBNSERVE_SANITIZE="${sanitizer}" -DBNSERVE_BUILD_TESTS=ON \
        -DBNSERVE_BUILD_BENCHMARKS=OFF >"${build_dir}/build.log" 2>&1; then
    tail -n 40 "${build_dir}/build.log" 2>/dev/null
    summary[${sanitizer}]="BUILD FAILED (see ${build_dir}/build.log)"
    status=1
    continue
  fi
  build_seconds=$((SECONDS - build_start))
  rm -rf "${reports}"
  mkdir -p "${reports}"
  test_start=${SECONDS}
  # Tests labelled `heavy` (whole torchvision networks, tests/zoo, and long
  # runs sized for the Release stage such as pg_replicas_bulk) are left out:
  # they prove numerics and scale the Release stage already covers, at many
  # times the cost under the sanitizers.
  # halt_on_error: the first report ends the process that produced it, so
  # the test fails. Suppressions cover uninstrumented third-party libraries
  # only; each entry says why (tests/sanitizers/).
  ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:log_path=${reports}/asan" \
  LSAN_OPTIONS="suppressions=${source_dir}/tests/sanitizers/lsan.supp:print_suppressions=0" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=${reports}/ubsan" \
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=${reports}/tsan:suppressions=${source_dir}/tests/sanitizers/tsan.supp:print_suppressions=0" \
    timeout "${ctest_timeout}" ctest --test-dir "${build_dir}" -j "${jobs}" --label-exclude heavy --output-on-failure --no-tests=error >"${log}" 2>&1
  rc=$?
  test_seconds=$((SECONDS - test_start))
  result=$(grep -E 'tests passed|tests failed' "${log}" | tail -1)
  report_files=("${reports}"/*)
  [[ -e "${report_files[0]}" ]] || report_files=()
  if [[ ${rc} -ne 0 ]]; then
    grep -E '^\s*[0-9]+ - .*\((Failed|Timeout|Subprocess|Exception|Not Run)' "${log}" | head -40
  fi
  for report in "${report_files[@]}"; do
    echo "=== ${report}"
    head -n 60 "${report}"
  done
  summary[${sanitizer}]="ctest exit ${rc}: ${result:-no summary (timeout?)}; ${#report_files[@]} report file(s); build ${build_seconds} s, tests ${test_seconds} s"
  [[ ${rc} -eq 0 && ${#report_files[@]} -eq 0 ]] || status=1
done
for sanitizer in "${sanitizers[@]}"; do echo "${sanitizer}: ${summary[${sanitizer}]}"; done
exit ${status}
