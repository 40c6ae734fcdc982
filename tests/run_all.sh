#!/usr/bin/env bash
# The whole test suite from a fresh Debian bookworm machine: installs what is
# missing, builds (Release) and runs every test with ctest, then builds the
# suite again with AddressSanitizer+UBSan and runs it all once more
# (tests/run_sanitizers.sh address). Any failure, or any sanitizer report from
# a test or from a process a test started, fails the run.
#
# Why ASan+UBSan rather than also TSan in CI: one more full build is what
# the CI budget (2 cores, 90 minutes) safely affords; the Release and ASan
# stages took 37 minutes in CI, a TSan stage would add about 30. ASan+UBSan
# checks every test (memory errors, leaks at exit of every process, undefined
# behaviour in the kernels and parsers); TSan must ignore what passes through
# the uninstrumented gRPC and OpenSSL libraries (tests/sanitizers/tsan.supp),
# yet its slower scheduling is worth a run before landing threaded changes -
# tests/run_sanitizers.sh thread (it exposed Recalibrate streams cut by
# their deadline committing their first batches, since fixed).
#
# BNSERVE_SANITIZER_STAGE=0 skips the sanitizer stage (a quick local run).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BNSERVE_BUILD_DIR:-$root/build}"

# Each stage's wall time, printed at the end whether the run passes or not:
# the CI budget (docs/ci-budget.md) is kept by watching these.
stage_names=()
stage_seconds=()
stage() {  # stage NAME COMMAND...
  local start=${SECONDS} rc=0
  "${@:2}" || rc=$?
  stage_names+=("$1")
  stage_seconds+=($((SECONDS - start)))
  return ${rc}
}
print_stage_times() {
  echo "run_all stage times:"
  for i in "${!stage_names[@]}"; do printf '  %-24s %6d s\n' "${stage_names[$i]}" "${stage_seconds[$i]}"; done
  printf '  %-24s %6d s\n' total "${SECONDS}"
}
trap print_stage_times EXIT

stage "install packages" bash "$root/deploy/install-deps.sh" "$root/deploy/packages-build.txt" "$root/deploy/packages-test.txt"
# Tests and benchmarks ON explicitly: deploy/serve.sh caches them OFF in the
# same build folder, and ctest must never pass on a suite it did not build
# (--no-tests=error fails a run that finds no test).
BNSERVE_BUILD_DIR="$build" stage "release build" bash "$root/deploy/build.sh" -DBNSERVE_BUILD_TESTS=ON -DBNSERVE_BUILD_BENCHMARKS=ON
stage "release tests" ctest --test-dir "$build" --output-on-failure --parallel "$(nproc)" --timeout 900 --no-tests=error
if [ "${BNSERVE_SANITIZER_STAGE:-1}" != 0 ]; then
  # run_sanitizers.sh prints its own build/test split.
  BNSERVE_SANITIZER_BUILD_ROOT="$(dirname "$build")" stage "asan+ubsan build+tests" \
    bash "$root/tests/run_sanitizers.sh" address "$(nproc)"
fi
