#!/usr/bin/env bash
# The long load test: bnserve-loadtest (tests/reliability/load_test.cc) for
# SECONDS measured seconds (CTest runs 20) against a bnserve it spawns over
# a copy of the example repository: Predict on digits and mlp, GetBatchStats,
# Moments and racing Recalibrate streams on both models, plus the server's
# RSS every second. Prints the per-workload table and the RSS verdict; exits
# non-zero on any unexpected status or RSS growth. Extra arguments go to
# bnserve-loadtest (e.g. --heavy-clients 2, --json-out FILE).
# Build first: cmake --build build --target bnserve bnserve-loadtest
# Usage: tests/reliability/load_test.sh [SECONDS=180] [BUILD_DIR=build] [bnserve-loadtest flags...]
set -euo pipefail
source_dir="$(cd "$(dirname "$0")/../.." && pwd)"
seconds="${1:-180}"
build_dir="${2:-${source_dir}/build}"
shift $(( $# < 2 ? $# : 2 ))
exec timeout $(( seconds + 600 )) "${build_dir}/tests/reliability/bnserve-loadtest" \
  --bnserve "${build_dir}/server/bnserve" --repository "${source_dir}/deploy/examples/repository" \
  --duration "${seconds}" --warmup 10 "$@"
