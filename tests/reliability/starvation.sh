#!/usr/bin/env bash
# Predictions' latency with and without a heavy recalibration client, with
# recalibration on the workers (--recalibration-threads 0, the behaviour
# before the separate pool) and on its own lower-priority pool (the
# default). Each run is bnserve-loadtest against a fresh bnserve: one
# sequential Predict client on digits and one on mlp (batch 1), and in the
# "heavy" runs HEAVY dry-run Recalibrate streams on digits (batches of 2048
# samples, 512 KiB each, as fast as they go). The four set-ups alternate,
# ROUNDS times, so that the machine's other load hits them alike; prints
# each run, then per set-up the median (min-max) of each model's Predict p99
# and calls/s, and the heavy client's samples/s. The RSS verdict is not
# what these short runs test (a 512 KiB batch in flight moves RSS by tens of
# MiB), so its threshold is set out of the way; tests/reliability/load_test.sh
# judges memory.
# Build first: cmake --build build --target bnserve bnserve-loadtest
# Usage: tests/reliability/starvation.sh [ROUNDS=3] [SECONDS=10] [HEAVY=2] [BUILD_DIR=build]
set -euo pipefail
source_dir="$(cd "$(dirname "$0")/../.." && pwd)"
rounds="${1:-3}"
seconds="${2:-10}"
heavy="${3:-2}"
build_dir="${4:-${source_dir}/build}"
work="$(mktemp -d "${TMPDIR:-/tmp}/starvation.XXXXXX")"
trap 'rm -rf "$work"' EXIT

run() {  # NAME RECALIBRATION_THREADS HEAVY_CLIENTS
  timeout $(( seconds + 300 )) "${build_dir}/tests/reliability/bnserve-loadtest" \
    --bnserve "${build_dir}/server/bnserve" --repository "${source_dir}/deploy/examples/repository" \
    --server-env "BNSERVE_RECALIBRATION_THREADS=$2" --duration "$seconds" --warmup 3 \
    --predict-models digits,mlp --predict-concurrency 1 --stats-concurrency 0 --moments-concurrency 0 \
    --recal-concurrency 0 --heavy-clients "$3" --heavy-model digits --heavy-batch 2048 --heavy-batches 50 \
    --rss-floor-mb 1024 --json-out "$work/$1.json" >"$work/$1.txt" || { cat "$work/$1.txt"; exit 1; }
}

for round in $(seq "$rounds"); do
  for setup in "shared 0 0" "shared 0 $heavy" "pool 1 0" "pool 1 $heavy"; do
    set -- $setup
    name="$1-$([ "$3" = 0 ] && echo alone || echo heavy)"
    run "$name.$round" "$2" "$3"
    echo "round $round $name: $(/usr/bin/python3 "$source_dir/tests/reliability/starvation_report.py" run "$work/$name.$round.json")"
  done
done

echo
/usr/bin/python3 "$source_dir/tests/reliability/starvation_report.py" summary "$work"
