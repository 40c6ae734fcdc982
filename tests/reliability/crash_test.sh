#!/usr/bin/env bash
# The long crash-consistency run: tests/reliability/crash_harness.cc with
# TRIALS server kills (CTest runs 30). Prints trials, crash points hit,
# commits acknowledged and failures. Build first:
#   cmake --build build --target bnserve crash_harness
# Usage: tests/reliability/crash_test.sh [TRIALS=100] [SEED=1] [BUILD_DIR=build]
set -euo pipefail
source_dir="$(cd "$(dirname "$0")/../.." && pwd)"
trials="${1:-100}"
seed="${2:-1}"
build_dir="${3:-${source_dir}/build}"
exec timeout 1800 "${build_dir}/tests/reliability/crash_harness" --bnserve "${build_dir}/server/bnserve" \
  --model "${source_dir}/tests/fixtures/torch/mlp_bn1d.onnx" --trials "${trials}" --seed "${seed}"
