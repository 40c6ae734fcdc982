#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang++ (-fsanitize=fuzzer,
# address) in their own build directory and runs each for a bounded time,
# starting from the committed seed corpus. Prints, per target, the
# executions run and whether it crashed; a crasher is left in
# <build>/findings/<target>/ for tests/fuzz/regressions/<target>/ once the
# product is fixed. Exits 1 if any target crashed.
#
# Usage: tests/fuzz/run_fuzzers.sh [SECONDS_PER_TARGET=60] [BUILD_DIR=build-fuzz] [JOBS=2]
set -euo pipefail

seconds="${1:-60}"
source_dir="$(cd "$(dirname "$0")/../.." && pwd)"
build_dir="${2:-${source_dir}/build-fuzz}"
jobs="${3:-2}"
targets=(fuzz_onnx_loader fuzz_npy fuzz_requests)

cmake -S "${source_dir}" -B "${build_dir}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DBNSERVE_FUZZ=ON -DBNSERVE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "${build_dir}" --target "${targets[@]}" -j "${jobs}"

status=0
for target in "${targets[@]}"; do
  work="${build_dir}/findings/${target}"
  corpus="${build_dir}/corpus/${target}"  # grows; the committed seeds stay untouched
  mkdir -p "${work}" "${corpus}"
  log="${work}/fuzz.log"
  set +e
  # -rss_limit_mb / -malloc_limit_mb: an input that makes us allocate 2 GiB
  # is a finding too (a request must not be able to claim memory it did not send).
  TMPDIR="${work}" "${build_dir}/tests/fuzz/${target}" "${corpus}" "${source_dir}/tests/fuzz/corpus/${target}" \
    -max_total_time="${seconds}" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=20 -max_len=65536 \
    -artifact_prefix="${work}/" -print_final_stats=1 >"${log}" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "${log}" | grep -o '[0-9]*$' | tail -1)
  crashes=$(find "${work}" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l)
  echo "${target}: ${execs:-?} executions in ${seconds} s, exit ${rc}, crash/oom/timeout artifacts ${crashes}"
  if [[ ${rc} -ne 0 || ${crashes} -ne 0 ]]; then
    status=1
    grep -m 5 -E 'ERROR|SUMMARY|Test unit written' "${log}" || true
  fi
done
exit ${status}
