#!/usr/bin/env bash
# What recording metrics costs the serving path: two bnserve servers over
# the same MLP, one with --metrics-listen (every call counted and timed) and
# one without, measured alternately in one run so both see the same machine:
# sequential Predict p50 (1 call in flight) and calls/s with 64 in flight.
# Prints the median (min-max) of each over the repetitions.
#
#   tests/bench/metrics_ab.sh [--reps 5] [--seconds 3] [--model tests/bench/models/mlp.onnx] [--build-dir DIR]
#
# Needs bnserve and bnserve-bench built; the MLP comes from
# tests/bench/gen_bench_models.py (compare.sh generates it). Loopback only;
# stops the servers it started on exit.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$root/build"
model="$here/models/mlp.onnx"
reps=5
seconds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps="$2"; shift ;;
    --seconds) seconds="$2"; shift ;;
    --model) model="$2"; shift ;;
    --build-dir) build="$2"; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "metrics_ab.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ -f "$model" ] || { echo "metrics_ab.sh: no model at $model (run tests/bench/gen_bench_models.py)" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/bnserve_metrics_ab.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# start NAME EXTRA_ARGS...: a server on a free port; sets port_NAME.
start() {
  local name="$1"; shift
  mkdir -p "$work/$name/mlp"
  cp "$model" "$work/$name/mlp/model.onnx"
  "$build/server/bnserve" --listen 127.0.0.1:0 --model-repository "$work/$name" --drain-seconds 0 \
    --log-level info "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do
    grep -q "event=server_started" "$work/$name.log" 2>/dev/null && break
    sleep 0.05
  done
  printf -v "port_$name" '%s' "$(grep -o 'event=server_started listen=[^ ]* port=[0-9]*' "$work/$name.log" | sed 's/.*port=//')"
}
start off
start on --metrics-listen 127.0.0.1:0

bench="$build/tests/bench/loadgen/bnserve-bench"
for rep in $(seq "$reps"); do
  for variant in off on; do
    port_var="port_$variant"
    "$bench" --server "127.0.0.1:${!port_var}" --model mlp --batch 1 --concurrency 1 --duration "$seconds" --json \
      >"$work/seq_${variant}_$rep.json"
    "$bench" --server "127.0.0.1:${!port_var}" --model mlp --batch 1 --concurrency 64 --duration "$seconds" --json \
      >"$work/c64_${variant}_$rep.json"
  done
done

/usr/bin/python3 - "$work" "$reps" <<'PY'
import json, statistics, sys
work, reps = sys.argv[1], int(sys.argv[2])
def load(kind, variant, field):
    values = []
    for rep in range(1, reps + 1):
        run = json.load(open("%s/%s_%s_%d.json" % (work, kind, variant, rep)))
        if run["errors"]:
            sys.exit("metrics_ab.sh: %s %s run %d had %d failed calls" % (kind, variant, rep, run["errors"]))
        values.append(run["latency_us"]["p50"] if field == "p50" else run["calls_per_s"])
    return "%.1f (%.1f-%.1f)" % (statistics.median(values), min(values), max(values))
print("| metrics | sequential Predict p50 µs | calls/s, 64 in flight |")
print("|---|---|---|")
for variant in ("off", "on"):
    print("| %s | %s | %s |" % (variant, load("seq", variant, "p50"), load("c64", variant, "cps")))
print("\n%d alternating repetitions per variant, median (min-max)" % reps)
PY
