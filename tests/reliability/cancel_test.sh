#!/usr/bin/env bash
# The long cancellation/deadline fuzz: tests/reliability/cancel_fuzz.cc with
# STREAMS randomized recalibration streams (CTest runs 200). Prints the
# streams by kind of cut, the commits, and partial commits (must be 0).
# Build first: cmake --build build --target bnserve cancel_fuzz
# Usage: tests/reliability/cancel_test.sh [STREAMS=1000] [SEED=1] [BUILD_DIR=build]
set -euo pipefail
source_dir="$(cd "$(dirname "$0")/../.." && pwd)"
streams="${1:-1000}"
seed="${2:-1}"
build_dir="${3:-${source_dir}/build}"
exec timeout 1800 "${build_dir}/tests/reliability/cancel_fuzz" --bnserve "${build_dir}/server/bnserve" \
  --model "${source_dir}/tests/fixtures/torch/mlp_bn1d.onnx" --streams "${streams}" --seed "${seed}"
