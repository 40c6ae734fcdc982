#!/bin/bash
# bnserve vs ONNX Runtime, back to back on the same machine: for each model,
# batch and thread count, one latency_bench measurement then one ort_bench.js
# measurement (both: median per-run wall time over 3 s after 20 warm-up
# runs), the whole sweep repeated REPS times (default 3), so both sides see
# the same background load. Prints one JSON line per measurement, then a
# table of the medians and spreads (min-max) of the repetitions; ORT's
# figures have its binding overhead (the one-node identity model at the same
# thread count) subtracted.
#
#   tests/bench/compare.sh [REPS] [BUILD_DIR]
#
# Needs tests/bench/models (gen_bench_models.py) and tests/bench/ort/node_modules.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
reps="${1:-3}"
build="${2:-$here/../../build}"
bench="$build/tests/bench/latency_bench"
models="$here/models"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

configs=("mlp 1" "mlp 64" "cnn 1" "cnn 64" "resnet18 1" "resnet18 16")
for rep in $(seq "$reps"); do
  for threads in 1 2; do
    (cd "$here/ort" && node ort_bench.js "$models/identity.onnx" 1 "$threads" 2) | tee -a "$out"
    for config in "${configs[@]}"; do
      read -r model batch <<< "$config"
      "$bench" "$models/$model.onnx" "$batch" "$threads" 3 | tee -a "$out"
      (cd "$here/ort" && node ort_bench.js "$models/$model.onnx" "$batch" "$threads" 3) | tee -a "$out"
    done
  done
done

/usr/bin/python3 - "$out" <<'EOF'
import collections, json, os, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
overhead = collections.defaultdict(list)
times = collections.defaultdict(list)
for r in rows:
    name = os.path.basename(r["model"]).replace(".onnx", "")
    if name == "identity":
        overhead[r["threads"]].append(r["median_us"])
        continue
    times[(name, r["batch"], r["threads"], r["peer"])].append(r["median_us"])
print("\nmodel     batch threads   bnserve us (min-max)        ORT us (min-max), binding overhead removed   ratio")
for (name, batch, threads, peer), ours in sorted(times.items()):
    if peer != "bnserve":
        continue
    bind = statistics.median(overhead[threads]) if overhead[threads] else 0.0
    ort = [t - bind for t in times.get((name, batch, threads, "onnxruntime"), [])]
    if not ort:
        continue
    m_ours, m_ort = statistics.median(ours), statistics.median(ort)
    print(f"{name:9s} {batch:5d} {threads:7d}   {m_ours:9.1f} ({min(ours):.0f}-{max(ours):.0f})   "
          f"{m_ort:9.1f} ({min(ort):.0f}-{max(ort):.0f})   {m_ours / m_ort:5.2f}")
EOF
