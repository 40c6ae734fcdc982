#!/usr/bin/env bash
# What a server option costs the serving path: one bnserve server per
# variant over the same model, measured alternately in one run so every
# variant sees the same machine: sequential Predict p50 and p99 (1 call in
# flight) and calls/s with 64 in flight. Prints the median (min-max) of each
# over the repetitions.
#
#   tests/bench/serving_ab.sh [--reps 5] [--seconds 3] [--model FILE] [--build-dir DIR]
#                             [--variant NAME:ARGS]...
#
# Each --variant is a name and the server flags that make it, e.g.
#   --variant off: --variant metrics:"--metrics-listen 127.0.0.1:0"   (the default pair)
#   --variant off: --variant 10%:"--drift-sample-rate 0.1"            (drift monitoring, docs/drift.md)
# The model defaults to the bench MLP from tests/bench/gen_bench_models.py
# (compare.sh generates it). Needs bnserve and bnserve-bench built. Loopback
# only; stops the servers it started on exit.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$root/build"
model="$here/models/mlp.onnx"
reps=5
seconds=3
variants=()
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps="$2"; shift ;;
    --seconds) seconds="$2"; shift ;;
    --model) model="$2"; shift ;;
    --build-dir) build="$2"; shift ;;
    --variant) variants+=("$2"); shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "serving_ab.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ -f "$model" ] || { echo "serving_ab.sh: no model at $model (run tests/bench/gen_bench_models.py)" >&2; exit 2; }
[ ${#variants[@]} -gt 0 ] || variants=("off:" "metrics:--metrics-listen 127.0.0.1:0")

work="$(mktemp -d "${TMPDIR:-/tmp}/bnserve_serving_ab.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# start INDEX ARGS...: a server on a free port; sets ports[INDEX].
ports=()
start() {
  local index="$1"; shift
  mkdir -p "$work/$index/model"
  cp "$model" "$work/$index/model/model.onnx"
  "$build/server/bnserve" --listen 127.0.0.1:0 --model-repository "$work/$index" --drain-seconds 0 \
    --log-level info "$@" >"$work/$index.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do
    grep -q "event=server_started" "$work/$index.log" 2>/dev/null && break
    sleep 0.05
  done
  ports[$index]="$(grep -o 'event=server_started listen=[^ ]* port=[0-9]*' "$work/$index.log" | sed 's/.*port=//')"
}
names=()
for i in "${!variants[@]}"; do
  names+=("${variants[$i]%%:*}")
  # Word-split the flags on purpose: "--flag value" pairs.
  # shellcheck disable=SC2086
  start "$i" ${variants[$i]#*:}
done

bench="$build/tests/bench/loadgen/bnserve-bench"
for rep in $(seq "$reps"); do
  for i in "${!variants[@]}"; do
    "$bench" --server "127.0.0.1:${ports[$i]}" --model model --batch 1 --concurrency 1 --duration "$seconds" --json \
      >"$work/seq_${i}_$rep.json"
    "$bench" --server "127.0.0.1:${ports[$i]}" --model model --batch 1 --concurrency 64 --duration "$seconds" --json \
      >"$work/c64_${i}_$rep.json"
  done
done

/usr/bin/python3 - "$work" "$reps" "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" "${names[@]}" <<'PY'
import json, statistics, sys
work, reps, cpu, names = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
def load(kind, index, field):
    values = []
    for rep in range(1, reps + 1):
        run = json.load(open("%s/%s_%d_%d.json" % (work, kind, index, rep)))
        if run["errors"]:
            sys.exit("serving_ab.sh: %s %s run %d had %d failed calls" % (kind, names[index], rep, run["errors"]))
        values.append(run["calls_per_s"] if field == "cps" else run["latency_us"][field])
    return "%.1f (%.1f-%.1f)" % (statistics.median(values), min(values), max(values))
print("| variant | sequential Predict p50 µs | p99 µs | calls/s, 64 in flight |")
print("|---|---|---|---|")
for index, name in enumerate(names):
    print("| %s | %s | %s | %s |" % (name or "(none)", load("seq", index, "p50"), load("seq", index, "p99"),
                                     load("c64", index, "cps")))
print("\n%d alternating repetitions per variant, median (min-max); CPU: %s" % (reps, cpu))
PY
